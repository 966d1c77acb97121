"""Broken model output at every structured call of every protocol (Minion, MinionS, AdaSwitch).

Small models emit prose instead of JSON, wrong types, nothing at all, or JSON cut off at the token limit.
For each structured call site (Minion: first message, decide, final answer; MinionS: plan, job,
synthesis; AdaSwitch: step, verifier, cloud step) and each kind of breakage:

* **first attempt broken** -> repaired or retried: the run ends as if nothing happened, one extra call;
* **every attempt broken** -> a bounded number of attempts (``structured_retries + 1``), then a failure
  recorded with the raw text; the run still ends with an answer and says what happened in ``decisions``;
* **truncated** -> repaired by the tolerant parser, no extra call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults import tally
from tests.faults.fakes import BROKEN_MARKERS, BROKEN_REPLIES

RETRY_MARKER = "could not be used"  # call_structured's retry message
DOC = (
    "The lighthouse keeper, Ottoline Varga, logs the weather every morning at six.\n\n"
    "The Quillfeather project has a budget of 7,300 euros, approved in March 2025.\n\n"
    "The storeroom holds forty lanterns and two spare brass lenses for the lamp."
)
QUESTION = "What is the budget of the Quillfeather project?"
RETRIES = 2  # structured_retries used below: 3 attempts in all


def _text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def truncated(good: str) -> str:
    """``good`` (JSON whose last value is a string) cut off inside that string, as at a token limit."""
    end = good.rstrip("}] ").rfind('"')
    assert end > 4 and good[end - 4 : end].strip('"'), good
    return good[: end - 3]


class Injector:
    """A responder that serves broken replies at one call site and good replies everywhere else.

    ``classify(messages) -> kind`` names the call site; ``good[kind](messages) -> reply``.
    ``mode``: "first" breaks the first attempt of each call at the target site (the retry gets a good
    reply), "always" breaks every attempt.
    """

    def __init__(
        self,
        classify: Callable[[list[BaseMessage]], str],
        good: dict[str, Callable[[list[BaseMessage]], str]],
        target: str,
        breakage: str,
        mode: str,
    ) -> None:
        self.classify, self.good, self.target = classify, good, target
        self.breakage, self.mode = breakage, mode
        self.injected = 0
        self.calls: dict[str, int] = {}

    def __call__(self, messages: list[BaseMessage]) -> str:
        kind = self.classify(messages)
        self.calls[kind] = self.calls.get(kind, 0) + 1
        good = self.good[kind](messages)
        is_retry = RETRY_MARKER in _text(messages)
        if kind == self.target and (self.mode == "always" or not is_retry):
            self.injected += 1
            tally.fault()
            return truncated(good) if self.breakage == "truncated" else BROKEN_REPLIES[self.breakage]
        return good


def assert_failure_recorded(out: dict[str, Any], breakage: str) -> None:
    """The failure is in the output with its raw text (the marker of the broken reply)."""
    dumped = json.dumps(out, default=str)
    marker = BROKEN_MARKERS[breakage]
    if marker is not None:
        assert marker in dumped, f"the raw broken reply is not recorded in the output: {dumped[:2000]}"
    else:
        assert "empty" in dumped


def completed(out: dict[str, Any]) -> None:
    assert isinstance(out.get("answer"), str)
    assert out["usage"]["local"]["calls"] + out["usage"]["cloud"]["calls"] > 0
    tally.run_completed()


BREAKAGES = ["not_json", "wrong_types", "empty", "truncated"]
MODES = ["first", "always"]

# --------------------------------------------------------------------------------------------------
# Minion: the cloud supervisor's three structured calls (the worker's reply is free text)


def minion_kind(messages: list[BaseMessage]) -> str:
    text = _text(messages[:2])
    if "Write your first question" in text:
        return "first"
    if "You may ask" in text:
        return "decide"
    if "No more questions are allowed" in text:
        return "final"
    return "worker"


MINION_GOOD: dict[str, Callable[[list[BaseMessage]], str]] = {
    "first": lambda m: json.dumps({"message": "What budget does the memo give for Quillfeather?"}),
    "decide": lambda m: json.dumps(
        {
            "decision": "ask",
            "message": "Who approved the budget and when?",
            "answer": "",
            "reason": "need more",
        }
    ),
    "final": lambda m: json.dumps({"reason": "the worker said so", "answer": "7,300 euros"}),
    "worker": lambda m: "The budget is 7,300 euros, approved in March 2025.",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.parametrize("site", ["first", "decide", "final"])
def test_minion_survives_broken_supervisor_output(site: str, breakage: str, mode: str) -> None:
    from langgraph_cloudlocal.protocols.minion import create_minion

    injector = Injector(minion_kind, MINION_GOOD, site, breakage, mode)
    cloud = ScriptedChatModel(responder=injector, model_name="gpt-4o")
    local = ScriptedChatModel(responder=injector, model_name="smol")
    graph = create_minion(local, cloud, max_rounds=2, structured_retries=RETRIES)
    out = graph.invoke({"question": QUESTION, "documents": [DOC]})
    completed(out)
    assert injector.injected >= 1
    usage = out["usage"]
    if breakage == "truncated":
        # repaired in place: one attempt per call, nothing failed
        assert injector.calls[site] == injector.injected
        assert usage["cloud"]["failed_calls"] == 0
        assert out["answer"]
    elif mode == "first":
        # every broken first attempt was retried once and the retry was used
        assert injector.calls[site] == 2 * injector.injected
        assert usage["cloud"]["failed_calls"] == 0
        assert out["answer"] == "7,300 euros" or site != "final"
    else:
        # bounded: structured_retries + 1 attempts, then a recorded failure; the run went on
        assert injector.calls[site] == RETRIES + 1
        assert usage["cloud"]["failed_calls"] == 1
        reasons = " ".join(d["reason"] for d in out["decisions"])
        assert "could not be read" in reasons or "could not be used" in reasons
        assert_failure_recorded(out, breakage)
    assert usage["private_chars_to_cloud"] == 0


# --------------------------------------------------------------------------------------------------
# MinionS: plan (cloud), jobs (local, in parallel), synthesis (cloud)


def minions_kind(messages: list[BaseMessage]) -> str:
    text = _text(messages[:2])
    if "Write at most" in text:
        return "plan"
    if "Worker findings" in text:
        return "synthesize"
    return "job"


def _job_reply(messages: list[BaseMessage]) -> str:
    excerpt = str(messages[1].content).split("Task:")[0]
    if "7,300" in excerpt:
        return json.dumps(
            {
                "explanation": "the excerpt states it",
                "citation": "budget of 7,300 euros",
                "answer": "7,300 euros",
            }
        )
    return json.dumps({"explanation": "not here", "citation": None, "answer": None})


MINIONS_GOOD: dict[str, Callable[[list[BaseMessage]], str]] = {
    "plan": lambda m: json.dumps(
        {"tasks": [{"task": "Find the Quillfeather budget", "query": "budget", "advice": "a sum of money"}]}
    ),
    "job": _job_reply,
    "synthesize": lambda m: json.dumps(
        {"decision": "final", "feedback": "", "scratchpad": "", "reason": "found", "answer": "7,300 euros"}
    ),
}


def _truncatable_job(messages: list[BaseMessage]) -> str:
    # key order so that the reply ends inside a string value (for the truncation case)
    excerpt = str(messages[1].content).split("Task:")[0]
    answer = "7,300 euros" if "7,300" in excerpt else "null"
    return json.dumps({"citation": None, "answer": answer, "explanation": "read the excerpt"})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.parametrize("site", ["plan", "job", "synthesize"])
def test_minions_survives_broken_output(site: str, breakage: str, mode: str) -> None:
    from langgraph_cloudlocal.protocols.minions import create_minions

    good = dict(MINIONS_GOOD)
    if breakage == "truncated" and site == "job":
        good["job"] = _truncatable_job
    injector = Injector(minions_kind, good, site, breakage, mode)
    cloud = ScriptedChatModel(responder=injector, model_name="gpt-4o")
    local = ScriptedChatModel(responder=injector, model_name="smol")
    graph = create_minions(
        local, cloud, chunk_size=120, chunk_overlap=0, max_rounds=1, structured_retries=RETRIES
    )
    out = graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"max_concurrency": 3})
    completed(out)
    assert injector.injected >= 1
    usage = out["usage"]
    jobs = out["jobs"]
    assert len(jobs) == 3  # one task x three chunks, whatever happened
    failed_calls = usage["cloud"]["failed_calls"] + usage["local"]["failed_calls"]
    if breakage == "truncated" or mode == "first":
        assert failed_calls == 0
        assert not any(j["failed"] for j in jobs)
        if breakage != "truncated":
            assert injector.calls[site] == 2 * injector.injected
        if site != "synthesize" or breakage != "truncated":
            assert "7,300" in out["answer"]
        return
    # every attempt broken: bounded attempts, a recorded failure, a decision that says so
    per_call = RETRIES + 1
    assert injector.calls[site] == per_call * (3 if site == "job" else 1)
    kinds = [d["decision"] for d in out["decisions"]]
    if site == "plan":
        assert "plan_failed" in kinds  # the question itself became the only task
        assert usage["cloud"]["failed_calls"] == 1
    elif site == "job":
        assert all(j["failed"] and j["error"] for j in jobs)
        assert "job_failed" in kinds
        assert usage["local"]["failed_calls"] == 3
        # the raw text is kept with each failed job
        for job in jobs:
            marker = BROKEN_MARKERS[breakage]
            assert marker is None or marker in json.dumps(job), job
    else:
        assert kinds[-1] == "local_answer"  # answered locally from the job outputs
        assert out["answer"] == "7,300 euros"
        assert usage["cloud"]["failed_calls"] == 1
    assert_failure_recorded(out, breakage)
    assert usage["private_chars_to_cloud"] == 0


# --------------------------------------------------------------------------------------------------
# AdaSwitch: the local step, the self-reflection verifier, the cloud's replacement step


def adaswitch_kind(messages: list[BaseMessage]) -> str:
    system = str(messages[0].content)
    if system.startswith("You check one step"):
        return "verify"
    if system.startswith("You help a small model"):
        return "cloud_step"
    return "step"


ADASWITCH_GOOD: dict[str, Callable[[list[BaseMessage]], str]] = {
    # not final, judged wrong, so the cloud writes the (final) replacement: every site is visited
    "step": lambda m: json.dumps({"is_final": False, "final_answer": "", "step": "The memo states a budget"}),
    "verify": lambda m: json.dumps({"verdict": "wrong", "confidence": 0.9, "reason": "the sum is not given"}),
    "cloud_step": lambda m: json.dumps(
        {"is_final": True, "step": "The budget is 7,300 euros.", "final_answer": "7,300 euros"}
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.parametrize("site", ["step", "verify", "cloud_step"])
def test_adaswitch_survives_broken_output(site: str, breakage: str, mode: str) -> None:
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch

    injector = Injector(adaswitch_kind, ADASWITCH_GOOD, site, breakage, mode)
    cloud = ScriptedChatModel(responder=injector, model_name="gpt-4o")
    local = ScriptedChatModel(responder=injector, model_name="smol")
    graph = create_adaswitch(
        local, cloud, verifier="self_reflection", threshold=0.5, max_steps=3, structured_retries=RETRIES
    )
    out = graph.invoke({"question": QUESTION, "documents": [DOC]})
    completed(out)
    assert injector.injected >= 1
    usage = out["usage"]
    role = "cloud" if site == "cloud_step" else "local"
    if breakage == "truncated" or mode == "first":
        assert usage["local"]["failed_calls"] == usage["cloud"]["failed_calls"] == 0
        if breakage != "truncated":
            assert injector.calls[site] == 2 * injector.injected
        assert "7,300" in out["answer"]
        return
    failures = usage[role]["failed_calls"]
    assert failures >= 1
    assert injector.calls[site] == (RETRIES + 1) * failures  # bounded attempts per call
    reasons = " ".join(d["reason"] for d in out["decisions"])
    kinds = [d["decision"] for d in out["decisions"]]
    if site == "verify":
        assert "verifier_malformed" in kinds
    elif site == "step":
        assert "step_malformed" in kinds or "could not be read" in reasons
    else:
        assert "could not be read" in reasons or "was empty" in reasons
    assert_failure_recorded(out, breakage)
    assert usage["private_chars_to_cloud"] == 0
