"""AdaSwitch's routing rule at its edges: a step whose score is *above* the threshold is escalated
(protocols/adaswitch.py: ``flagged = score > threshold``). A score exactly at the threshold is kept;
``threshold=0`` escalates any doubt at all; ``threshold=1`` never escalates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
from langgraph_cloudlocal.testing import ScriptedChatModel

FINAL_STEP = json.dumps({"step": "The answer is 12.", "is_final": True, "final_answer": "12"})
CLOUD_STEP = json.dumps({"step": "The cloud says 13.", "is_final": True, "final_answer": "13"})


def run(score: float, threshold: float) -> tuple[dict[str, Any], ScriptedChatModel]:
    local = ScriptedChatModel(replies=[FINAL_STEP], model_name="smol")
    cloud = ScriptedChatModel(replies=[CLOUD_STEP], model_name="gpt-4o")
    graph = create_adaswitch(local, cloud, verifier_fn=lambda question, steps, step: score, max_steps=2)
    out = graph.invoke({"question": "What is 5 + 7?"}, context={"threshold": threshold})
    return out, cloud


def verify_decision(out: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in out["decisions"] if d["node"] == "verify")


@pytest.mark.parametrize(
    ("score", "threshold", "escalated"),
    [
        (0.5, 0.5, False),  # exactly at the threshold: kept
        (0.5000001, 0.5, True),  # just above: escalated
        (0.4999999, 0.5, False),
        (0.0, 0.0, False),  # threshold 0: no doubt at all is kept ...
        (1e-9, 0.0, True),  # ... any doubt goes to the cloud
        (1.0, 0.0, True),
        (1.0, 1.0, False),  # threshold 1: never escalated, even when surely wrong
        (0.0, 1.0, False),
    ],
)
def test_routing_at_the_threshold(score: float, threshold: float, escalated: bool) -> None:
    out, cloud = run(score, threshold)
    decision = verify_decision(out)
    assert decision["decision"] == ("escalate" if escalated else "accept")
    assert decision["score"] == score and decision["threshold"] == threshold
    assert len(cloud.calls) == (1 if escalated else 0)
    assert out["answer"] == ("13" if escalated else "12")
    assert out["usage"]["cloud_calls"] == len(cloud.calls)
