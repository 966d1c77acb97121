"""Minion with scripted models: every branch of the supervisor/worker loop."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_cloudlocal.calls import ModelCallError
from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.protocols.minion import MinionSettings, build_minion, create_minion
from langgraph_cloudlocal.testing import ScriptedChatModel

DOC = "Memo. The Quillfeather project, led by Ottoline Varga, has a budget of 7,300 euros for 2025."
QUESTION = "What is the budget of the Quillfeather project?"


def ask(message: str) -> str:
    return json.dumps({"message": message})


def turn(decision: str, *, message: str = "", answer: str = "", reason: str = "") -> str:
    return json.dumps({"decision": decision, "message": message, "answer": answer, "reason": reason})


def kinds(out: dict[str, Any]) -> list[str]:
    return [d["decision"] for d in out["decisions"]]


def run(cloud_replies: list[str], local_replies: list[str], **settings: Any) -> tuple[dict, Any, Any]:
    cloud = ScriptedChatModel(replies=cloud_replies, model_name="gpt-4o")
    local = ScriptedChatModel(replies=local_replies, model_name="smol")
    graph = create_minion(local, cloud, **settings)
    out = graph.invoke({"question": QUESTION, "documents": [DOC]})
    return out, cloud, local


def test_final_answer_in_round_one() -> None:
    out, cloud, local = run(
        [ask("What budget does the memo give?"), turn("answer", answer="7,300 euros", reason="stated")],
        ["The budget is 7,300 euros."],
    )
    assert out["answer"] == "7,300 euros"
    assert kinds(out) == ["ask", "answer"]
    assert out["decisions"][1]["reason"] == "stated"
    assert [t["role"] for t in out["transcript"]] == ["cloud", "local"]
    usage = out["usage"]
    assert usage["cloud"]["calls"] == 2 and usage["local"]["calls"] == 1
    assert usage["private_chars_to_cloud"] == 0
    # The cloud never sees the document; the local model sees it first, then the question.
    assert all("Ottoline" not in c["prompt"] for c in cloud.calls)
    prompt = local.calls[0]["prompt"]
    assert prompt.index("Ottoline") < prompt.index("What budget does the memo give?")
    # The cloud calls ask for JSON-schema constrained output (max_tokens bound for unknown clients).
    assert cloud.calls[0]["kwargs"].get("max_tokens") == MinionSettings().cloud_max_tokens


def test_another_round_carries_the_conversation() -> None:
    out, cloud, local = run(
        [
            ask("Who leads the project?"),
            turn("ask", message="And what is its budget?", reason="need the budget"),
            turn("answer", answer="7,300 euros"),
        ],
        ["Ottoline Varga.", "7,300 euros."],
    )
    assert kinds(out) == ["ask", "another_round", "answer"]
    assert out["decisions"][1]["reason"] == "need the budget"
    assert out["answer"] == "7,300 euros"
    # The worker's second prompt holds the first exchange; the cloud's third prompt holds both.
    second = local.calls[1]["prompt"]
    assert "Who leads the project?" in second and "Ottoline Varga." in second
    assert "And what is its budget?" in second
    assert "Ottoline Varga." in cloud.calls[2]["prompt"] and "7,300 euros." in cloud.calls[2]["prompt"]
    assert [t["round"] for t in out["transcript"]] == [1, 1, 2, 2]


def test_last_round_must_answer() -> None:
    out, cloud, _ = run(
        [ask("Budget?"), json.dumps({"answer": "7,300 euros", "reason": "the assistant said so"})],
        ["7,300 euros."],
        max_rounds=1,
    )
    assert kinds(out) == ["ask", "forced_answer"]
    assert out["answer"] == "7,300 euros"
    assert "No more questions" in cloud.calls[1]["prompt"]


def test_round_cap_per_run_context() -> None:
    cloud = ScriptedChatModel(
        replies=[ask("Budget?"), json.dumps({"answer": "7,300", "reason": ""})], model_name="gpt-4o"
    )
    local = ScriptedChatModel(replies=["7,300 euros."], model_name="smol")
    graph = create_minion(local, cloud)  # default max_rounds=3
    out = graph.invoke({"question": QUESTION, "documents": [DOC]}, context={"max_rounds": 1})
    assert kinds(out) == ["ask", "forced_answer"]


def test_unreadable_final_falls_back_to_the_local_reply() -> None:
    out, _, _ = run(
        [ask("Budget?"), "no json at all"], ["It is 7,300 euros."], max_rounds=1, structured_retries=0
    )
    assert out["answer"] == "It is 7,300 euros."
    assert kinds(out) == ["ask", "forced_answer"]
    assert "could not be read" in out["decisions"][-1]["reason"]
    assert out["usage"]["cloud"]["failed_calls"] == 1


def test_malformed_json_is_repaired_or_retried() -> None:
    out, cloud, _ = run(
        [
            "Sure! ```json\n{'message': 'What is the budget?',}\n```",  # repaired by the tolerant parser
            "I think I know it now",  # no JSON: asked again with the error
            '{"decision": "answer", "answer": "7,300 euros", "reason": "ok",',  # truncated: closed
        ],
        ["7,300 euros."],
    )
    assert out["answer"] == "7,300 euros"
    assert kinds(out) == ["ask", "answer"]
    assert out["usage"]["cloud"]["calls"] == 3 and out["usage"]["cloud"]["failed_calls"] == 0
    assert "could not be used" in cloud.calls[2]["prompt"]


def test_unreadable_first_message_passes_the_question_on() -> None:
    out, _, local = run(["???", turn("answer", answer="7,300")], ["7,300 euros."], structured_retries=0)
    assert QUESTION in local.calls[0]["prompt"]
    assert "could not be read" in out["decisions"][0]["reason"]
    assert out["answer"] == "7,300"


def test_budget_stop_lets_the_local_model_answer() -> None:
    out, cloud, local = run(
        [ask("Budget?"), turn("answer", answer="never reached")],
        ["7,300 euros.", "The budget is 7,300 euros."],
        max_cloud_calls=1,
    )
    assert len(cloud.calls) == 1
    assert kinds(out) == ["ask", "budget_stop", "local_answer"]
    assert out["answer"] == "The budget is 7,300 euros."
    assert f"Question: {QUESTION}" in local.calls[1]["prompt"]
    assert out["usage"]["cloud"]["calls"] == 1 and out["usage"]["local"]["calls"] == 2


def test_no_cloud_budget_at_all() -> None:
    out, cloud, local = run([], ["7,300 euros."], max_cloud_calls=0)
    assert cloud.calls == [] and len(local.calls) == 1
    assert kinds(out) == ["budget_stop", "local_answer"]
    assert out["usage"]["cloud"]["calls"] == 0 and out["answer"] == "7,300 euros."


def test_quotes_relayed_to_the_cloud_are_measured() -> None:
    quote = "The Quillfeather project, led by Ottoline Varga, has a budget of 7,300 euros"
    out, _, _ = run([ask("Quote the memo."), turn("answer", answer="7,300 euros")], [f'It says: "{quote}".'])
    usage = out["usage"]
    assert usage["private_chars_to_cloud"] == len(quote)  # measured from the cloud requests
    assert usage["quoted_chars_to_cloud"] >= len(quote)
    # DOC's values: Ottoline Varga, 7,300, 2025; the quote carries the first two
    assert (usage["sensitive_values_to_cloud"], usage["sensitive_values_total"]) == (2, 3)


def test_bad_input_fails_before_any_call() -> None:
    cloud = ScriptedChatModel(replies=[ask("x")], model_name="gpt-4o")
    local = ScriptedChatModel(replies=["y"], model_name="smol")
    graph = create_minion(local, cloud)
    with pytest.raises(InputError):
        graph.invoke({"question": QUESTION, "documents": []})
    with pytest.raises(InputError):
        graph.invoke({"question": " ", "documents": [DOC]})
    assert cloud.calls == [] and local.calls == []
    with pytest.raises(InputError):
        create_minion(local, cloud, max_rounds=0)
    with pytest.raises(InputError):
        create_minion(local, cloud, no_such_setting=1)


def test_unreachable_local_model_raises_after_node_retries() -> None:
    cloud = ScriptedChatModel(replies=[ask("Budget?")], model_name="gpt-4o")
    local = ScriptedChatModel(error=ConnectionRefusedError("refused"), model_name="smol")
    graph = create_minion(local, cloud)
    with pytest.raises(ModelCallError):
        graph.invoke({"question": QUESTION, "documents": [DOC]})


def test_builder_twin_and_name() -> None:
    cloud = ScriptedChatModel(replies=[ask("x")], model_name="gpt-4o")
    local = ScriptedChatModel(replies=["y"], model_name="smol")
    builder = build_minion(local, cloud)
    assert set(builder.nodes) == {"start", "supervisor", "worker"}
    assert create_minion(local, cloud).name == "minion"
    assert create_minion(local, cloud, name="reader").name == "reader"


class ParentState(TypedDict, total=False):
    question: str
    documents: list[str]
    answer: str
    report: str


def test_minion_as_a_node_of_a_parent_graph() -> None:
    cloud = ScriptedChatModel(
        replies=[ask("Budget?"), turn("answer", answer="7,300 euros")], model_name="gpt-4o"
    )
    local = ScriptedChatModel(replies=["7,300 euros."], model_name="smol")
    sub = create_minion(local, cloud)

    def load(state: ParentState) -> dict:
        return {"documents": [DOC]}

    def report(state: ParentState) -> dict:
        return {"report": f"Answer: {state['answer']}"}

    parent = StateGraph(ParentState)
    parent.add_node("load", load)
    parent.add_node("minion", sub)
    parent.add_node("report", report)
    parent.add_edge(START, "load")
    parent.add_edge("load", "minion")
    parent.add_edge("minion", "report")
    parent.add_edge("report", END)
    out = parent.compile().invoke({"question": QUESTION})
    assert out["report"] == "Answer: 7,300 euros"


async def test_async_and_subgraph_streaming() -> None:
    cloud = ScriptedChatModel(
        replies=[ask("Budget?"), turn("answer", answer="7,300 euros")], model_name="gpt-4o"
    )
    local = ScriptedChatModel(replies=["7,300 euros."], model_name="smol")
    graph = create_minion(local, cloud)
    out = await graph.ainvoke({"question": QUESTION, "documents": [DOC]})
    assert out["answer"] == "7,300 euros"

    cloud2 = ScriptedChatModel(
        replies=[ask("Budget?"), turn("answer", answer="7,300 euros")], model_name="gpt-4o"
    )
    local2 = ScriptedChatModel(replies=["7,300 euros."], model_name="smol")
    parent = StateGraph(ParentState)
    parent.add_node("minion", create_minion(local2, cloud2))
    parent.add_edge(START, "minion")
    events = [
        (ns, mode, data)
        async for ns, mode, data in parent.compile().astream(
            {"question": QUESTION, "documents": [DOC]}, stream_mode=["updates", "custom"], subgraphs=True
        )
    ]
    inner_nodes = [next(iter(data)) for ns, mode, data in events if ns and mode == "updates"]
    assert inner_nodes == ["start", "supervisor", "worker", "supervisor"]
    custom = [data for ns, mode, data in events if mode == "custom"]
    assert [c["decision"] for c in custom if c["type"] == "cloudlocal.decision"] == ["ask", "answer"]
    assert any(c["type"] == "cloudlocal.progress" for c in custom)
