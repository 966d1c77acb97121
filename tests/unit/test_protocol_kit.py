"""The protocol kit (protocols/common.py): the budget check on the messages about to be sent, the decision
helper, one start per run (settings and input validated once, per-run keys reset), and
``checkpointer=`` / ``name=`` on every ``create_*``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from typing_extensions import TypedDict

from langgraph_cloudlocal.decisions import DECISION_EVENT
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.ledger import PriceTable
from langgraph_cloudlocal.protocols import adaswitch, baselines, minion
from langgraph_cloudlocal.protocols.common import (
    SETTINGS_KEY,
    InputError,
    ModelRoles,
    RunSettings,
    RunStateError,
    begin_run,
    budget_refusal,
    decide,
    prompt_text,
    run_settings,
    settings_state,
)
from langgraph_cloudlocal.testing import ScriptedChatModel

DOC = "Memo. The Quillfeather project, led by Ottoline Varga, has a budget of 7,300 euros for 2025."


def roles() -> ModelRoles:
    return ModelRoles(
        ScriptedChatModel(replies=["local"], model_name="smol"),
        ScriptedChatModel(replies=["cloud"], model_name="gpt-4o"),
    )


# --------------------------------------------------------------------------------------------------
# The budget check takes the messages


def test_budget_check_counts_the_messages_about_to_be_sent() -> None:
    cloud = roles().cloud
    messages = [SystemMessage("s" * 40), HumanMessage("h" * 359)]  # 40 + 1 + 359 chars: 100 tokens
    assert prompt_text(messages) == "s" * 40 + "\n" + "h" * 359
    spent = {"cloud": {"calls": 1, "input_tokens": 150, "output_tokens": 50}}
    # 200 spent + ~100 for these messages: a cap of 300 still allows the call, 299 refuses it
    assert budget_refusal(spent, RunSettings(max_cloud_tokens=300), cloud, PriceTable(), messages) is None
    reason = budget_refusal(spent, RunSettings(max_cloud_tokens=299), cloud, PriceTable(), messages)
    assert reason == "cloud token cap: 200 spent + ~100 for the next prompt > 299"
    # the text form (MinionS still passes it) counts the same
    assert (
        budget_refusal(spent, RunSettings(max_cloud_tokens=299), cloud, PriceTable(), prompt_text(messages))
        == reason
    )


def test_budget_check_without_caps_and_with_a_call_cap() -> None:
    cloud = roles().cloud
    huge = [HumanMessage("x" * 1_000_000)]
    assert budget_refusal({}, RunSettings(), cloud, PriceTable(), huge) is None
    assert "call cap" in (budget_refusal({}, RunSettings(max_cloud_calls=0), cloud, PriceTable(), []) or "")


# --------------------------------------------------------------------------------------------------
# The decision helper


def test_decide_builds_the_decision() -> None:
    made = decide("adaswitch", "verify", "escalate", "doubtful", step=2, score=0.9, threshold=0.5, tokens=7)
    assert {k: v for k, v in made.items() if k != "at"} == {
        "protocol": "adaswitch",
        "node": "verify",
        "step": 2,
        "decision": "escalate",
        "reason": "doubtful",
        "score": 0.9,
        "threshold": 0.5,
        "tokens": 7,
    }
    assert isinstance(made["at"], float)


class _Tiny(TypedDict, total=False):
    decisions: list


def test_decide_inside_a_graph_reaches_the_custom_stream() -> None:
    def node(state: _Tiny) -> dict[str, Any]:
        return {"decisions": [decide("toy", "node", "answer", "because", step=1)]}

    builder = StateGraph(_Tiny)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    events = list(builder.compile().stream({}, stream_mode="custom"))
    assert [(e["type"], e["decision"], e["protocol"]) for e in events] == [(DECISION_EVENT, "answer", "toy")]


# --------------------------------------------------------------------------------------------------
# One start per run


def test_begin_run_validates_once_and_resets() -> None:
    settings, update = begin_run(
        {"question": "  Budget? ", "documents": DOC, "ledger": {"cloud": {"calls": 3}}},
        {"max_cloud_calls": 2},
        minion.MinionSettings,
        documents_required=True,
        reset={"round": 0},
    )
    assert settings.max_cloud_calls == 2
    assert update["question"] == "Budget?" and update["documents"] == [DOC] and update["round"] == 0
    assert isinstance(update["ledger"], Overwrite) and update["ledger"].value == {}
    assert isinstance(update["decisions"], Overwrite) and update["decisions"].value == []
    assert json.loads(json.dumps(update[SETTINGS_KEY])) == update[SETTINGS_KEY]  # checkpointer-safe values
    assert run_settings(update, minion.MinionSettings) == settings
    with pytest.raises(InputError, match="max_rounds"):
        begin_run(
            {"question": "q", "documents": [DOC]},
            {"max_rounds": 0},
            minion.MinionSettings,
            documents_required=True,
        )
    with pytest.raises(InputError, match="at least one document"):
        begin_run({"question": "q"}, None, minion.MinionSettings, documents_required=True)


def test_a_node_without_the_start_fails_clearly() -> None:
    with pytest.raises(RunStateError, match="start node") as info:
        run_settings({"question": "q"}, RunSettings)
    assert isinstance(info.value, CloudLocalError)


def test_settings_are_validated_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, every node validated the context again (each round of Minion: twice)."""
    cloud = ScriptedChatModel(
        replies=[
            json.dumps({"message": "Who leads it?"}),
            json.dumps({"decision": "ask", "message": "And the budget?", "answer": "", "reason": ""}),
            json.dumps({"decision": "answer", "message": "", "answer": "7,300 euros", "reason": ""}),
        ],
        model_name="gpt-4o",
    )
    local = ScriptedChatModel(replies=["Ottoline Varga.", "7,300 euros."], model_name="smol")
    graph = minion.create_minion(local, cloud)
    calls: list[int] = []
    original = minion.MinionSettings.validate

    def counting(self: minion.MinionSettings) -> None:
        calls.append(1)
        original(self)

    monkeypatch.setattr(minion.MinionSettings, "validate", counting)
    out = graph.invoke({"question": "Budget?", "documents": [DOC]}, context={"max_rounds": 3})
    assert [d["decision"] for d in out["decisions"]] == ["ask", "another_round", "answer"]  # 5 node runs
    assert len(calls) == 1


