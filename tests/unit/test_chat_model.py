"""CloudLocalChatModel's control flow with scripted models (no network): the cascade's routing,
verifiers, budgets, tools, streaming, structured output, and the protocol policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import BaseModel

from langgraph_cloudlocal.chat_model import CloudLocalChatModel
from langgraph_cloudlocal.decisions import DECISION_EVENT
from langgraph_cloudlocal.ledger import Budget
from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.testing import ScriptedChatModel


def _last_text(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


def verdict(kind: str, confidence: float) -> str:
    return json.dumps({"verdict": kind, "confidence": confidence, "reason": "checked"})


def local_model(answer: str = "local answer", verdict_json: str | None = None) -> ScriptedChatModel:
    """Answers ``answer``, and a verdict to the self-reflection prompt."""

    def respond(messages: list[BaseMessage]) -> str:
        if "Reply to check" in _last_text(messages):
            return verdict_json or verdict("correct", 0.9)
        return answer

    return ScriptedChatModel(responder=respond, model_name="local-scripted")


def cloud_model(answer: str = "cloud answer") -> ScriptedChatModel:
    return ScriptedChatModel(replies=[answer], model_name="gpt-4o")


def cascade(local: Any, cloud: Any, **kwargs: Any) -> CloudLocalChatModel:
    return CloudLocalChatModel(local=local, cloud=cloud, **kwargs)


QUESTION = [HumanMessage("What is 2 + 2?")]


# --------------------------------------------------------------------------------------------------
# Routing


def test_a_confident_local_answer_is_kept_and_the_cloud_is_not_called() -> None:
    local, cloud = local_model(), cloud_model()
    chat = cascade(local, cloud, verifier="callable", verifier_fn=lambda q, s, a: 0.1, threshold=0.5)
    message = chat.invoke(QUESTION)
    assert message.content == "local answer"
    meta = message.response_metadata
    assert meta["answered_by"] == "local" and meta["policy"] == "cascade"
    assert [d["decision"] for d in meta["decisions"]] == ["accept"]
    assert meta["decisions"][0]["score"] == 0.1 and meta["decisions"][0]["threshold"] == 0.5
    assert cloud.calls == [] and meta["usage"]["cloud_calls"] == 0
    local_usage = meta["usage"]["local"]
    assert local_usage["calls"] == 1
    assert message.usage_metadata["input_tokens"] == local_usage["input_tokens"]
    assert message.usage_metadata["output_tokens"] == local_usage["output_tokens"]


def test_a_doubtful_local_answer_goes_to_the_cloud_with_the_conversation_counted() -> None:
    local, cloud = local_model(), cloud_model()
    chat = cascade(local, cloud, verifier="callable", verifier_fn=lambda q, s, a: 0.9)
    message = chat.invoke(QUESTION)
    assert message.content == "cloud answer"
    meta = message.response_metadata
    assert meta["answered_by"] == "cloud"
    assert [d["decision"] for d in meta["decisions"]] == ["escalate"]
    assert len(cloud.calls) == 1 and "What is 2 + 2?" in cloud.calls[0]["prompt"]
    usage = meta["usage"]
    assert usage["cloud_calls"] == 1 and usage["local"]["calls"] == 1
    assert usage["cloud_cost_usd"] > 0
    assert usage["private_chars_to_cloud"] == len("What is 2 + 2?")
    both = usage["local"]["input_tokens"] + usage["cloud"]["input_tokens"]
    assert message.usage_metadata["input_tokens"] == both


def test_self_reflection_scores_the_answer_with_a_second_local_call() -> None:
    wrong = cascade(local_model(verdict_json=verdict("wrong", 0.8)), cloud_model(), threshold=0.5)
    message = wrong.invoke(QUESTION)
    decision = message.response_metadata["decisions"][-1]
    assert decision["decision"] == "escalate" and decision["score"] == pytest.approx(0.8)
    assert message.response_metadata["usage"]["local"]["calls"] == 2  # draft + verdict
    right = cascade(local_model(verdict_json=verdict("correct", 0.8)), cloud_model(), threshold=0.5)
    decision = right.invoke(QUESTION).response_metadata["decisions"][-1]
    assert decision["decision"] == "accept" and decision["score"] == pytest.approx(0.2)


def test_an_unreadable_verdict_scores_malformed_and_escalates() -> None:
    chat = cascade(local_model(verdict_json="no idea"), cloud_model(), structured_retries=0)
    meta = chat.invoke(QUESTION).response_metadata
    assert [d["decision"] for d in meta["decisions"]] == ["verifier_malformed", "escalate"]
    assert meta["answered_by"] == "cloud"


def test_logprob_verifier_reads_the_drafts_token_logprobs() -> None:
    local = ScriptedChatModel(replies=["four"], logprob=-0.01)
    chat = cascade(local, cloud_model(), verifier="logprobs", threshold=0.5)
    meta = chat.invoke(QUESTION).response_metadata
    assert meta["decisions"][-1]["decision"] == "accept"
    assert meta["decisions"][-1]["score"] == pytest.approx(1 - 2.718281828 ** (-0.01), abs=1e-6)
    assert local.calls[0]["kwargs"].get("max_tokens") == 512  # unknown clients get only an output limit


def test_a_per_call_threshold_overrides_the_instance() -> None:
    chat = cascade(local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.4)
    assert chat.invoke(QUESTION).response_metadata["answered_by"] == "local"
    assert chat.invoke(QUESTION, threshold=0.3).response_metadata["answered_by"] == "cloud"


# --------------------------------------------------------------------------------------------------
# Budgets


def test_a_call_budget_keeps_the_local_answer() -> None:
    cloud = cloud_model()
    chat = cascade(local_model(), cloud, verifier="callable", verifier_fn=lambda q, s, a: 1.0)
    message = chat.invoke(QUESTION, max_cloud_calls=0)
    meta = message.response_metadata
    assert message.content == "local answer" and meta["answered_by"] == "local"
    assert [d["decision"] for d in meta["decisions"]] == ["budget_stop", "accept"]
    assert "call budget" in meta["decisions"][0]["reason"]
    assert cloud.calls == []


def test_the_instance_budget_spans_calls() -> None:
    cloud = ScriptedChatModel(replies=["cloud answer"] * 3, model_name="gpt-4o")
    chat = cascade(
        local_model(),
        cloud,
        verifier="callable",
        verifier_fn=lambda q, s, a: 1.0,
        budget=Budget(max_cloud_calls=1),
    )
    first = chat.invoke(QUESTION).response_metadata
    second = chat.invoke(QUESTION).response_metadata
    assert first["answered_by"] == "cloud" and second["answered_by"] == "local"
    assert "instance budget" in second["decisions"][0]["reason"]
    assert len(cloud.calls) == 1
    total = chat.usage_so_far()
    assert total["cloud_calls"] == 1 and total["local"]["calls"] == 2


def test_bound_budget_applies_through_bind() -> None:
    chat = cascade(local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 1.0)
    meta = chat.bind(max_cloud_usd=0.0).invoke(QUESTION).response_metadata
    assert meta["answered_by"] == "local" and meta["decisions"][0]["decision"] == "budget_stop"


# --------------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_fails_before_any_model_call() -> None:
    local, cloud = local_model(), cloud_model()
    chat = cascade(local, cloud)
    with pytest.raises(InputError, match="non-empty list"):
        chat.invoke([])
    with pytest.raises(InputError, match="no user message"):
        chat.invoke([SystemMessage("only a system message")])
    with pytest.raises(InputError, match="unknown option"):
        chat.invoke(QUESTION, thresold=0.2)
    with pytest.raises(InputError, match="between 0 and 1"):
        chat.invoke(QUESTION, threshold=2)
    assert local.calls == [] and cloud.calls == []
    with pytest.raises(ValueError, match="policy"):
        CloudLocalChatModel(local=local, cloud=cloud, policy="magic")
    with pytest.raises(ValueError, match="threshold must be a number between 0 and 1"):
        CloudLocalChatModel(local=local, cloud=cloud, threshold=1.5)
    with pytest.raises(ValueError, match="verifier_fn"):
        CloudLocalChatModel(local=local, cloud=cloud, verifier="callable")


# --------------------------------------------------------------------------------------------------
# Streaming


def test_stream_chunks_join_to_the_answer_and_the_last_carries_the_report() -> None:
    chat = cascade(
        local_model(),
        cloud_model("the cloud says four"),
        verifier="callable",
        verifier_fn=lambda q, s, a: 1.0,
    )
    chunks = list(chat.stream(QUESTION))
    assert "".join(str(c.content) for c in chunks) == "the cloud says four"
    carrying = [c for c in chunks if c.response_metadata.get("decisions")]
    assert len(carrying) == 1 and carrying[0].response_metadata["answered_by"] == "cloud"
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata["input_tokens"] > 0
    assert total.response_metadata["usage"]["cloud_calls"] == 1


async def test_ainvoke_and_astream_work() -> None:
    chat = cascade(local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    message = await chat.ainvoke(QUESTION)
    assert message.content == "local answer"
    chunks = [c async for c in chat.astream(QUESTION)]
    assert "".join(str(c.content) for c in chunks) == "local answer"
    assert len(chat.batch([QUESTION, QUESTION])) == 2


def test_inside_a_graph_drafts_do_not_stream_and_decisions_reach_custom() -> None:
    chat = cascade(
        local_model(), cloud_model("cloud text"), verifier="callable", verifier_fn=lambda q, s, a: 1.0
    )

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [chat.invoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat").compile()
    streamed, decisions = [], []
    for mode, payload in graph.stream({"messages": QUESTION}, stream_mode=["messages", "custom"]):
        if mode == "messages":
            streamed.append(str(payload[0].content))
        elif payload.get("type") == DECISION_EVENT:
            decisions.append(payload["decision"])
    assert "local answer" not in "".join(streamed)  # the draft stays inside
    assert "".join(streamed) == "cloud text"
    assert decisions == ["escalate"]


def test_decisions_are_traced_as_tagged_child_runs() -> None:
    from langchain_core.tracers.base import BaseTracer

    class Collect(BaseTracer):
        runs: list[Any] = []

        def _persist_run(self, run: Any) -> None:
            pass

        def _start_trace(self, run: Any) -> None:
            super()._start_trace(run)
            self.runs.append(run)

    tracer = Collect()
    chat = cascade(local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 1.0)
    chat.invoke(QUESTION, config={"callbacks": [tracer]})
    tagged = [r for r in tracer.runs if "cloudlocal:escalate" in (r.tags or [])]
    assert len(tagged) == 1 and "cloudlocal:cascade" in tagged[0].tags
    assert tagged[0].extra["metadata"]["cloudlocal_decision"] == "escalate"
    top = next(r for r in tracer.runs if r.parent_run_id is None)
    assert tagged[0].parent_run_id == top.id


# --------------------------------------------------------------------------------------------------
# Tools and structured output


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def tool_json(tool_name: str = "multiply", **arguments: Any) -> str:
    return json.dumps({"action": "tool", "tool": tool_name, "arguments": arguments, "answer": ""})


def test_a_local_tool_call_becomes_tool_calls_and_is_sent_with_the_tools_schema() -> None:
    local = local_model(answer=tool_json(a=6, b=7))
    chat = cascade(local, cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    message = chat.bind_tools([multiply]).invoke([HumanMessage("What is 6 times 7?")])
    assert message.tool_calls and message.tool_calls[0]["name"] == "multiply"
    assert message.tool_calls[0]["args"] == {"a": 6, "b": 7}
    assert message.response_metadata["answered_by"] == "local"
    sent = local.calls[0]
    assert "multiply" in sent["prompt"]
    assert "multiply" not in json.dumps(
        sent["kwargs"]
    )  # unknown clients get no response_format; the prompt says it


def test_a_tool_call_to_an_unknown_tool_is_escalated() -> None:
    local = local_model(answer=tool_json("divide", a=6, b=7))
    cloud = ScriptedChatModel(replies=[tool_json(a=6, b=7)], model_name="gpt-4o")
    chat = cascade(local, cloud, verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    message = chat.bind_tools([multiply]).invoke([HumanMessage("What is 6 times 7?")])
    decision = message.response_metadata["decisions"][-1]
    assert decision["decision"] == "escalate" and "unknown tool" in decision["reason"]
    assert message.response_metadata["answered_by"] == "cloud"
    assert message.tool_calls[0]["name"] == "multiply"


def test_tool_results_are_sent_as_plain_text_turns() -> None:
    local = local_model(
        answer=json.dumps({"action": "answer", "tool": "multiply", "arguments": {}, "answer": "42"})
    )
    chat = cascade(local, cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    history = [
        HumanMessage("What is 6 times 7?"),
        AIMessage("", tool_calls=[{"name": "multiply", "args": {"a": 6, "b": 7}, "id": "c1"}]),
        ToolMessage("42", tool_call_id="c1", name="multiply"),
    ]
    message = chat.bind_tools([multiply]).invoke(history)
    assert message.content == "42" and not message.tool_calls
    assert "Tool result (multiply): 42" in local.calls[0]["prompt"]


def test_with_structured_output_returns_the_schema() -> None:
    class Person(BaseModel):
        name: str
        age: int

    local = local_model(answer=tool_json("Person", name="Ada", age=36))
    chat = cascade(local, cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    person = chat.with_structured_output(Person).invoke("Ada is 36.")
    assert person == Person(name="Ada", age=36)


def test_create_react_agent_runs_the_tool_loop() -> None:
    from langgraph.prebuilt import create_react_agent  # the entry point (deprecated alias kept in v1)

    replies = iter(
        [
            tool_json(a=6, b=7),
            json.dumps({"action": "answer", "tool": "multiply", "arguments": {}, "answer": "42"}),
        ]
    )

    def respond(messages: list[BaseMessage]) -> str:
        if "Reply to check" in _last_text(messages):
            return verdict("correct", 0.9)
        return next(replies)

    chat = cascade(ScriptedChatModel(responder=respond), cloud_model())
    agent = create_react_agent(chat, [multiply])
    out = agent.invoke({"messages": [HumanMessage("What is 6 times 7?")]})
    kinds = [m.type for m in out["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert out["messages"][2].content == "42"
    assert out["messages"][-1].response_metadata["answered_by"] == "local"


def test_tools_with_another_policy_are_refused() -> None:
    chat = CloudLocalChatModel(local=local_model(), cloud=cloud_model(), policy="cloud-only")
    with pytest.raises(InputError, match="cascade"):
        chat.bind_tools([multiply])
    with pytest.raises(InputError, match="names no bound tool"):
        cascade(local_model(), cloud_model()).bind_tools([multiply], tool_choice="divide")


# --------------------------------------------------------------------------------------------------
# Protocol policies


def test_protocol_policy_keeps_system_messages_away_from_the_cloud() -> None:
    secret = "The vault code is 4471."
    local = ScriptedChatModel(replies=["local reply"], model_name="local-scripted")
    chat = CloudLocalChatModel(local=local, cloud=cloud_model(), policy="local-only")
    message = chat.invoke([SystemMessage(secret), HumanMessage("What is the vault code?")])
    assert message.content == "local reply"
    assert secret in local.calls[0]["prompt"]
    meta = message.response_metadata
    assert meta["policy"] == "local-only" and meta["usage"]["local"]["calls"] == 1
    assert [d["decision"] for d in meta["decisions"]] == ["use_local"]


def test_adaswitch_policy_runs_the_graph_and_reports_its_steps() -> None:
    step = json.dumps({"step": "2 + 2 = 4", "is_final": True, "final_answer": "4"})
    local = ScriptedChatModel(replies=[step], model_name="local-scripted")
    cloud = cloud_model()
    chat = CloudLocalChatModel(
        local=local, cloud=cloud, policy="adaswitch", verifier="callable", verifier_fn=lambda q, s, a: 0.0
    )
    message = chat.invoke([SystemMessage("Private notes."), HumanMessage("What is 2 + 2?")])
    assert message.content == "4"
    meta = message.response_metadata
    assert meta["steps"][0]["author"] == "local"
    assert [d["decision"] for d in meta["decisions"]] == ["accept", "answer"]
    assert cloud.calls == []
    assert chat.usage_so_far()["local"]["calls"] == meta["usage"]["local"]["calls"] == 1


def test_adaswitch_policy_passes_the_instance_budget_left_to_the_graph() -> None:
    step = json.dumps({"step": "2 + 2 = 5", "is_final": True, "final_answer": "5"})
    local = ScriptedChatModel(replies=[step], model_name="local-scripted")
    cloud = cloud_model(json.dumps({"step": "2 + 2 = 4", "is_final": True, "final_answer": "4"}))
    chat = CloudLocalChatModel(
        local=local,
        cloud=cloud,
        policy="adaswitch",
        verifier="callable",
        verifier_fn=lambda q, s, a: 1.0,
        threshold=0.5,
        budget=Budget(max_cloud_calls=0),
    )
    meta = chat.invoke(QUESTION).response_metadata
    assert "budget_stop" in [d["decision"] for d in meta["decisions"]]
    assert cloud.calls == []


def test_in_an_lcel_chain() -> None:
    chat = cascade(local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    chain = ChatPromptTemplate.from_messages([("human", "Say {word}")]) | chat
    assert chain.invoke({"word": "hi"}).content == "local answer"


def test_a_yardstick_policy_streams_its_answer_node_and_nothing_else() -> None:
    cloud = cloud_model("cloud reads the memo")
    chat = CloudLocalChatModel(local=local_model(), cloud=cloud, policy="cloud-only")
    chunks = list(chat.stream([SystemMessage("Memo."), HumanMessage("Summary?")]))
    contents = [str(c.content) for c in chunks]
    assert "".join(contents) == "cloud reads the memo"
    # the answer arrived from the node's own tokens, before the report chunk (which adds no text)
    assert len(chunks) == 2 and contents == ["cloud reads the memo", ""]
    assert (
        "policy" not in chunks[0].response_metadata and chunks[-1].response_metadata["policy"] == "cloud-only"
    )


def test_a_score_equal_to_the_threshold_is_kept() -> None:
    # "above the threshold escalates": equal is not above (the AdaSwitch rule)
    chat = cascade(
        local_model(), cloud_model(), verifier="callable", verifier_fn=lambda q, s, a: 0.5, threshold=0.5
    )
    assert chat.invoke(QUESTION).response_metadata["answered_by"] == "local"


def test_a_tool_call_missing_a_required_argument_is_escalated() -> None:
    local = local_model(answer=tool_json(a=6))  # no "b"
    cloud = ScriptedChatModel(replies=[tool_json(a=6, b=7)], model_name="gpt-4o")
    chat = cascade(local, cloud, verifier="callable", verifier_fn=lambda q, s, a: 0.0)
    message = chat.bind_tools([multiply]).invoke([HumanMessage("What is 6 times 7?")])
    decision = message.response_metadata["decisions"][-1]
    assert decision["decision"] == "escalate" and "misses required argument(s) ['b']" in decision["reason"]
    assert message.tool_calls[0]["args"] == {"a": 6, "b": 7}


@pytest.mark.parametrize(
    ("draft", "answered_by"),
    [
        ("Dev baked 9 * 6 = 54 muffins. 54 - 16 = 38.\nAnswer: 38", "local"),  # checks out
        ("Dev baked 9 * 6 = 56 muffins. 56 - 16 = 40.\nAnswer: 40", "cloud"),  # a false product
        ("Dev has 41 muffins left.\nAnswer: 41", "cloud"),  # a number no calculation explains
    ],
)
def test_the_arithmetic_verifier_escalates_drafts_whose_sums_do_not_check_out(
    draft: str, answered_by: str
) -> None:
    local = ScriptedChatModel(replies=[draft], model_name="local-scripted")
    cloud = cloud_model("Answer: 38")
    chat = cascade(local, cloud, verifier="arithmetic", threshold=0.5)
    question = HumanMessage("Dev baked 9 trays of 6 muffins and sold 16. How many are left?")
    reply = chat.invoke([question])
    assert reply.response_metadata["answered_by"] == answered_by
    assert len(local.calls) == 1  # the check itself calls no model
    decision = reply.response_metadata["decisions"][-1]
    assert decision["reason"].startswith("arithmetic") or "arithmetic" in decision["reason"]
