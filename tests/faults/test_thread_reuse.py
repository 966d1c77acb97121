"""A second question on the same thread (LangGraph Server keeps threads; a checkpointed app asks follow-up
questions): the run starts afresh. Its usage counts its own calls only (the ledger is not carried over and
double counted), its decisions, jobs and transcript are its own, and its budget is its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_cloudlocal.protocols import protocol_factory
from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults import tally

DOCS = {
    "first": "The lighthouse keeper is Ottoline Varga. " * 3,
    "second": "The Quillfeather budget is 7,300 euros. " * 3,
}
QUESTIONS = {"first": "Who keeps the lighthouse?", "second": "What is the budget?"}
ANSWERS = {"first": "Ottoline Varga", "second": "7,300 euros"}


def _which(text: str) -> str:
    return "second" if ("budget" in text or "7,300" in text) else "first"


def cloud_reply(messages: list[BaseMessage]) -> str:
    text = "\n".join(str(m.content) for m in messages)
    which = _which(text)
    first_turn = str(messages[1].content)
    if "Write your first question" in first_turn:
        return json.dumps({"message": f"Tell me: {QUESTIONS[which]}"})
    if "You may ask" in first_turn or "No more questions" in first_turn:
        return json.dumps({"decision": "answer", "answer": ANSWERS[which], "message": "", "reason": "said"})
    if "Write at most" in first_turn:
        return json.dumps({"tasks": [{"task": QUESTIONS[which], "query": "", "advice": ""}]})
    if "Worker findings" in first_turn:
        return json.dumps(
            {"decision": "final", "answer": ANSWERS[which], "feedback": "", "scratchpad": "", "reason": ""}
        )
    return json.dumps({"step": ANSWERS[which], "is_final": True, "final_answer": ANSWERS[which]})


def local_reply(messages: list[BaseMessage]) -> str:
    which = _which("\n".join(str(m.content) for m in messages[-2:]))
    answer = ANSWERS[which]
    return json.dumps(
        {
            "explanation": "stated",
            "citation": None,
            "answer": answer,
            "step": answer,
            "is_final": True,
            "final_answer": answer,
            "verdict": "correct",
            "confidence": 0.9,
            "reason": "",
        }
    )


def graph_for(protocol: str, checkpointer: Any = None) -> Any:
    factory = protocol_factory(protocol)
    local = ScriptedChatModel(responder=local_reply, model_name="smol")
    cloud = ScriptedChatModel(responder=cloud_reply, model_name="gpt-4o")
    extra: dict[str, Any] = {"max_rounds": 2} if protocol in ("minion", "minions") else {}
    if protocol == "minions":
        extra |= {"chunk_size": 60, "chunk_overlap": 0}
    builder = getattr(
        __import__(factory.__module__, fromlist=["x"]), factory.__name__.replace("create_", "build_")
    )
    return builder(local, cloud, **extra).compile(checkpointer=checkpointer)


def ask(graph: Any, which: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return graph.invoke({"question": QUESTIONS[which], "documents": [DOCS[which]]}, config=config)


def comparable(out: dict[str, Any]) -> dict[str, Any]:
    usage = out["usage"]
    return {
        "answer": out["answer"],
        "local_calls": usage["local"]["calls"],
        "cloud_calls": usage["cloud"]["calls"],
        "cloud_tokens": usage["cloud_tokens"],
        "decisions": [(d["node"], d["decision"]) for d in out["decisions"]],
        "jobs": len(out.get("jobs") or []),
        "transcript": [(t["role"], t["text"]) for t in out.get("transcript") or []],
    }


@pytest.mark.parametrize(
    "protocol",
    [
        "local-only",
        "cloud-only",
        "minion",
        "minions",
        "adaswitch",
    ],
)
def test_a_second_question_on_the_same_thread_starts_afresh(protocol: str) -> None:
    alone = comparable(ask(graph_for(protocol), "second"))
    graph = graph_for(protocol, InMemorySaver())
    config = {"configurable": {"thread_id": f"reuse-{protocol}"}}
    first = ask(graph, "first", config)
    assert ANSWERS["first"] in first["answer"]
    second = comparable(ask(graph, "second", config))
    if protocol in ("minion", "minions"):
        # Minion and MinionS keep a conversation on a thread: the cloud also reads the earlier question and answer
        # (never the documents), so its prompts are longer; everything else is this run's own.
        assert second.pop("cloud_tokens") > alone.pop("cloud_tokens")
    assert second == alone  # same answer, usage, decisions, jobs and transcript as on a new thread
    tally.run_completed(3)


@pytest.mark.parametrize(
    "protocol",
    [
        "cloud-only",
        "minion",
        "minions",
    ],
)
def test_the_budget_is_per_run_not_per_thread(protocol: str) -> None:
    graph = graph_for(protocol, InMemorySaver())
    config = {"configurable": {"thread_id": f"budget-{protocol}"}}
    calls = ask(graph, "first", config)["usage"]["cloud_calls"]
    # a cap that the first run exactly fits: the second run fits it too, on its own
    out = graph.invoke(
        {"question": QUESTIONS["second"], "documents": [DOCS["second"]]},
        config=config,
        context={"max_cloud_calls": calls},
    )
    assert ANSWERS["second"] in out["answer"]
    assert "budget_stop" not in [d["decision"] for d in out["decisions"]]