# --------------------------------------------------------------------------------------------------
# checkpointer= and name= on every create_*

STEP = json.dumps({"step": "7,300 euros is the budget.", "is_final": True, "final_answer": "7,300 euros"})


def _minion(**kw: Any) -> Any:
    cloud = ScriptedChatModel(
        responder=lambda m: json.dumps(
            {"message": "Budget?"}
            if "first question" in m[-1].text
            else {"decision": "answer", "message": "", "answer": "7,300 euros", "reason": ""}
        ),
        model_name="gpt-4o",
    )
    return minion.create_minion(
        ScriptedChatModel(responder=lambda m: "7,300 euros.", model_name="smol"), cloud, **kw
    )


FACTORIES = {
    "minion": _minion,
    "adaswitch": lambda **kw: adaswitch.create_adaswitch(
        ScriptedChatModel(responder=lambda m: STEP, model_name="smol"),
        ScriptedChatModel(responder=lambda m: STEP, model_name="gpt-4o"),
        **kw,
    ),
    "local_only": lambda **kw: baselines.create_local_only(
        ScriptedChatModel(responder=lambda m: "7,300 euros", model_name="smol"), **kw
    ),
    "cloud_only": lambda **kw: baselines.create_cloud_only(
        ScriptedChatModel(responder=lambda m: "?", model_name="smol"),
        ScriptedChatModel(responder=lambda m: "7,300 euros", model_name="gpt-4o"),
        **kw,
    ),
}


@pytest.mark.parametrize("protocol", sorted(FACTORIES))
def test_checkpointer_keeps_state_on_a_thread_and_name_names_the_graph(protocol: str) -> None:
    saver = MemorySaver()
    graph = FACTORIES[protocol](checkpointer=saver, name=f"my_{protocol}")
    assert graph.name == f"my_{protocol}" and graph.checkpointer is saver
    config = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"question": "What is the budget?", "documents": [DOC]}, config)
    assert first["answer"] == "7,300 euros"
    kept = graph.get_state(config).values
    assert kept["question"] == "What is the budget?" and kept["documents"] == [DOC]
    assert kept["answer"] == "7,300 euros" and kept[SETTINGS_KEY]["max_cloud_calls"] is None
    # A second run on the thread: the documents stay, the usage and decisions are this run's own.
    second = graph.invoke({"question": "And the budget, again?"}, config)
    assert second["answer"] == "7,300 euros"
    assert second["usage"]["local"]["calls"] == first["usage"]["local"]["calls"]
    assert len(second["decisions"]) == len(first["decisions"])
    assert graph.get_state({"configurable": {"thread_id": "other"}}).values == {}
    # Without one, a graph has no checkpointer of its own (as a subgraph it uses its parent's).
    assert FACTORIES[protocol]().checkpointer is None


