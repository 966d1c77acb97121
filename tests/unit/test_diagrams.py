"""The Mermaid diagrams in docs/diagrams are drawn from the real graphs: this fails when a graph's shape
changes and its diagram was not regenerated (``python -m graphs.diagrams``)."""

from __future__ import annotations

import pytest

from graphs import diagrams


def test_every_diagram_matches_its_graph() -> None:
    stale = diagrams.stale_files()
    assert not stale, (
        f"out of date: {', '.join(stale)}. A graph's shape changed; run `{diagrams.UPDATE_COMMAND}` "
        "and commit docs/diagrams."
    )


def test_every_protocol_in_the_registry_has_a_diagram() -> None:
    from langgraph_cloudlocal.protocols import PROTOCOL_FACTORIES

    names = {d.name for d in diagrams.DIAGRAMS}
    assert {key.replace("-", "_") for key in PROTOCOL_FACTORIES} <= names


@pytest.mark.parametrize(
    "diagram", [d for d in diagrams.DIAGRAMS if diagrams.available(d)], ids=lambda d: d.name
)
def test_diagram_shows_every_node_of_the_graph(diagram: diagrams.Diagram) -> None:
    import importlib

    from langgraph_cloudlocal.testing import ScriptedChatModel

    builder = getattr(importlib.import_module(diagram.module), diagram.builder)
    nodes = builder(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["x"])).nodes
    text = (diagrams.DIAGRAM_DIR / f"{diagram.name}.mmd").read_text()
    for node in nodes:
        assert f"\t{node}(" in text, f"node {node!r} missing from {diagram.name}.mmd"


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
