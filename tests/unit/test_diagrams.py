"""The Mermaid diagrams in docs/diagrams are drawn from the real graphs: this fails when a graph's shape
changes and its diagram was not regenerated (``python -m graphs.diagrams``)."""

from __future__ import annotations

import pytest

from graphs import diagrams
from langgraph_cloudlocal.protocols import ProtocolInfo


def test_every_diagram_matches_its_graph() -> None:
    stale = diagrams.stale_files()
    assert not stale, (
        f"out of date: {', '.join(stale)}. A graph's shape changed; run `{diagrams.UPDATE_COMMAND}` "
        "and commit docs/diagrams."
    )


def test_every_protocol_in_the_registry_has_a_diagram() -> None:
    from langgraph_cloudlocal.protocols import PROTOCOLS

    names = {info.graph_name for info in diagrams.diagrams()}
    assert {info.graph_name for info in PROTOCOLS.values()} <= names
    for info in PROTOCOLS.values():
        assert (diagrams.DIAGRAM_DIR / f"{info.graph_name}.mmd").is_file()


@pytest.mark.parametrize(
    "info", [d for d in diagrams.diagrams() if diagrams.available(d)], ids=lambda d: d.name
)
def test_diagram_shows_every_node_of_the_graph(info: ProtocolInfo) -> None:
    from langgraph_cloudlocal.testing import ScriptedChatModel

    nodes = info.load_builder()(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["x"])).nodes
    text = (diagrams.DIAGRAM_DIR / f"{info.graph_name}.mmd").read_text()
    for node in nodes:
        assert f"\t{node}(" in text, f"node {node!r} missing from {info.graph_name}.mmd"


def test_check_mode_reports_a_changed_graph(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    # Point the generator at a copy whose minion diagram lost an edge: --check must fail and say how to fix it.
    for path, text in diagrams.expected_files().items():
        (tmp_path / path.name).write_text(text)
    edited = tmp_path / "minion.mmd"
    edited.write_text(edited.read_text().replace("\tworker -.-> supervisor;\n", ""))
    monkeypatch.setattr(diagrams, "DIAGRAM_DIR", tmp_path)
    monkeypatch.setattr(diagrams, "ROOT", tmp_path.parent)
    assert diagrams.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "minion.mmd" in out and diagrams.UPDATE_COMMAND in out