# --------------------------------------------------------------------------------------------------
# Nodes called alone


def adaswitch_nodes(verifier_fn: Any = None, **settings: Any) -> tuple[adaswitch.AdaSwitchNodes, dict]:
    cloud = ScriptedChatModel(responder=lambda m: STEP, model_name="gpt-4o")
    local = ScriptedChatModel(responder=lambda m: STEP, model_name="smol")
    nodes = adaswitch.AdaSwitchNodes(ModelRoles(local, cloud), adaswitch.AdaSwitchSettings, verifier_fn)
    state = {
        "question": "Natalia sold 48 clips in April and half as many in May. How many in all?",
        "documents": [],
        "steps": [],
        "draft": {"text": "May: 48 / 2 = 24.", "is_final": False, "final_answer": ""},
        "ledger": {},
        **settings_state(adaswitch.AdaSwitchSettings(**settings)),
    }
    return nodes, state


@pytest.mark.parametrize(
    ("score", "threshold", "route", "decision"),
    [
        (0.9, 0.5, "escalate", "escalate"),
        (0.5, 0.5, "continue", "accept"),
        (0.1, 0.0, "escalate", "escalate"),
    ],
)
def test_adaswitch_verify_alone_routes_on_score_and_threshold(
    score: float, threshold: float, route: str, decision: str
) -> None:
    seen: list[tuple[str, list[str], str]] = []

    def verifier(question: str, steps: list[str], step: str) -> float:
        seen.append((question, steps, step))
        return score

    nodes, state = adaswitch_nodes(verifier, verifier="callable", threshold=threshold)
    out = nodes.verify(state)
    assert seen == [(state["question"], [], "May: 48 / 2 = 24.")]
    assert out["route"] == route
    [made] = out["decisions"]
    assert (made["decision"], made["score"], made["threshold"], made["step"]) == (
        decision,
        score,
        threshold,
        1,
    )
    if route == "escalate":
        assert out["draft"]["flagged"] is True and "steps" not in out
        assert nodes.after_verify({**state, **out}) == "cloud_step"
    else:
        assert [s["author"] for s in out["steps"]] == ["local"] and out["draft"] is None
        assert nodes.after_verify({**state, **out}) == "local_step"


def test_adaswitch_verify_alone_keeps_a_doubtful_step_once_escalation_stopped() -> None:
    nodes, state = adaswitch_nodes(lambda q, s, step: 0.9, verifier="callable")
    out = nodes.verify({**state, "escalation_stopped": True})
    assert out["route"] == "continue" and out["steps"][0]["flagged"] is True
    assert "the cloud budget is spent" in out["decisions"][0]["reason"]


def test_adaswitch_verify_alone_bad_verifier_scores_malformed() -> None:
    nodes, state = adaswitch_nodes(lambda q, s, step: math.nan, verifier="callable", malformed_score=0.7)
    out = nodes.verify(state)
    assert [d["decision"] for d in out["decisions"]] == ["verifier_malformed", "escalate"]
    assert out["draft"]["score"] == 0.7


def test_adaswitch_cloud_step_alone_under_a_spent_budget_keeps_the_draft() -> None:
    nodes, state = adaswitch_nodes(verifier="arithmetic", max_cloud_calls=1)
    state["ledger"] = {"cloud": {"calls": 1, "input_tokens": 10, "output_tokens": 10}}
    state["draft"] |= {"score": 0.8, "flagged": True}
    out = nodes.cloud_step(state)
    assert [d["decision"] for d in out["decisions"]] == ["budget_stop"]
    assert out["escalation_stopped"] is True and out["steps"][0]["author"] == "local"


def test_adaswitch_cloud_step_alone_replaces_the_draft_and_finishes() -> None:
    nodes, state = adaswitch_nodes(verifier="arithmetic")
    state["draft"] |= {"score": 0.8, "flagged": True}
    out = nodes.cloud_step(state)
    [step] = out["steps"]
    assert step["author"] == "cloud" and step["replaced_local_text"] == "May: 48 / 2 = 24."
    assert out["answer"] == "7,300 euros" and out["route"] == "done"
    assert [d["decision"] for d in out["decisions"]] == ["cloud_step", "answer"]
    assert out["usage"]["cloud"]["calls"] == 1


