"""Budgets across protocols: a cap is checked before every cloud call, the run degrades by the
protocol's rule, and it never overspends by more than one call's output limit.

The scripted models here honour ``max_tokens`` (a reply is cut at the limit, as a real server cuts it),
so "at most one output over the cap" is a real bound; and each run is sized so that without the check
it would go well past its cap.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langgraph_cloudlocal.ledger import DEFAULT_PRICES
from langgraph_cloudlocal.protocols import protocol_factory
from langgraph_cloudlocal.protocols.baselines import create_cloud_only
from langgraph_cloudlocal.testing import ScriptedChatModel

DOCUMENT = "The depot code name is BLUE HERON. " * 40  # ~1400 chars, ~350 tokens
GPT4O = DEFAULT_PRICES["gpt-4o"]


class LimitedScriptedModel(ScriptedChatModel):
    """A scripted model that honours ``max_tokens`` like a server: the reply is cut at the limit
    (4 characters a token, the scripted models' own count)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._next_reply(messages)
        limit = kwargs.get("max_tokens")
        if limit is not None:
            reply = reply[: limit * 4]
        with self._lock:
            self._calls.append({"prompt": "\n".join(str(m.content) for m in messages), "reply": reply})
        # the parent's usage arithmetic, on the cut reply
        return ScriptedChatModel(replies=[reply], model_name=self.model_name)._generate(messages, stop)


def test_the_limited_model_honours_max_tokens() -> None:
    model = LimitedScriptedModel(replies=["x" * 4000], model_name="gpt-4o")
    reply = model.bind(max_tokens=10).invoke("hi")
    assert reply.content == "x" * 40 and reply.usage_metadata["output_tokens"] == 10


def _cloud_only(cloud_reply: str = "cloud answer " * 10) -> Any:
    return create_cloud_only(
        ScriptedChatModel(replies=["local answer"], model_name="smol"),
        LimitedScriptedModel(replies=[cloud_reply], model_name="gpt-4o"),
    )


def test_cloud_only_degrades_to_local_when_the_prompt_would_break_the_cap() -> None:
    out = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_tokens": 100}
    )
    assert out["answer"] == "local answer"
    assert [d["decision"] for d in out["decisions"]] == ["budget_stop", "use_local"]
    assert "token cap" in out["decisions"][0]["reason"]
    assert out["usage"]["cloud_calls"] == 0 and out["usage"]["private_chars_to_cloud"] == 0


@pytest.mark.parametrize("room", [1, 30, 5000])
def test_cloud_only_never_overspends_by_more_than_one_output(room: int) -> None:
    cloud_max_tokens = 64
    prompt = _cloud_only().invoke({"question": "Code name?", "documents": [DOCUMENT]})["usage"]["cloud"][
        "input_tokens"
    ]
    cap = prompt + room  # the prompt fits, with 1, 30 or 5000 tokens to spare
    # the cloud would write ~2000 tokens if it could: only max_tokens bounds it
    out = _cloud_only("a long answer " * 600).invoke(
        {"question": "Code name?", "documents": [DOCUMENT]},
        context={"max_cloud_tokens": cap, "cloud_max_tokens": cloud_max_tokens},
    )
    usage = out["usage"]
    assert usage["cloud_calls"] == 1  # every cap here fits the prompt
    assert usage["cloud"]["output_tokens"] == cloud_max_tokens
    assert usage["cloud_tokens"] <= cap + cloud_max_tokens


def test_zero_call_budget_means_no_cloud_call() -> None:
    out = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_calls": 0}
    )
    assert out["usage"]["cloud_calls"] == 0
    assert out["decisions"][0]["decision"] == "budget_stop"


# --------------------------------------------------------------------------------------------------
# Caps that bind in the middle of a multi-call run, through each protocol

BUDGET_DOC = (
    "The Quillfeather project has a budget of 7,300 euros, approved in March 2025.\n\n"
    "The storeroom holds forty lanterns and two spare brass lenses for the lamp.\n\n"
    "The lighthouse keeper logs the weather every morning at six."
)


def cloud_reply(protocol: str) -> str:
    """A cloud that always wants more: another question, another round, a step that is not final.
    Short enough for the output limit used below (48 tokens), so every reply parses."""
    if protocol == "minion":
        reply: dict[str, Any] = {
            "message": "Tell me more.",
            "decision": "ask",
            "answer": "",
            "reason": "more",
        }
    elif protocol == "minions":
        reply = {
            "tasks": [{"task": "Find the budget", "query": "budget", "advice": ""}],
            "decision": "another_round",
            "answer": "",
            "feedback": "again",
            "scratchpad": "",
            "reason": "more",
        }
    else:
        reply = {"step": "The memo mentions a budget.", "is_final": False, "final_answer": ""}
    return json.dumps(reply)


LOCAL_REPLY = json.dumps(
    {
        "explanation": "the excerpt states it",
        "citation": None,
        "answer": "7,300 euros",
        "step": "The budget is 7,300 euros.",
        "is_final": False,
        "final_answer": "",
        "verdict": "wrong",
        "confidence": 0.9,
        "reason": "unsure",
    }
)
BUILD = {
    "minion": {"max_rounds": 8},
    "minions": {"max_rounds": 8, "chunk_size": 90, "chunk_overlap": 0},
    "adaswitch": {"max_steps": 8, "threshold": 0.5, "verifier": "self_reflection"},  # the scripted verdicts
}


