"""A Minion conversation on a thread (MemorySaver), with scripted models: a follow-up question's cloud
prompts carry the earlier question and answer, never the documents; each turn's usage is its own."""

from __future__ import annotations

import json

from langgraph.checkpoint.memory import MemorySaver

from langgraph_cloudlocal.protocols.minion import create_minion
from langgraph_cloudlocal.testing import ScriptedChatModel

DOC = "Memo. The Quillfeather project, led by Ottoline Varga, has a budget of 7,300 euros for 2025."


def ask(message: str) -> str:
    return json.dumps({"message": message})


def answer(text: str) -> str:
    return json.dumps({"decision": "answer", "message": "", "answer": text, "reason": "stated"})


def test_a_follow_up_sees_the_earlier_turn_but_not_the_documents() -> None:
    cloud = ScriptedChatModel(
        replies=[
            ask("Who leads the project?"),
            answer("Ottoline Varga"),
            ask("What is the budget?"),
            answer("7,300 euros"),
        ],
        model_name="gpt-4o",
    )
    local = ScriptedChatModel(replies=["Ottoline Varga leads it.", "7,300 euros."], model_name="smol")
    graph = create_minion(local, cloud, max_rounds=2).copy(update={"checkpointer": MemorySaver()})
    config = {"configurable": {"thread_id": "t1"}}

    first = graph.invoke({"question": "Who leads the Quillfeather project?", "documents": [DOC]}, config)
    assert first["answer"] == "Ottoline Varga"
    first_cloud_calls = len(cloud.calls)
    assert "Earlier in this conversation" not in cloud.calls[0]["prompt"]

    # The follow-up names no project: only the earlier turn says which one. Documents stay on the thread.
    second = graph.invoke({"question": "And what is its budget?"}, config)
    assert second["answer"] == "7,300 euros"
    follow_up_prompts = [c["prompt"] for c in cloud.calls[first_cloud_calls:]]
    assert follow_up_prompts and all(
        "User asked: Who leads the Quillfeather project?" in p for p in follow_up_prompts
    )
    assert all("You answered: Ottoline Varga" in p for p in follow_up_prompts)
    assert all("Ottoline Varga, has a budget" not in c["prompt"] for c in cloud.calls)  # never the memo
    assert DOC in local.calls[-1]["prompt"]  # the worker still reads it
    assert second["history"] == [
        {"question": "Who leads the Quillfeather project?", "answer": "Ottoline Varga"},
        {"question": "And what is its budget?", "answer": "7,300 euros"},
    ]
    # This turn's own usage and decisions (not added to the first turn's).
    assert second["usage"]["cloud"]["calls"] == 2 and second["usage"]["local"]["calls"] == 1
    assert [d["decision"] for d in second["decisions"]] == ["ask", "answer"]
    assert second["usage"]["private_chars_to_cloud"] == 0


def test_without_a_thread_there_is_no_history() -> None:
    cloud = ScriptedChatModel(replies=[ask("Who?"), answer("Ottoline Varga")], model_name="gpt-4o")
    local = ScriptedChatModel(replies=["Ottoline Varga."], model_name="smol")
    out = create_minion(local, cloud).invoke({"question": "Who leads it?", "documents": [DOC]})
    assert out["history"] == [{"question": "Who leads it?", "answer": "Ottoline Varga"}]
    assert all("Earlier in this conversation" not in c["prompt"] for c in cloud.calls)
