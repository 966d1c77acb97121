"""AdaSwitch with scripted models: accept, escalate and resume, the step cap, budgets, each verifier,
malformed steps and verdicts, documents, async, subgraph use."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any, TypedDict

import pytest
from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph

from langgraph_cloudlocal.decisions import DECISION_EVENT
from langgraph_cloudlocal.prompts import adaswitch as prompts
from langgraph_cloudlocal.protocols import adaswitch as adaswitch_module
from langgraph_cloudlocal.protocols.adaswitch import AdaSwitchSettings, logprob_score, step_logprobs
from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.testing import ScriptedChatModel

QUESTION = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell in all?"


def step(text: str, final: str | None = None) -> str:
    return json.dumps({"step": text, "is_final": final is not None, "final_answer": final or ""})


def verdict(kind: str, confidence: float, reason: str = "") -> str:
    return json.dumps({"verdict": kind, "confidence": confidence, "reason": reason})


def _self_reflection_by_default(kwargs: dict[str, Any]) -> dict[str, Any]:
    # The loop tests script the local model's self-reflection verdicts; the library's default verifier
    # is "arithmetic" (no verdict call), tested on its own below.
    if "verifier" not in kwargs and "verifier_fn" not in kwargs:
        kwargs["verifier"] = "self_reflection"
    return kwargs


def create_adaswitch(*args: Any, **kwargs: Any) -> Any:
    return adaswitch_module.create_adaswitch(*args, **_self_reflection_by_default(kwargs))


def build_adaswitch(*args: Any, **kwargs: Any) -> Any:
    return adaswitch_module.build_adaswitch(*args, **_self_reflection_by_default(kwargs))


CORRECT = verdict("correct", 0.9)  # score 0.1
WRONG = verdict("wrong", 0.8)  # score 0.8


class FakeLocal:
    """A local model whose step replies and verifier replies come from two scripts."""

    def __init__(self, steps: Sequence[str], verdicts: Sequence[str] = (), *, logprob: float | None = None):
        self.steps = list(steps)
        self.verdicts = list(verdicts)
        self.step_prompts: list[list[BaseMessage]] = []
        self.verifier_prompts: list[list[BaseMessage]] = []
        self.model = ScriptedChatModel(responder=self._reply, model_name="smol", logprob=logprob)

    def _reply(self, messages: list[BaseMessage]) -> str:
        if messages[0].content == prompts.VERIFIER_SYSTEM:
            self.verifier_prompts.append(messages)
            if not self.verdicts:
                raise AssertionError("no verdict left in the script")
            return self.verdicts.pop(0)
        self.step_prompts.append(messages)
        if not self.steps:
            raise AssertionError("no step left in the script")
        return self.steps.pop(0)


def cloud_model(*replies: str) -> ScriptedChatModel:
    return ScriptedChatModel(replies=list(replies) or ["unused"], model_name="gpt-4o")


def kinds(out: dict[str, Any]) -> list[str]:
    return [d["decision"] for d in out["decisions"]]


def authors(out: dict[str, Any]) -> list[str]:
    return [s["author"] for s in out["steps"]]


# --------------------------------------------------------------------------------------------------
# The loop


def test_no_escalation_local_model_solves_alone() -> None:
    local = FakeLocal([step("May: 48 / 2 = 24."), step("48 + 24 = 72.", "72")], [CORRECT, CORRECT])
    cloud = cloud_model()
    out = create_adaswitch(local.model, cloud).invoke({"question": QUESTION})
    assert out["answer"] == "72"
    assert authors(out) == ["local", "local"]
    assert [s["flagged"] for s in out["steps"]] == [False, False]
    assert [s["index"] for s in out["steps"]] == [1, 2]
    assert out["steps"][1]["is_final"] and out["steps"][1]["final_answer"] == "72"
    assert kinds(out) == ["accept", "accept", "answer"]
    first = out["decisions"][0]
    assert first["score"] == pytest.approx(0.1) and first["threshold"] == 0.5 and first["node"] == "verify"
    assert "<= threshold" in first["reason"]
    assert cloud.calls == []
    usage = out["usage"]
    assert usage["cloud_calls"] == 0 and usage["local"]["calls"] == 4  # 2 steps + 2 verdicts
    assert usage["cloud_only_cost_usd"] > 0
    # The second step prompt carries the first step as an earlier assistant turn.
    second = local.step_prompts[1]
    assert [m.type for m in second] == ["system", "human", "ai", "human"]
    assert json.loads(second[2].content)["step"] == "May: 48 / 2 = 24."


def test_escalated_middle_step_is_replaced_and_the_local_model_resumes() -> None:
    local = FakeLocal(
        [step("April: 48 clips."), step("May: 48 + 2 = 50."), step("48 + 24 = 72.", "72")],
        [CORRECT, verdict("wrong", 0.9, "halving is not adding"), CORRECT],
    )
    cloud = cloud_model(step("May: 48 / 2 = 24 clips."))
    out = create_adaswitch(local.model, cloud, threshold=0.5).invoke({"question": QUESTION})
    assert out["answer"] == "72"
    assert authors(out) == ["local", "cloud", "local"]
    middle = out["steps"][1]
    assert middle["text"] == "May: 48 / 2 = 24 clips."
    assert middle["replaced_local_text"] == "May: 48 + 2 = 50."
    assert middle["flagged"] and middle["score"] == pytest.approx(0.9)
    assert kinds(out) == ["accept", "escalate", "cloud_step", "accept", "answer"]
    escalate = out["decisions"][1]
    assert escalate["step"] == 2 and escalate["score"] == pytest.approx(0.9)
    assert "halving is not adding" in escalate["reason"] and "> threshold" in escalate["reason"]
    # The cloud saw the question, the accepted step and the doubtful draft, and wrote one step.
    (cloud_call,) = cloud.calls
    assert QUESTION in cloud_call["prompt"] and "April: 48 clips." in cloud_call["prompt"]
    assert "May: 48 + 2 = 50." in cloud_call["prompt"] and "may be wrong" in cloud_call["prompt"]
    assert cloud_call["kwargs"].get("max_tokens") == AdaSwitchSettings().cloud_max_tokens
    # The local model carried on from the corrected state: the cloud's step is in its history,
    # the wrong draft is not.
    resumed = local.step_prompts[2]
    history = [m.content for m in resumed if m.type == "ai"]
    assert [json.loads(h)["step"] for h in history] == ["April: 48 clips.", "May: 48 / 2 = 24 clips."]
    assert out["usage"]["cloud_calls"] == 1
    assert out["usage"]["private_chars_to_cloud"] == 0


def test_cloud_writes_the_final_answer_when_the_final_step_is_doubtful() -> None:
    local = FakeLocal([step("48 + 2 = 50.", "50")], [WRONG])
    cloud = cloud_model(step("48 + 24 = 72.", "72"))
    out = create_adaswitch(local.model, cloud).invoke({"question": QUESTION})
    assert out["answer"] == "72"
    assert authors(out) == ["cloud"]
    assert out["steps"][0]["replaced_local_final_answer"] == "50"
    assert "The draft claims the final answer: 50" in cloud.calls[0]["prompt"]
    assert kinds(out)[-1] == "answer"


def test_final_step_without_final_answer_answers_with_its_text() -> None:
    local = FakeLocal([json.dumps({"step": "72 clips", "is_final": True, "final_answer": ""})], [CORRECT])
    out = create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION})
    assert out["answer"] == "72 clips"


def test_step_cap_ends_the_run() -> None:
    local = FakeLocal([step(f"thinking {i}") for i in range(1, 4)], [CORRECT] * 3)
    out = create_adaswitch(local.model, cloud_model(), max_steps=3).invoke({"question": QUESTION})
    assert len(out["steps"]) == 3
    assert kinds(out) == ["accept", "accept", "accept", "step_cap"]
    assert out["decisions"][-1]["step"] == 3
    assert out["answer"] == "thinking 3"
    assert len(local.step_prompts) == 3


def test_step_cap_per_run_from_the_context() -> None:
    local = FakeLocal([step("a"), step("b")], [CORRECT, CORRECT])
    out = create_adaswitch(local.model, cloud_model()).invoke(
        {"question": QUESTION}, context={"max_steps": 1}
    )
    assert len(out["steps"]) == 1 and kinds(out)[-1] == "step_cap"


def test_threshold_is_the_knob_per_run() -> None:
    def run(threshold: float) -> dict[str, Any]:
        local = FakeLocal([step("48 + 2 = 50.", "50")], [verdict("wrong", 0.6)])
        return create_adaswitch(local.model, cloud_model(step("72", "72"))).invoke(
            {"question": QUESTION}, context={"threshold": threshold}
        )

    assert run(0.7)["answer"] == "50"  # 0.6 <= 0.7: accepted
    assert run(0.5)["answer"] == "72"  # 0.6 > 0.5: escalated
    assert run(1.0)["usage"]["cloud_calls"] == 0


# --------------------------------------------------------------------------------------------------
# Budgets


def test_budget_stop_keeps_the_step_and_stops_all_further_escalations() -> None:
    local = FakeLocal([step("wrong 1"), step("wrong 2"), step("done", "7")], [WRONG, WRONG, WRONG])
    cloud = cloud_model()
    out = create_adaswitch(local.model, cloud).invoke({"question": QUESTION}, context={"max_cloud_calls": 0})
    assert cloud.calls == []
    assert kinds(out) == ["escalate", "budget_stop", "accept", "accept", "answer"]
    stop = out["decisions"][1]
    assert stop["node"] == "cloud_step" and "call cap" in stop["reason"]
    later = out["decisions"][2]
    assert later["score"] == pytest.approx(0.8) and "budget is spent" in later["reason"]
    assert authors(out) == ["local", "local", "local"]
    assert all(s["flagged"] for s in out["steps"])  # doubtful, but kept
    assert out["answer"] == "7" and out["usage"]["cloud_calls"] == 0


def test_budget_allows_one_escalation_then_stops() -> None:
    local = FakeLocal([step("wrong 1"), step("wrong 2", "1")], [WRONG, WRONG])
    cloud = cloud_model(step("fixed 1"))
    out = create_adaswitch(local.model, cloud, max_cloud_calls=1).invoke({"question": QUESTION})
    assert authors(out) == ["cloud", "local"]
    assert kinds(out) == ["escalate", "cloud_step", "escalate", "budget_stop", "answer"]
    assert out["usage"]["cloud_calls"] == 1


def test_token_budget_refuses_an_escalation_whose_prompt_would_not_fit() -> None:
    local = FakeLocal([step("x", "1")], [WRONG])
    out = create_adaswitch(local.model, cloud_model()).invoke(
        {"question": QUESTION}, context={"max_cloud_tokens": 10}
    )
    assert "budget_stop" in kinds(out) and out["usage"]["cloud_calls"] == 0


# --------------------------------------------------------------------------------------------------
# Verifiers


def test_self_reflection_verifier_sees_documents_steps_and_the_step() -> None:
    document = "Natalia's ledger: April 48 clips."
    local = FakeLocal([step("April: 48."), step("Total 72.", "72")], [CORRECT, CORRECT])
    create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION, "documents": [document]})
    second = local.verifier_prompts[1][-1].content
    assert document in second and "1. April: 48." in second and "Step to check: Total 72." in second
    assert "It gives the final answer: 72" in second


def test_malformed_verdict_is_retried_then_scored_as_doubtful() -> None:
    local = FakeLocal([step("48 / 2 = 24", "24")], ["I think it is fine", "still no json"])
    cloud = cloud_model(step("48 + 24 = 72", "72"))
    out = create_adaswitch(local.model, cloud, structured_retries=1).invoke({"question": QUESTION})
    assert len(local.verifier_prompts) == 2  # the call layer retried once with the error
    assert kinds(out) == ["verifier_malformed", "escalate", "cloud_step", "answer"]
    malformed = out["decisions"][0]
    assert malformed["score"] == 1.0 and "could not be read" in malformed["reason"]
    assert out["answer"] == "72"
    assert out["usage"]["local"]["failed_calls"] == 1


def test_out_of_range_confidence_is_malformed() -> None:
    local = FakeLocal([step("x", "1")], [verdict("wrong", 200)])
    out = create_adaswitch(local.model, cloud_model(), structured_retries=0, malformed_score=0.0).invoke(
        {"question": QUESTION}
    )
    # malformed_score=0 accepts the step instead of escalating it
    assert kinds(out) == ["verifier_malformed", "accept", "answer"]
    assert "confidence" in out["decisions"][0]["reason"]


def test_verdict_in_capitals_still_reads() -> None:
    local = FakeLocal([step("x", "1")], ['{"verdict": "Correct", "confidence": 0.75}'])
    out = create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION})
    assert out["decisions"][0]["score"] == pytest.approx(0.25)


def test_logprob_verifier_scores_from_the_step_call() -> None:
    confident = FakeLocal([step("48 + 24 = 72", "72")], logprob=-0.05)
    out = create_adaswitch(confident.model, cloud_model(), verifier="logprobs").invoke({"question": QUESTION})
    assert confident.verifier_prompts == []  # no second call
    assert kinds(out) == ["accept", "answer"]
    assert out["decisions"][0]["score"] == pytest.approx(1 - math.exp(-0.05))
    assert "logprobs" in out["decisions"][0]["reason"] and out["steps"][0]["verifier"] == "logprobs"

    unsure = FakeLocal([step("48 + 2 = 50", "50")], logprob=-2.0)
    cloud = cloud_model(step("72", "72"))
    out = create_adaswitch(unsure.model, cloud, verifier="logprobs").invoke({"question": QUESTION})
    assert kinds(out) == ["escalate", "cloud_step", "answer"] and out["answer"] == "72"


def test_logprob_verifier_without_logprobs_is_malformed() -> None:
    local = FakeLocal([step("x", "1")])  # this fake returns no log-probabilities
    out = create_adaswitch(local.model, cloud_model(step("y", "2")), verifier="logprobs").invoke(
        {"question": QUESTION}
    )
    assert kinds(out)[:2] == ["verifier_malformed", "escalate"]
    assert "no token log-probabilities" in out["decisions"][0]["reason"]


def test_step_logprobs_count_only_the_step_values() -> None:
    tokens = ['```', 'json\n', '{"', 'step', '":', ' "', '48', ' /', ' 2', '",', ' "is_final":', ' true', ', "',
              'final_answer', '":', ' "', '24', '"}']  # fmt: skip
    logprobs = [-9.0] * len(tokens)
    for index, token in enumerate(tokens):
        if token in ("48", " /", " 2", "24"):
            logprobs[index] = -0.1
    entries = [{"token": t, "logprob": lp} for t, lp in zip(tokens, logprobs, strict=True)]
    picked = step_logprobs(entries)
    assert picked == [-0.1, -0.1, -0.1, -0.1]
    assert logprob_score(picked) == pytest.approx(1 - math.exp(-0.1))
    assert logprob_score([-0.1, -3.0], "min") == pytest.approx(1 - math.exp(-3.0))
    # Not JSON: every token counts.
    assert step_logprobs([{"token": "hi", "logprob": -1.0}]) == [-1.0]


def test_callable_verifier_gets_question_steps_and_step() -> None:
    seen: list[tuple[str, list[str], str]] = []

    def doubt(question: str, steps_so_far: list[str], new_step: str) -> float:
        seen.append((question, list(steps_so_far), new_step))
        return 0.9 if "+ 2" in new_step else 0.0

    local = FakeLocal([step("April 48."), step("48 + 2 = 50."), step("72 in all.", "72")])
    cloud = cloud_model(step("May: 24."))
    out = create_adaswitch(local.model, cloud, verifier_fn=doubt).invoke({"question": QUESTION})
    assert seen[0] == (QUESTION, [], "April 48.")
    assert seen[1] == (QUESTION, ["April 48."], "48 + 2 = 50.")
    assert seen[2] == (QUESTION, ["April 48.", "May: 24."], "72 in all.")
    assert authors(out) == ["local", "cloud", "local"]
    assert local.verifier_prompts == []
    assert out["steps"][0]["verifier"] == "callable"


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.3", None, float("nan"), True])
def test_callable_verifier_bad_value_is_malformed(bad: Any) -> None:
    local = FakeLocal([step("x", "1")])
    out = create_adaswitch(local.model, cloud_model(step("y", "2")), verifier_fn=lambda q, s, t: bad).invoke(
        {"question": QUESTION}
    )
    assert (
        kinds(out)[0] == "verifier_malformed"
        and "not a number between 0 and 1" in out["decisions"][0]["reason"]
    )


def test_callable_verifier_that_raises_does_not_crash_the_run() -> None:
    def broken(question: str, steps: list[str], new_step: str) -> float:
        raise ZeroDivisionError("oops")

    local = FakeLocal([step("x", "1")])
    out = create_adaswitch(local.model, cloud_model(), verifier_fn=broken, malformed_score=0.2).invoke(
        {"question": QUESTION}
    )
    assert kinds(out) == ["verifier_malformed", "accept", "answer"]
    assert "ZeroDivisionError: oops" in out["decisions"][0]["reason"]


# --------------------------------------------------------------------------------------------------
# Malformed steps


def test_unparseable_local_step_goes_to_the_verifier_as_raw_text() -> None:
    local = FakeLocal(["48 divided by 2 is 24", "48 divided by 2 is 24"], [WRONG])
    cloud = cloud_model(step("May: 24; total 72.", "72"))
    out = create_adaswitch(local.model, cloud, structured_retries=1).invoke({"question": QUESTION})
    assert kinds(out) == ["step_malformed", "escalate", "cloud_step", "answer"]
    assert "Step to check: 48 divided by 2 is 24" in local.verifier_prompts[0][-1].content
    assert out["steps"][0]["replaced_local_text"] == "48 divided by 2 is 24"
    assert out["steps"][0]["replaced_local_malformed"] is True


def test_unparseable_cloud_step_uses_its_raw_text_and_empty_keeps_the_local_step() -> None:
    local = FakeLocal([step("draft", "5"), step("so 72", "72")], [WRONG, CORRECT])
    out = create_adaswitch(local.model, cloud_model("The step is 72."), structured_retries=0).invoke(
        {"question": QUESTION}
    )
    assert out["steps"][0]["author"] == "cloud" and out["steps"][0]["text"] == "The step is 72."
    assert "could not be read" in out["decisions"][1]["reason"]
    assert not out["steps"][0]["is_final"]  # a raw reply is never final: the local model goes on
    assert authors(out) == ["cloud", "local"] and out["answer"] == "72"

    local = FakeLocal([step("draft", "5")], [WRONG])
    out = create_adaswitch(local.model, cloud_model(" "), structured_retries=0).invoke({"question": QUESTION})
    assert kinds(out) == ["escalate", "cloud_step_failed", "answer"]
    assert out["steps"][0]["author"] == "local" and out["answer"] == "5"


# --------------------------------------------------------------------------------------------------
# Input, settings, documents, privacy


@pytest.mark.parametrize(
    "context",
    [
        {"threshold": 1.5},
        {"threshold": -0.1},
        {"threshold": "high"},
        {"max_steps": 0},
        {"verifier": "oracle"},
        {"logprob_rule": "median"},
        {"malformed_score": 2},
    ],
)
def test_bad_settings_raise_before_any_model_call(context: dict[str, Any]) -> None:
    local = FakeLocal([])
    graph = create_adaswitch(local.model, cloud_model())
    with pytest.raises(InputError):
        graph.invoke({"question": QUESTION}, context=context)
    assert local.step_prompts == []


def test_bad_build_settings_and_callable_without_function() -> None:
    with pytest.raises(InputError):
        create_adaswitch(FakeLocal([]).model, cloud_model(), threshold=2.0)
    with pytest.raises(InputError):
        create_adaswitch(FakeLocal([]).model, cloud_model(), verifier="callable")
    graph = create_adaswitch(FakeLocal([]).model, cloud_model())
    with pytest.raises(InputError):
        graph.invoke({"question": QUESTION}, context={"verifier": "callable"})
    with pytest.raises(InputError):
        graph.invoke({"question": "  "})


def test_documents_go_to_the_local_model_only_and_quotes_are_measured() -> None:
    document = "The shipment manifest lists exactly forty-eight crates of blue clips for April delivery."
    local = FakeLocal([step(document)], [WRONG])  # the local model copies the document into its step
    cloud = cloud_model(step("48 crates.", "48"))
    out = create_adaswitch(local.model, cloud).invoke({"question": QUESTION, "documents": [document]})
    assert document in local.step_prompts[0][1].content
    assert local.step_prompts[0][1].content.index(document) < local.step_prompts[0][1].content.index(QUESTION)
    usage = out["usage"]
    # the cloud never got the document from the protocol, but the step the local model copied it into
    # went to the cloud: the measured report shows it
    assert usage["private_chars_to_cloud"] == len(document)
    assert usage["quoted_chars_to_cloud"] >= len(document)
    assert usage["document_chars"] == len(document)


def test_no_documents_means_no_document_section() -> None:
    local = FakeLocal([step("x", "1")], [CORRECT])
    create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION})
    assert "Documents:" not in local.step_prompts[0][1].content


# --------------------------------------------------------------------------------------------------
# LangGraph integration: name, build twin, stream, async, subgraph


def test_compiled_graph_has_a_name_and_the_build_twin_compiles() -> None:
    local = FakeLocal([step("x", "1")], [CORRECT])
    assert create_adaswitch(local.model, cloud_model()).name == "adaswitch"
    assert create_adaswitch(local.model, cloud_model(), name="solver").name == "solver"
    builder = build_adaswitch(local.model, cloud_model())
    assert {"start", "local_step", "verify", "cloud_step"} <= set(builder.nodes)
    out = builder.compile().invoke({"question": QUESTION})
    assert out["answer"] == "1"
    assert set(out) == {"answer", "steps", "usage", "decisions"}


def test_decisions_reach_the_custom_stream() -> None:
    local = FakeLocal([step("a"), step("b", "2")], [WRONG, CORRECT])
    graph = create_adaswitch(local.model, cloud_model(step("fixed")))
    events = [e for e in graph.stream({"question": QUESTION}, stream_mode="custom")]
    decisions = [e for e in events if e.get("type") == DECISION_EVENT]
    assert [d["decision"] for d in decisions] == ["escalate", "cloud_step", "accept", "answer"]
    assert decisions[0]["score"] == pytest.approx(0.8) and decisions[0]["threshold"] == 0.5
    assert any(e.get("type") == "cloudlocal.progress" for e in events)


def test_async_invoke() -> None:
    local = FakeLocal([step("a"), step("b", "2")], [WRONG, CORRECT])
    graph = create_adaswitch(local.model, cloud_model(step("fixed")))
    out = asyncio.run(graph.ainvoke({"question": QUESTION}, context={"threshold": 0.5}))
    assert out["answer"] == "2" and authors(out) == ["cloud", "local"]


def test_usable_as_a_subgraph() -> None:
    class Parent(TypedDict, total=False):
        question: str
        answer: str
        steps: list
        note: str

    local = FakeLocal([step("a", "42")], [CORRECT])
    sub = create_adaswitch(local.model, cloud_model())
    parent = StateGraph(Parent)
    parent.add_node("solve", sub)
    parent.add_node(
        "after", lambda state: {"note": f"got {state['answer']} in {len(state['steps'])} step(s)"}
    )
    parent.add_edge(START, "solve")
    parent.add_edge("solve", "after")
    parent.add_edge("after", END)
    out = parent.compile().invoke({"question": QUESTION})
    assert out["answer"] == "42" and out["note"] == "got 42 in 1 step(s)"


def test_a_thread_invoked_again_starts_a_new_solution() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    local = FakeLocal([step("a", "1"), step("b", "2")], [CORRECT, CORRECT])
    graph = build_adaswitch(local.model, cloud_model()).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"question": QUESTION}, config)
    second = graph.invoke({"question": "Another question?"}, config)
    assert first["answer"] == "1" and second["answer"] == "2"
    assert len(second["steps"]) == 1 and kinds(second) == ["accept", "answer"]
    assert second["usage"]["local"]["calls"] == 2


def test_logprob_verifier_reads_a_reply_cut_off_at_the_token_limit() -> None:
    # The openai client raises LengthFinishReasonError for a structured reply that hit max_tokens; the
    # call layer recovers the text, the usage and (for this verifier) the log-probabilities.
    import openai
    from openai.types.chat import ChatCompletion

    text = '{"step": "48 / 2 = 24", "is_final": false, "final_answer": "24 24 24'
    tokens = [
        '{"step": "',
        "48",
        " /",
        " 2",
        " =",
        " 24",
        '", "is_final": false, "final_answer": "',
        "24 24 24",
    ]
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "smol",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": text},
                    "logprobs": {
                        "content": [{"token": t, "logprob": -0.2, "top_logprobs": []} for t in tokens]
                    },
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58},
        }
    )
    local = ScriptedChatModel(error=openai.LengthFinishReasonError(completion=completion), model_name="smol")
    out = create_adaswitch(local, cloud_model(), verifier="logprobs", max_steps=1).invoke(
        {"question": QUESTION}
    )
    assert out["steps"][0]["text"] == "48 / 2 = 24"
    assert kinds(out) == ["accept", "step_cap"]
    assert out["decisions"][0]["score"] == pytest.approx(1 - math.exp(-0.2))


def test_empty_step_with_a_final_answer_uses_the_answer_as_the_step() -> None:
    local = FakeLocal([json.dumps({"step": "", "is_final": True, "final_answer": "72 clips"})], [CORRECT])
    out = create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION})
    assert out["steps"][0]["text"] == "72 clips" and out["answer"] == "72 clips"
    assert "step_malformed" not in kinds(out)


def test_budget_interrupt_asks_a_human_and_resumes_with_the_escalation() -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    local = FakeLocal([step("48 + 2 = 50", "50")], [WRONG])
    cloud = cloud_model(step("48 + 24 = 72", "72"))
    graph = build_adaswitch(local.model, cloud, max_cloud_calls=0, on_budget_exceeded="interrupt").compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "budget"}}
    first = graph.invoke({"question": QUESTION}, config)
    assert first["__interrupt__"][0].value["type"] == "cloudlocal.budget"
    assert cloud.calls == []
    out = graph.invoke(Command(resume=True), config)
    assert out["answer"] == "72" and len(cloud.calls) == 1
    assert len(local.verifier_prompts) == 1  # resuming did not verify the step again


# --------------------------------------------------------------------------------------------------
# The arithmetic verifier (no model call)


def test_arithmetic_verifier_escalates_false_arithmetic_and_makes_no_verifier_call() -> None:
    local = FakeLocal([step("April: 48 clips. May: 48 / 2 = 24 clips."), step("8 * 8 = 64. 64 * 8 = 48.")])
    cloud = cloud_model(step("In all 48 + 24 = 72 clips.", "72"))
    out = create_adaswitch(local.model, cloud, verifier="arithmetic", threshold=0.9).invoke(
        {"question": QUESTION}
    )
    assert out["answer"] == "72"
    assert authors(out) == ["local", "cloud"]
    assert [s["score"] for s in out["steps"]] == [0.0, 1.0]
    assert all(s["verifier"] == "arithmetic" for s in out["steps"])
    assert kinds(out) == ["accept", "escalate", "cloud_step", "answer"]
    assert "64 * 8 = 48 is false" in out["decisions"][1]["reason"]
    assert local.verifier_prompts == []  # no self-reflection call
    assert out["usage"]["local"]["calls"] == 2


def test_arithmetic_threshold_levels_change_what_is_escalated() -> None:
    # Step 1 states a number without a calculation (0.8); step 2 is checked arithmetic (0.0).
    def run(threshold: float) -> dict[str, Any]:
        local = FakeLocal([step("She sold 25 clips in May."), step("48 + 24 = 72 clips.", "72")])
        cloud = cloud_model(step("May: 48 / 2 = 24 clips."))
        graph = create_adaswitch(local.model, cloud, verifier="arithmetic")
        return graph.invoke({"question": QUESTION}, context={"threshold": threshold})

    strict, lenient = run(0.7), run(0.9)
    assert authors(strict) == ["cloud", "local"] and strict["steps"][0]["score"] == 0.8
    assert authors(lenient) == ["local", "local"]
    assert strict["usage"]["cloud_calls"] == 1 and lenient["usage"]["cloud_calls"] == 0


def test_arithmetic_verifier_grounds_numbers_in_the_documents() -> None:
    local = FakeLocal([step("She sold 37 + 11 = 48 clips.", "48")])
    question = "How many clips did she sell?"
    graph = create_adaswitch(local.model, cloud_model(), verifier="arithmetic", threshold=0.5)
    out = graph.invoke({"question": question, "documents": ["She sold 37 clips and then 11 more."]})
    assert out["steps"][0]["score"] == 0.0 and authors(out) == ["local"]


def test_the_default_verifier_is_arithmetic() -> None:
    assert AdaSwitchSettings().verifier == "arithmetic"
    local = FakeLocal([step("May: 48 / 2 = 24 clips."), step("In all 48 + 24 = 72.", "72")])
    out = adaswitch_module.create_adaswitch(local.model, cloud_model()).invoke({"question": QUESTION})
    assert [s["verifier"] for s in out["steps"]] == ["arithmetic", "arithmetic"]
    assert [s["score"] for s in out["steps"]] == [0.0, 0.0] and local.verifier_prompts == []