def run(protocol: str, **context: Any) -> tuple[dict[str, Any], LimitedScriptedModel]:
    cloud = LimitedScriptedModel(responder=lambda m: cloud_reply(protocol), model_name="gpt-4o")
    local = LimitedScriptedModel(responder=lambda m: LOCAL_REPLY, model_name="smol")
    graph = protocol_factory(protocol)(local, cloud, **BUILD[protocol])
    out = graph.invoke({"question": "What is the budget?", "documents": [BUDGET_DOC]}, context=context)
    return out, cloud


def one_output_usd(max_tokens: int) -> float:
    return GPT4O.cost(0, max_tokens)


@pytest.mark.parametrize("protocol", ["minion", "minions", "adaswitch"])
@pytest.mark.parametrize("cap_kind", ["max_cloud_tokens", "max_cloud_usd", "max_cloud_calls"])
def test_a_cap_that_binds_mid_run(protocol: str, cap_kind: str) -> None:
    cloud_max_tokens = 48
    free, free_cloud = run(protocol, cloud_max_tokens=cloud_max_tokens)
    calls = free["usage"]["cloud_calls"]
    assert calls >= 5, f"{protocol} made only {calls} cloud calls unbudgeted: too few to cap mid-run"
    assert "budget_stop" not in [d["decision"] for d in free["decisions"]]
    # a cap at about 40% of what the run spends unbudgeted
    spent = {
        "max_cloud_tokens": free["usage"]["cloud_tokens"],
        "max_cloud_usd": free["usage"]["cloud_cost_usd"],
        "max_cloud_calls": calls,
    }[cap_kind]
    cap: float = int(spent * 0.4) if cap_kind != "max_cloud_usd" else spent * 0.4
    slack = {"max_cloud_tokens": cloud_max_tokens, "max_cloud_usd": one_output_usd(cloud_max_tokens)}.get(
        cap_kind, 0
    )
    # without the check the run would overshoot by more than the allowed slack: the test can fail
    assert spent > cap + slack

    out, cloud = run(protocol, cloud_max_tokens=cloud_max_tokens, **{cap_kind: cap})
    usage = out["usage"]
    used = {
        "max_cloud_tokens": usage["cloud_tokens"],
        "max_cloud_usd": usage["cloud_cost_usd"],
        "max_cloud_calls": usage["cloud_calls"],
    }[cap_kind]
    assert 1 <= usage["cloud_calls"] < calls  # it binds in the middle, not before the first call
    assert used <= cap + slack
    stops = [d for d in out["decisions"] if d["decision"] == "budget_stop"]
    assert stops, "the cap bound but no decision says so"
    assert isinstance(out["answer"], str)  # degraded by the protocol's rule, not crashed
    assert len(cloud.calls) == usage["cloud_calls"]  # the ledger counts every call the model saw


def test_cloud_only_dollar_cap_end_to_end() -> None:
    prompt_usd = _cloud_only().invoke({"question": "Code name?", "documents": [DOCUMENT]})["usage"][
        "cloud_cost_usd"
    ]
    below = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_usd": prompt_usd / 2}
    )
    assert below["usage"]["cloud_calls"] == 0 and "dollar cap" in below["decisions"][0]["reason"]
    above = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_usd": prompt_usd * 2}
    )
    assert above["usage"]["cloud_calls"] == 1 and above["usage"]["cloud_cost_usd"] <= prompt_usd * 2


@pytest.mark.parametrize("protocol", ["minion", "minions", "adaswitch"])
def test_repair_retries_are_checked_against_the_budget(protocol: str) -> None:
    """A reply that cannot be parsed is asked for again, with the schema: a full cloud call each time.
    Each retry is checked like a first attempt, so broken replies cannot spend past the cap."""
    cloud_max_tokens = 48

    def broken_run(**context: Any) -> tuple[dict[str, Any], LimitedScriptedModel]:
        cloud = LimitedScriptedModel(responder=lambda m: "I cannot do JSON, sorry.", model_name="gpt-4o")
        local = LimitedScriptedModel(responder=lambda m: LOCAL_REPLY, model_name="smol")
        graph = protocol_factory(protocol)(local, cloud, structured_retries=4, **BUILD[protocol])
        out = graph.invoke(
            {"question": "What is the budget?", "documents": [BUDGET_DOC]},
            context={"cloud_max_tokens": cloud_max_tokens, **context},
        )
        return out, cloud

    free, _ = broken_run()
    first_prompt = free["usage"]["cloud"]["input_tokens"] // max(1, free["usage"]["cloud_calls"])
    cap = 2 * first_prompt  # room for the first attempt, not for all its retries
    assert free["usage"]["cloud_tokens"] > cap + cloud_max_tokens  # without the check: far past it
    out, cloud = broken_run(max_cloud_tokens=cap)
    assert 1 <= len(cloud.calls) < free["usage"]["cloud_calls"]
    assert out["usage"]["cloud_tokens"] <= cap + cloud_max_tokens
    assert "not asked again" in json.dumps(out["decisions"]) + json.dumps(out.get("jobs") or [])
