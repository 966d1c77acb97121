"""The arithmetic verifier on real SmolLM2 steps: every step is scored by recomputing it (no verifier
call), scores are the documented levels, the reason says what was found, and only steps scored above
the threshold reach the "cloud" (SmolLM2 here too). Structure, not correctness."""

from __future__ import annotations

from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
from langgraph_cloudlocal.protocols.step_checks import SCORE_LEVELS, check_step

QUESTION = "Tom has 3 boxes with 12 apples in each box. He eats 5 apples. How many apples does he have left?"
SMALL = {"max_steps": 3, "local_max_tokens": 64, "cloud_max_tokens": 64}


def test_arithmetic_verifier_scores_real_steps_without_a_verifier_call(smollm2_spec: str) -> None:
    graph = create_adaswitch(smollm2_spec, smollm2_spec, verifier="arithmetic", threshold=0.9, **SMALL)
    out = graph.invoke({"question": QUESTION})
    steps = out["steps"]
    assert 1 <= len(steps) <= SMALL["max_steps"]
    routes = [d for d in out["decisions"] if d["decision"] in ("accept", "escalate")]
    assert len(routes) == len(steps)
    accepted_texts: list[str] = []
    for step, route in zip(steps, routes, strict=True):
        assert step["verifier"] == "arithmetic" and step["score"] in SCORE_LEVELS
        assert "arithmetic" in route["reason"]
        assert (route["decision"] == "escalate") == (step["score"] > 0.9) == (step["author"] == "cloud")
        # The score of a kept local step is what the check gives for its text, recomputed here.
        if step["author"] == "local":
            recomputed = check_step([QUESTION, *accepted_texts], step["text"], step["final_answer"] or None)
            assert recomputed.score == step["score"]
        accepted_texts.append(step["text"])
    usage = out["usage"]
    # Local calls are step calls only (at most 1 + 2 retries each): no self-reflection call.
    local_steps = len(steps)
    assert local_steps <= usage["local"]["calls"] <= 3 * local_steps
    assert (usage["cloud_calls"] > 0) == any(s["author"] == "cloud" for s in steps)
    assert out["decisions"][-1]["decision"] in ("answer", "step_cap")
