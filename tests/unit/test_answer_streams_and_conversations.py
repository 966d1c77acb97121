"""Streamed answers of every protocol, and MinionS on a thread (MemorySaver), with scripted models.

A follow-up question's cloud prompts carry the earlier question and answer, never the documents; the
answer streams on stream_mode="messages" as tokens tagged cloudlocal:answer whose chunks join to the
final answer, only once the verdict is final."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langgraph.checkpoint.memory import MemorySaver

from langgraph_cloudlocal.protocols.answer_stream import is_answer_token
from langgraph_cloudlocal.protocols.minions import create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel

DOC = (
    "The lighthouse keeper, Ottoline Varga, logs the weather every morning at six.\n\n"
    "The Quillfeather project has a budget of 7,300 euros, approved in March 2025.\n\n"
    "The Brightwater project has a budget of 2,100 euros, approved in May 2025."
)
SMALL = {"chunk_size": 120, "chunk_overlap": 0, "max_rounds": 2}


class StreamingScripted(ScriptedChatModel):
    """Streams each reply three characters at a time, usage on the last chunk (as OpenAI clients do)."""

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        whole = self._generate(messages, stop, run_manager, **kwargs).generations[0].message
        text = str(whole.content)
        pieces = [text[i : i + 3] for i in range(0, len(text), 3)] or [""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            chunk = AIMessageChunk(content=piece, usage_metadata=whole.usage_metadata if last else None)
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)


def plan_reply(entity: str, task: str) -> str:
    return json.dumps({"tasks": [{"entity": entity, "task": task}]})


def verdict(decision: str, answer: str = "", working: str = "", feedback: str = "") -> str:
    # the verdict's own order: the answer before the decision that makes it final
    return json.dumps({"working": working, "answer": answer, "decision": decision, "feedback": feedback})


def worker(messages: list[BaseMessage]) -> str:
    excerpt = str(messages[1].content).split("Task:")[0]
    for value in ("7,300 euros", "2,100 euros"):
        if value in excerpt:
            sentence = next(s for s in excerpt.split("\n") if value in s).strip()
            return json.dumps({"citation": sentence, "answer": value})
    return json.dumps({"citation": None, "answer": None})


class Cloud:
    def __init__(self, plans: list[str], verdicts: list[str]) -> None:
        self.plans, self.verdicts = plans, verdicts
        self.model = StreamingScripted(responder=self._respond, model_name="gpt-4o")

    def _respond(self, messages: list[BaseMessage]) -> str:
        script = self.plans if "Write at most" in str(messages[-1].content) else self.verdicts
        return script.pop(0)

    def prompts(self) -> list[str]:
        return [c["prompt"] for c in self.model.calls]


def answer_messages(
    graph: Any, inputs: dict[str, Any], config: dict[str, Any]
) -> tuple[list[list[str]], dict]:
    """The answer tokens streamed, grouped by message, and the final state."""
    groups: dict[str, list[str]] = {}
    final: dict[str, Any] = {}
    for mode, payload in graph.stream(inputs, config, stream_mode=["messages", "values"]):
        if mode == "values":
            final = payload
            continue
        chunk, metadata = payload
        if is_answer_token(metadata):
            assert metadata["langgraph_node"] == "synthesize"
            groups.setdefault(chunk.id, []).append(str(chunk.content))
    return list(groups.values()), final


def test_a_follow_up_sees_the_earlier_turn_but_never_the_documents() -> None:
    cloud = Cloud(
        plans=[
            plan_reply("Quillfeather", "budget"),
            plan_reply("Brightwater", "budget"),  # "the other project", resolved from the first turn
        ],
        verdicts=[verdict("final", "7,300 euros"), verdict("final", "2,100 euros")],
    )
    local = StreamingScripted(responder=worker, model_name="smol")
    graph = create_minions(local, cloud.model, **SMALL, checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke(
        {"question": "What is the budget of the Quillfeather project?", "documents": [DOC]}, config
    )
    assert first["answer"] == "7,300 euros"
    assert all("Earlier in this conversation" not in p for p in cloud.prompts())
    calls_before = len(cloud.prompts())

    # No documents this time: the thread keeps them, and the worker reads them again.
    second = graph.invoke({"question": "And the Brightwater project's?"}, config)
    assert second["answer"] == "2,100 euros"
    follow_up = cloud.prompts()[calls_before:]
    assert len(follow_up) == 2  # plan and verdict
    for prompt in follow_up:
        assert "User asked: What is the budget of the Quillfeather project?" in prompt
        assert "You answered: 7,300 euros" in prompt
    assert all("approved in March 2025" not in p for p in cloud.prompts())  # never the document
    assert second["history"] == [
        {"question": "What is the budget of the Quillfeather project?", "answer": "7,300 euros"},
        {"question": "And the Brightwater project's?", "answer": "2,100 euros"},
    ]
    # This turn's own decisions and usage, not added to the first turn's.
    assert second["usage"]["cloud"]["calls"] == 2
    assert second["usage"]["private_chars_to_cloud"] == 0


def test_the_answer_streams_in_pieces_that_join_to_the_final_answer() -> None:
    cloud = Cloud(
        plans=[plan_reply("Quillfeather", "budget")],
        verdicts=[verdict("final", "The Quillfeather budget is 7,300 euros.", working="7,300 euros stated")],
    )
    local = StreamingScripted(responder=worker, model_name="smol")
    graph = create_minions(local, cloud.model, **SMALL)
    groups, final = answer_messages(
        graph, {"question": "What is the budget of the Quillfeather project?", "documents": [DOC]}, {}
    )
    assert final["answer"] == "The Quillfeather budget is 7,300 euros."
    assert len(groups) == 1
    assert len(groups[0]) > 5  # token by token, not one piece
    assert "".join(groups[0]) == final["answer"]


def test_a_non_final_verdict_streams_nothing_and_the_last_round_streams_its_answer() -> None:
    cloud = Cloud(
        plans=[plan_reply("Quillfeather", "budget"), plan_reply("Quillfeather", "budget in euros")],
        verdicts=[
            verdict("another_round", "maybe 7,300", feedback="confirm the currency"),
            verdict("final", "7,300 euros"),
        ],
    )
    local = StreamingScripted(responder=worker, model_name="smol")
    groups, final = answer_messages(
        create_minions(local, cloud.model, **SMALL),
        {"question": "What is the budget of the Quillfeather project?", "documents": [DOC]},
        {},
    )
    assert [d["decision"] for d in final["decisions"]][-1] == "answer"
    assert ["".join(g) for g in groups] == ["7,300 euros"]  # "maybe 7,300" never streamed


def test_a_corrected_sum_streams_the_corrected_answer_only() -> None:
    cloud = Cloud(
        plans=[
            json.dumps(
                {
                    "tasks": [
                        {"entity": "Quillfeather", "task": "budget"},
                        {"entity": "Brightwater", "task": "budget"},
                    ]
                }
            )
        ],
        verdicts=[verdict("final", "9,300 euros", working="7300 + 2100 = 9300")],
    )
    local = StreamingScripted(responder=worker, model_name="smol")
    groups, final = answer_messages(
        create_minions(local, cloud.model, **SMALL),
        {"question": "What is the total budget of Quillfeather and Brightwater?", "documents": [DOC]},
        {},
    )
    assert final["answer"] == "9400"
    assert "arithmetic_corrected" in [d["decision"] for d in final["decisions"]]
    assert ["".join(g) for g in groups] == ["9400"]


def test_the_chat_model_streams_a_minions_answer_token_by_token() -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    from langgraph_cloudlocal.chat_model import CloudLocalChatModel

    cloud = Cloud(
        plans=[plan_reply("Quillfeather", "budget")],
        verdicts=[verdict("final", "The Quillfeather budget is 7,300 euros.")],
    )
    local = StreamingScripted(responder=worker, model_name="smol")
    chat = CloudLocalChatModel(local=local, cloud=cloud.model, policy="minions", protocol_settings=SMALL)
    chunks = list(chat.stream([SystemMessage(DOC), HumanMessage("What is the Quillfeather budget?")]))
    texts = [str(c.content) for c in chunks]
    assert "".join(texts) == "The Quillfeather budget is 7,300 euros."
    assert len([t for t in texts if t]) > 5  # streamed, not one piece at the end
    assert chunks[-1].response_metadata["policy"] == "minions"


def joined_answers(graph: Any, inputs: dict[str, Any]) -> tuple[list[str], dict[str, Any], set[str]]:
    groups: dict[str, list[str]] = {}
    nodes: set[str] = set()
    final: dict[str, Any] = {}
    for mode, payload in graph.stream(inputs, stream_mode=["messages", "values"]):
        if mode == "values":
            final = payload
        elif is_answer_token(payload[1]):
            groups.setdefault(payload[0].id, []).append(str(payload[0].content))
            nodes.add(payload[1]["langgraph_node"])
    return ["".join(g) for g in groups.values()], final, nodes


def test_every_protocol_streams_its_answer() -> None:
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
    from langgraph_cloudlocal.protocols.baselines import create_cloud_only, create_local_only
    from langgraph_cloudlocal.protocols.minion import create_minion

    inputs = {"question": "What is the Quillfeather budget?", "documents": [DOC]}
    answer = "The Quillfeather budget is 7,300 euros."

    minion_cloud = StreamingScripted(
        replies=[
            json.dumps({"message": "What is the Quillfeather budget?"}),
            json.dumps({"decision": "answer", "message": "", "answer": answer, "reason": "stated"}),
        ],
        model_name="gpt-4o",
    )
    minion_local = StreamingScripted(replies=["7,300 euros."], model_name="smol")
    step = {"step": "The memo states 7,300 euros.", "is_final": True, "final_answer": answer}
    cases = {
        "minion": (create_minion(minion_local, minion_cloud, max_rounds=2), {"supervisor"}),
        # every local step is doubted: the cloud writes the final step, whose answer streams
        "adaswitch": (
            create_adaswitch(
                StreamingScripted(replies=[json.dumps(step | {"final_answer": "7,000"})], model_name="smol"),
                StreamingScripted(replies=[json.dumps(step)], model_name="gpt-4o"),
                verifier="callable",
                verifier_fn=lambda q, s, a: 1.0,
                threshold=0.5,
            ),
            {"cloud_step"},
        ),
        "local-only": (
            create_local_only(StreamingScripted(replies=[f" {answer} "], model_name="smol")),
            {"answer"},
        ),
        "cloud-only": (
            create_cloud_only(
                StreamingScripted(replies=["unused"], model_name="smol"),
                StreamingScripted(replies=[answer], model_name="gpt-4o"),
            ),
            {"answer"},
        ),
    }
    for name, (graph, answer_nodes) in cases.items():
        messages, final, nodes = joined_answers(graph, inputs)
        assert final["answer"] == answer, name
        assert messages == [answer], f"{name}: {messages}"  # one answer message, joined to the answer
        assert nodes == answer_nodes, name


def test_an_adaswitch_local_answer_goes_out_only_once_verified() -> None:
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch

    step = {"step": "The memo states 7,300 euros.", "is_final": True, "final_answer": "7,300 euros"}
    graph = create_adaswitch(
        StreamingScripted(replies=[json.dumps(step)], model_name="smol"),
        StreamingScripted(replies=["{}"], model_name="gpt-4o"),
        verifier="callable",
        verifier_fn=lambda q, s, a: 0.0,  # trusted: no escalation
        threshold=0.5,
    )
    messages, final, nodes = joined_answers(graph, {"question": "Budget?", "documents": [DOC]})
    assert final["answer"] == "7,300 euros" and messages == ["7,300 euros"] and nodes == {"verify"}
