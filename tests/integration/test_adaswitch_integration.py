"""AdaSwitch against the real SmolLM2 (both roles): the loop, each model-based verifier, and the
collaborative examination -> fine-tuning export path. Small models are often wrong: these tests check
structure, usage and decisions, not answers. Kept small (few steps, short replies)."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
from langgraph_cloudlocal.trajectories import collaborative_examination, export_finetuning, read_trajectories

QUESTION = "Tom has 3 apples and buys 5 more. Then he eats 2. How many apples does he have?"
SMALL = {"max_steps": 2, "local_max_tokens": 64, "cloud_max_tokens": 64, "verifier_max_tokens": 40}


def _check_run(out: dict, verifier: str) -> None:
    steps = out["steps"]
    assert 1 <= len(steps) <= SMALL["max_steps"]
    assert [s["index"] for s in steps] == list(range(1, len(steps) + 1))
    assert all(s["author"] in ("local", "cloud") and s["text"] for s in steps)
    assert all(0.0 <= s["score"] <= 1.0 and s["verifier"] == verifier for s in steps)
    assert isinstance(out["answer"], str) and out["answer"]
    routes = [d for d in out["decisions"] if d["decision"] in ("accept", "escalate")]
    assert len(routes) == len(steps)
    assert all(d["score"] is not None and d["threshold"] is not None for d in routes)
    assert out["decisions"][-1]["decision"] in ("answer", "step_cap")
    usage = out["usage"]
    assert usage["local"]["calls"] >= len(steps) and usage["local"]["output_tokens"] > 0
    escalations = sum(1 for d in out["decisions"] if d["decision"] == "escalate")
    assert usage["cloud_calls"] >= sum(1 for s in steps if s["author"] == "cloud")  # retries count too
    assert (usage["cloud_calls"] == 0) == (escalations == 0)
    assert usage["private_chars_to_cloud"] == 0


def test_self_reflection_on_smollm2_escalates_every_doubt(smollm2_spec: str) -> None:
    # threshold 0: every step with any doubt goes to the "cloud" (SmolLM2 here too).
    graph = create_adaswitch(smollm2_spec, smollm2_spec, verifier="self_reflection", threshold=0.0, **SMALL)
    out = graph.invoke({"question": QUESTION})
    _check_run(out, "self_reflection")
    escalated = [d for d in out["decisions"] if d["decision"] == "escalate"]
    assert len(escalated) == sum(1 for s in out["steps"] if s["flagged"])
    for step in out["steps"]:
        if step["author"] == "cloud":
            assert step["flagged"] and "replaced_local_text" in step
    # Structural only: whether SmolLM2 doubts its own step is the model's call (a verdict "correct" with
    # confidence 1.0 scores 0, which threshold 0 keeps). _check_run ties cloud calls to escalations either
    # way; test_a_doubted_step_is_rewritten_by_the_real_cloud forces the escalation path.


def test_a_doubted_step_is_rewritten_by_the_real_cloud(smollm2_spec: str) -> None:
    """Escalation for certain: a verifier that doubts the first step, SmolLM2 in both roles over HTTP."""
    graph = create_adaswitch(
        smollm2_spec, smollm2_spec, verifier_fn=lambda question, steps, step: 0.0 if steps else 1.0, **SMALL
    )
    out = graph.invoke({"question": QUESTION})
    _check_run(out, "callable")
    first = out["steps"][0]
    assert first["flagged"] and first["author"] == "cloud" and "replaced_local_text" in first
    assert [d["decision"] for d in out["decisions"]][:2] == ["escalate", "cloud_step"]
    usage = out["usage"]
    assert usage["cloud_calls"] >= 1 and usage["cloud"]["input_tokens"] > 0
    assert usage["cloud"]["output_tokens"] > 0


def test_logprob_verifier_reads_real_token_logprobs(smollm2_spec: str) -> None:
    graph = create_adaswitch(smollm2_spec, smollm2_spec, verifier="logprobs", threshold=1.0, **SMALL)
    out = graph.invoke({"question": QUESTION, "documents": ["Tom's basket: 3 apples on Monday."]})
    _check_run(out, "logprobs")
    assert "verifier_malformed" not in [d["decision"] for d in out["decisions"]]
    assert all("logprobs:" in d["reason"] for d in out["decisions"] if d["decision"] == "accept")
    assert out["usage"]["cloud_calls"] == 0  # threshold 1.0 never escalates
    # No separate verifier call: only step calls (each with at most 1 + structured_retries attempts).
    assert out["usage"]["local"]["calls"] <= len(out["steps"]) * 3


def test_examination_export_excludes_flagged_steps_from_the_loss(smollm2_spec: str, tmp_path: Path) -> None:
    items = [
        {"id": "apples", "question": QUESTION, "answer": 6},
        {"id": "sum", "question": "What is 2 + 2?", "answer": 4},
    ]
    # A verifier that doubts each trajectory's first step, so that every trajectory has a flagged local
    # step whatever SmolLM2 would think of it (the export's weights are what is tested here).
    graph = create_adaswitch(
        smollm2_spec, smollm2_spec, verifier_fn=lambda question, steps, step: 0.0 if steps else 1.0, **SMALL
    )
    trajectories = tmp_path / "trajectories.jsonl"
    summary = collaborative_examination(graph, items, trajectories)
    assert summary.written == 2 and summary.failed == []
    lines = trajectories.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["id"] in ("apples", "sum") for line in lines)
    records = read_trajectories(trajectories)
    # Resuming finds both done.
    assert collaborative_examination(graph, items, trajectories).skipped == 2

    export = export_finetuning(trajectories, tmp_path / "ft", only_correct=False)
    sft_lines = export.sft_path.read_text().splitlines()
    examples = [json.loads(line) for line in sft_lines]  # every line parses
    flagged_local = sum(1 for r in records for s in r["steps"] if s["flagged"])
    zero_weight: list[str] = []
    for example in examples:
        for message in example["messages"]:
            assert message["role"] in ("system", "user", "assistant")
            if message["role"] == "assistant":
                assert message["weight"] in (0, 1)
                json.loads(message["content"])  # each step is the JSON the local model writes
                if message["weight"] == 0:
                    zero_weight.append(json.loads(message["content"])["step"])
    # Every flagged local step (replaced draft or kept step) is in the data with weight 0.
    flagged_texts = [
        s.get("replaced_local_text", s["text"]) for r in records for s in r["steps"] if s["flagged"]
    ]
    assert flagged_local == len(flagged_texts) >= 2  # one per trajectory at least
    assert examples, "each trajectory has a weight-1 step (the cloud's rewrite): none was exported"
    for text in flagged_texts:
        assert text in zero_weight
    for line in export.verifier_path.read_text().splitlines():
        json.loads(line)
