"""Tests of the app's graph with scripted models: no server, no key, no network."""

from __future__ import annotations

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph_cloudlocal.testing import ScriptedChatModel

from my_app import build_graph

SHORT = "Harborline's revenue in Q3 was 41.7 million euros."
LONG = SHORT + " " + "Nothing else of note happened that quarter. " * 80

# One JSON reply that fits every structured step of MinionS (the plan, a job, the synthesis):
# each step reads the fields it knows and ignores the rest.
MINIONS_REPLY = json.dumps(
    {
        "tasks": [{"task": "Find the Q3 revenue.", "query": "revenue Q3", "advice": "a number in euros"}],
        "explanation": "the excerpt states it",
        "citation": "revenue in Q3 was 41.7 million euros",
        "decision": "final",
        "answer": "41.7 million euros",
        "feedback": "",
        "scratchpad": "",
        "reason": "a job found the figure",
    }
)


def scripted(reply: str) -> ScriptedChatModel:
    return ScriptedChatModel(responder=lambda messages: reply)


def test_short_documents_stay_on_the_local_model() -> None:
    cloud = ScriptedChatModel(error=RuntimeError("the cloud must not be called"))
    graph = build_graph(scripted("41.7 million euros"), cloud)

    out = graph.invoke({"question": "What was Q3 revenue?", "documents": [SHORT]})

    assert out["route"] == "local_only"
    assert out["answer"] == "41.7 million euros"
    assert out["reply"].startswith("41.7 million euros") and "answered by local_only" in out["reply"]
    assert out["usage"]["cloud"]["calls"] == 0
    assert [d["decision"] for d in out["decisions"]][:1] == ["local_only"]


def test_long_documents_go_through_minions_and_stay_private() -> None:
    local, cloud = scripted(MINIONS_REPLY), scripted(MINIONS_REPLY)
    graph = build_graph(local, cloud)

    out = graph.invoke({"question": "What was Q3 revenue?", "documents": [LONG]}, context={"max_rounds": 1})

    assert out["route"] == "minions"
    assert out["answer"] == "41.7 million euros"
    assert out["usage"]["cloud"]["calls"] >= 1
    assert out["usage"]["private_chars_to_cloud"] == 0
    assert all(LONG not in call["prompt"] for call in cloud.calls)  # the cloud never read the document
    decisions = [d["decision"] for d in out["decisions"]]
    assert decisions[0] == "minions" and "answer" in decisions


def test_the_routing_threshold_is_a_run_setting() -> None:
    graph = build_graph(scripted(MINIONS_REPLY), scripted(MINIONS_REPLY))
    out = graph.invoke(
        {"question": "What was Q3 revenue?", "documents": [SHORT]},
        context={"local_only_below_chars": 10, "max_rounds": 1},
    )
    assert out["route"] == "minions"


def test_decisions_stream_live_from_the_subgraph_too() -> None:
    graph = build_graph(scripted("41.7 million euros"), scripted("unused"))
    events = [
        (namespace, payload)
        for namespace, mode, payload in graph.stream(
            {"question": "What was Q3 revenue?", "documents": [SHORT]},
            stream_mode=["custom", "values"],
            subgraphs=True,  # without it, only this graph's own events (not the protocol's) are streamed
        )
        if mode == "custom" and payload.get("type") == "cloudlocal.decision"
    ]
    assert [e["protocol"] for _, e in events] == ["my_app", "local-only"]
    assert events[1][0][0].startswith("local_only:")  # the subgraph's events carry its node's namespace


def test_runs_resume_from_a_checkpointer() -> None:
    graph = build_graph(scripted("41.7 million euros"), scripted("unused"), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"question": "What was Q3 revenue?", "documents": [SHORT]}, config)
    assert graph.get_state(config).values["route"] == "local_only"


@pytest.mark.parametrize("field", ["local_only_below_chars", "max_rounds", "max_cloud_usd", "cloud_model"])
def test_studio_shows_the_settings(field: str) -> None:
    graph = build_graph(scripted("x"), scripted("x"))
    assert field in graph.get_context_jsonschema()["properties"]
    assert "question" in graph.get_input_jsonschema()["properties"]