def test_adaswitch_start_alone_needs_a_verifier_fn_for_callable() -> None:
    nodes, _ = adaswitch_nodes()
    with pytest.raises(InputError, match="verifier_fn"):
        nodes.start({"question": "q"}, Runtime(context={"verifier": "callable"}))
    update = nodes.start({"question": "q", "steps": [{"text": "old"}]}, Runtime(context={"threshold": 0.2}))
    assert update["steps"] == [] and update[SETTINGS_KEY]["threshold"] == 0.2


def minion_nodes(local_reply: str = "7,300 euros.", **settings: Any) -> tuple[minion.MinionNodes, dict, Any]:
    local = ScriptedChatModel(replies=[local_reply], model_name="smol")
    cloud = ScriptedChatModel(replies=[json.dumps({"message": "What is the budget?"})], model_name="gpt-4o")
    nodes = minion.MinionNodes(ModelRoles(local, cloud), minion.MinionSettings)
    state = {
        "question": "What is the budget?",
        "documents": [DOC],
        "transcript": [],
        "round": 0,
        "ledger": {},
        **settings_state(minion.MinionSettings(**settings)),
    }
    return nodes, state, local


def test_minion_worker_alone_answers_the_latest_message_from_the_documents() -> None:
    nodes, state, local = minion_nodes()
    state["transcript"] = [{"role": "cloud", "round": 1, "text": "Quote the budget line."}]
    out = nodes.worker(state)
    assert out["transcript"] == [{"role": "local", "round": 1, "text": "7,300 euros."}]
    assert out["round"] == 1 and out["ledger"]["local"]["calls"] == 1 and "answer" not in out
    prompt = local.calls[0]["prompt"]
    assert prompt.index("Ottoline") < prompt.index("Quote the budget line.")
    assert nodes.after_worker({**state, **out}) == "supervisor"


def test_minion_worker_alone_after_a_budget_stop_gives_the_answer() -> None:
    nodes, state, _ = minion_nodes("The budget is 7,300 euros.")
    state |= {"transcript": [{"role": "user", "round": 1, "text": state["question"]}], "local_final": True}
    out = nodes.worker(state)
    assert out["answer"] == "The budget is 7,300 euros." and out["done"] is True
    assert [d["decision"] for d in out["decisions"]] == ["local_answer"]
    assert out["history"] == [{"question": "What is the budget?", "answer": "The budget is 7,300 euros."}]
    assert out["usage"]["local"]["calls"] == 1 and out["usage"]["cloud"]["calls"] == 0


def test_minion_supervisor_alone_asks_first_or_stops_on_the_budget() -> None:
    nodes, state, _ = minion_nodes()
    out = nodes.supervisor(state)
    assert out["transcript"] == [{"role": "cloud", "round": 1, "text": "What is the budget?"}]
    assert [d["decision"] for d in out["decisions"]] == ["ask"]
    assert nodes.after_supervisor({**state, **out}) == "worker"
    nodes, state, _ = minion_nodes(max_cloud_calls=0)
    out = nodes.supervisor(state)
    assert out["local_final"] is True and [d["decision"] for d in out["decisions"]] == ["budget_stop"]
    assert out["transcript"][0]["role"] == "user"


def test_baseline_answer_alone() -> None:
    roles_ = ModelRoles(
        ScriptedChatModel(replies=["local"], model_name="smol"),
        ScriptedChatModel(replies=["Paris"], model_name="gpt-4o"),
    )
    nodes = baselines.SingleModelNodes("cloud", roles_, baselines.BaselineSettings)
    state = {"question": "Capital?", "documents": ["Paris is the capital."], "ledger": {}}
    out = nodes.answer({**state, **settings_state(baselines.BaselineSettings())})
    assert out["answer"] == "Paris" and [d["decision"] for d in out["decisions"]] == ["use_cloud"]
    out = nodes.answer({**state, **settings_state(baselines.BaselineSettings(max_cloud_calls=0))})
    assert out["answer"] == "local"
    assert [d["decision"] for d in out["decisions"]] == ["budget_stop", "use_local"]


def test_prompt_text_joins_the_message_texts() -> None:
    # prompt_text joins message texts only (no role labels): what the approximation always counted
    assert prompt_text([AIMessage("ab"), HumanMessage("cd")]) == "ab\ncd"
