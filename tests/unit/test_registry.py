"""The one protocol registry: lookup, errors, what reads it, and a new protocol added with one entry."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from langgraph_cloudlocal import running
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.evaluation.registry import parse_protocol
from langgraph_cloudlocal.evaluation.results import iter_result_lines
from langgraph_cloudlocal.evaluation.runner import run_evaluation
from langgraph_cloudlocal.protocols import (
    PROTOCOLS,
    ProtocolError,
    ProtocolInfo,
    UnknownProtocolError,
    get_protocol,
    protocol_factory,
    register_protocol,
    unregister_protocol,
)
from langgraph_cloudlocal.running import check_settings, parse_settings
from langgraph_cloudlocal.testing import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]

SHOUT = ProtocolInfo(
    "shout",
    "tests.unit.toy_protocol",
    "create_shout",
    settings="ShoutSettings",
    builder="build_shout",
    roles=("local",),
    aliases=("yell",),
    description="the local model answers, in capitals",
)


@pytest.fixture
def shout() -> Iterator[ProtocolInfo]:
    register_protocol(SHOUT)
    try:
        yield SHOUT
    finally:
        unregister_protocol("shout")


def local_model() -> ScriptedChatModel:
    return ScriptedChatModel(responder=lambda messages: "the answer is yes", model_name="tiny-local")


# --------------------------------------------------------------------------------------------------
# Lookup and errors


def test_names_aliases_and_spellings_resolve_to_one_entry() -> None:
    assert list(PROTOCOLS) == ["local-only", "cloud-only", "minion", "minions", "adaswitch"]
    for spelling in ("cloud", "Cloud_Only", " cloud-only "):
        assert get_protocol(spelling).name == "cloud-only"
    assert get_protocol("minion-s").name == "minions" and get_protocol("local_only").roles == ("local",)


def test_unknown_protocol_is_one_error_type_listing_the_names() -> None:
    with pytest.raises(UnknownProtocolError) as caught:
        protocol_factory("gpt-only")
    assert isinstance(caught.value, CloudLocalError) and isinstance(caught.value, ValueError)
    assert "minions" in str(caught.value) and "adaswitch" in str(caught.value)
    with pytest.raises(UnknownProtocolError):  # the evaluation's labels raise the same type
        parse_protocol("gpt-only@0.3")


def test_a_name_or_alias_cannot_be_taken_twice() -> None:
    with pytest.raises(ProtocolError, match="already taken"):
        register_protocol(ProtocolInfo("cloud", "x", "create_x"))
    with pytest.raises(ProtocolError, match="lower case"):
        register_protocol(ProtocolInfo("My_Protocol", "x", "create_x"))


def test_every_entry_loads_and_its_settings_class_is_its_graphs_context_schema() -> None:
    local = ScriptedChatModel(replies=["x"], model_name="local")
    cloud = ScriptedChatModel(replies=["x"], model_name="cloud")
    for info in PROTOCOLS.values():
        graph = info.load_factory()(local, cloud)
        assert graph.name == info.graph_name
        settings_class = info.load_settings_class()
        assert settings_class is not None and issubclass(graph.builder.context_schema, settings_class)
        assert info.load_builder()(local, cloud).compile().get_graph().nodes
        assert info.description and info.title and info.summary


def test_langgraph_json_serves_every_registered_protocol() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert set(config["graphs"]) == {info.graph_name for info in PROTOCOLS.values()}
    for graph_id, target in config["graphs"].items():
        assert target == f"./graphs/{graph_id}.py:graph"
        source = (ROOT / "graphs" / f"{graph_id}.py").read_text()
        assert f'graph_from_environment("{get_protocol(graph_id).name}")' in source


# --------------------------------------------------------------------------------------------------
# Settings: parsed and checked once, for every entry point


def test_settings_are_parsed_and_checked_against_the_protocols_class() -> None:
    assert parse_settings(["max_rounds=2", "retrieval=false", "verifier=logprobs"]) == {
        "max_rounds": 2,
        "retrieval": False,
        "verifier": "logprobs",
    }
    with pytest.raises(ProtocolError, match="SETTING=VALUE"):
        parse_settings(["max_rounds"])
    assert check_settings("adaswitch", {"threshold": 0.3}).threshold == 0.3
    with pytest.raises(ProtocolError, match="unknown setting.*max_rounds.*local-only"):
        check_settings("local-only", {"max_rounds": 2})
    with pytest.raises(ProtocolError, match="between 0 and 1"):
        check_settings("adaswitch", {"threshold": 1.5})
    with pytest.raises(ProtocolError, match="must be a number"):
        check_settings("minions", {"max_rounds": "x"})


# --------------------------------------------------------------------------------------------------
# A new protocol: one module (tests/unit/toy_protocol.py) plus one registry entry


def test_a_registered_toy_protocol_builds_and_runs_by_name(shout: ProtocolInfo) -> None:
    graph = protocol_factory("yell")(local_model(), None)
    out = graph.invoke({"question": "Is it?", "documents": ["It is."]})
    assert out["answer"] == "THE ANSWER IS YES" and out["usage"]["local"]["calls"] == 1
    quiet = graph.invoke({"question": "Is it?"}, context={"shout": False})
    assert quiet["answer"] == "the answer is yes"
    with pytest.raises(ProtocolError, match="unknown setting"):
        check_settings("shout", {"threshold": 0.3})


def test_the_toy_protocol_runs_in_the_evaluation(shout: ProtocolInfo, tmp_path: Path) -> None:
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text(
        "\n".join(json.dumps({"id": f"q{i}", "question": "Is it?", "answer": "yes"}) for i in range(3)) + "\n"
    )
    summary = run_evaluation(
        "shout,shout@shout=false", dataset, tmp_path / "out", local_model(), None, progress=False, plot=False
    )
    assert summary.ran == 6 and summary.errors == 0
    assert summary.models["cloud"].startswith("(none")  # roles=("local",): no cloud model needed
    rows = list(iter_result_lines(tmp_path / "out" / "results.jsonl"))
    by_label = {row["protocol"]: row["prediction"] for row in rows}
    assert by_label == {"shout": "THE ANSWER IS YES", "shout@shout=false": "the answer is yes"}
    with pytest.raises(ProtocolError, match="no setting by that name"):
        run_evaluation("shout@loud=1", dataset, tmp_path / "bad", local_model(), None, progress=False)


def test_the_toy_protocol_runs_from_the_cli(shout: ProtocolInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_cloudlocal import cli

    seen: dict[str, Any] = {}

    @contextlib.contextmanager
    def fake_models(local: Any, cloud: Any, **kwargs: Any) -> Iterator[running.RunModels]:
        seen.update(kwargs)
        yield running.RunModels(local_model(), None, {"local": "tiny-local", "cloud": "(none)"})

    monkeypatch.setattr(running, "run_models", fake_models)
    result = CliRunner().invoke(
        cli.app, ["run", "-p", "shout", "-q", "Is it?", "--store", "none", "--set", "shout=false", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["answer"] == "the answer is yes" and payload["protocol"] == "shout"
    assert seen["need_local"] and not seen["need_cloud"]  # the registry's roles
    bad = CliRunner().invoke(cli.app, ["run", "-p", "shout", "-q", "x", "--set", "loud=1"])
    assert isinstance(bad.exception, ProtocolError) and "unknown setting" in str(bad.exception)
    listing = CliRunner().invoke(cli.app, ["list"])
    assert "shout (also: yell): the local model answers, in capitals" in listing.stdout
