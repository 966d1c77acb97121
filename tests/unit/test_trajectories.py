"""Collaborative examination (durable, resumable trajectory lines), fine-tuning export (weights,
deduplication, verifier labels) and threshold calibration, with scripted models."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.prompts import adaswitch as prompts
from langgraph_cloudlocal.prompts.baselines import SYSTEM_STEPS
from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
from langgraph_cloudlocal.testing import ScriptedChatModel
from langgraph_cloudlocal.trajectories import (
    TRAJECTORY_SCHEMA,
    append_line,
    calibrate,
    collaborative_examination,
    export_finetuning,
    parse_target,
    prompt_completion_rows,
    read_trajectories,
    sft_messages,
    thresholds_between,
    verifier_pairs,
)

ITEMS = [
    {"id": "a", "question": "Question A: 2 + 3?", "answer": 5},
    {"id": "b", "question": "Question B: 10 - 4?", "answer": 6},
    {"id": "c", "question": "Question C: 3 * 3?", "answer": 9},
]
GOLD = {"A": "5", "B": "6", "C": "9"}


def step(text: str, final: str | None = None) -> str:
    return json.dumps({"step": text, "is_final": final is not None, "final_answer": final or ""})


def _letter(messages: list[BaseMessage]) -> str:
    found = re.search(r"Question ([A-Z])", "\n".join(str(m.content) for m in messages))
    assert found, "no question in the prompt"
    return found.group(1)


def local_model() -> ScriptedChatModel:
    """Step 1 is a setup step; step 2 is a wrong final answer ("0"). The verifier doubts step 2."""

    def reply(messages: list[BaseMessage]) -> str:
        if messages[0].content == prompts.VERIFIER_SYSTEM:
            wrong = "Step to check: so the answer is 0" in str(messages[-1].content)
            return json.dumps({"verdict": "wrong" if wrong else "correct", "confidence": 0.9})
        letter = _letter(messages)
        turns = sum(1 for m in messages if m.type == "ai")
        return step(f"read question {letter}") if turns == 0 else step("so the answer is 0", "0")

    return ScriptedChatModel(responder=reply, model_name="smol")


def cloud_model() -> ScriptedChatModel:
    def reply(messages: list[BaseMessage]) -> str:
        letter = _letter(messages)
        if messages[0].content == prompts.CLOUD_SYSTEM:
            return step(f"the result is {GOLD[letter]}", GOLD[letter])
        return f"The answer is {GOLD[letter]}."  # the cloud-only yardstick

    return ScriptedChatModel(responder=reply, model_name="gpt-4o")


def graph(**settings: Any) -> Any:
    settings.setdefault("verifier", "self_reflection")  # the scripted local model gives verdicts
    return create_adaswitch(local_model(), cloud_model(), **settings)


# --------------------------------------------------------------------------------------------------
# Collaborative examination


def test_examination_writes_one_complete_line_per_item(tmp_path: Path) -> None:
    out = tmp_path / "traj.jsonl"
    summary = collaborative_examination(graph(), ITEMS, out)
    assert summary.written == 3 and summary.skipped == 0 and summary.failed == []
    assert summary.correct == 3 and summary.escalations == 3
    raw = out.read_text()
    assert raw.endswith("\n") and len(raw.splitlines()) == 3
    records = [json.loads(line) for line in raw.splitlines()]
    first = records[0]
    assert first["schema"] == TRAJECTORY_SCHEMA and first["id"] == "a"
    assert first["gold"] == 5 and first["answer"] == "5" and first["correct"] is True
    assert [s["author"] for s in first["steps"]] == ["local", "cloud"]
    assert first["steps"][1]["replaced_local_text"] == "so the answer is 0"
    assert first["steps"][1]["replaced_local_final_answer"] == "0"
    assert first["flagged_steps"] == [2] and first["escalations"] == 1
    assert first["threshold"] == 0.5 and first["verifier"] == "self_reflection"
    assert first["usage"]["cloud_calls"] == 1 and first["usage"]["cloud_model"] == "gpt-4o"
    assert first["decisions"]["escalate"] == 1


def test_examination_records_wrong_answers_too(tmp_path: Path) -> None:
    out = tmp_path / "traj.jsonl"
    summary = collaborative_examination(graph(), ITEMS[:1], out, context={"threshold": 1.0})
    assert summary.correct == 0
    (record,) = read_trajectories(out)
    assert record["correct"] is False and record["answer"] == "0" and record["escalations"] == 0
    assert record["flagged_steps"] == []  # 0.9 is not above 1.0


def test_examination_resumes_and_drops_a_partial_last_line(tmp_path: Path) -> None:
    out = tmp_path / "traj.jsonl"
    collaborative_examination(graph(), ITEMS[:2], out)
    with out.open("ab") as handle:  # a line cut off by something that was killed mid-write
        handle.write(b'{"schema": "' + TRAJECTORY_SCHEMA.encode() + b'", "id": "c", "ques')
    assert len(read_trajectories(out)) == 2  # readers ignore it
    summary = collaborative_examination(lambda: graph(), ITEMS, out)  # a factory works too
    assert summary.skipped == 2 and summary.written == 1
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]


def test_failed_items_are_not_written_and_are_retried(tmp_path: Path) -> None:
    out = tmp_path / "traj.jsonl"
    broken = create_adaswitch(
        ScriptedChatModel(error=RuntimeError("local server exploded"), model_name="smol"), cloud_model()
    )
    summary = collaborative_examination(broken, ITEMS[:2], out)
    assert summary.written == 0 and [i for i, _ in summary.failed] == ["a", "b"]
    assert "exploded" in summary.failed[0][1]
    assert collaborative_examination(graph(), ITEMS[:2], out).written == 2


def test_examination_in_parallel_writes_every_item_once(tmp_path: Path) -> None:
    out = tmp_path / "traj.jsonl"
    items = [{"question": f"Question {c}: what?", "answer": GOLD[c]} for c in "ABC"] * 2  # duplicates
    messages: list[str] = []
    summary = collaborative_examination(graph(), items, out, max_concurrency=3, progress=messages.append)
    assert summary.written == 3 and len(messages) == 3
    assert len({r["id"] for r in read_trajectories(out)}) == 3


def test_append_line_is_one_write_of_a_whole_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.jsonl"
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        append_line(fd, {"id": "x", "text": "line\nbreak é"})
    finally:
        os.close(fd)
    assert len(writes) == 1 and writes[0].endswith(b"\n") and writes[0].count(b"\n") == 1
    assert json.loads(path.read_text()) == {"id": "x", "text": "line\nbreak é"}


# --------------------------------------------------------------------------------------------------
# Fine-tuning export

TRAJECTORY = {
    "schema": TRAJECTORY_SCHEMA,
    "id": "t1",
    "question": "Natalia: 48 in April, half in May. Total?",
    "documents": [],
    "correct": True,
    "steps": [
        {
            "index": 1,
            "author": "local",
            "text": "April 48.",
            "is_final": False,
            "final_answer": "",
            "flagged": False,
        },
        {
            "index": 2,
            "author": "cloud",
            "text": "May 48 / 2 = 24.",
            "is_final": False,
            "final_answer": "",
            "flagged": True,
            "replaced_local_text": "May 48 + 2 = 50.",
        },
        {
            "index": 3,
            "author": "local",
            "text": "Kept anyway.",
            "is_final": False,
            "final_answer": "",
            "flagged": True,
        },
        {
            "index": 4,
            "author": "local",
            "text": "Total 72.",
            "is_final": True,
            "final_answer": "72",
            "flagged": False,
        },
    ],
}


def test_sft_messages_exclude_flagged_local_steps_from_the_loss() -> None:
    messages = sft_messages(TRAJECTORY)
    assert [m["role"] for m in messages[:2]] == ["system", "user"]
    assert messages[0]["content"] == prompts.LOCAL_SYSTEM
    assistant = [
        (json.loads(m["content"])["step"], m["weight"]) for m in messages if m["role"] == "assistant"
    ]
    assert assistant == [
        ("April 48.", 1),
        ("May 48 + 2 = 50.", 0),  # the wrong local draft: context only
        ("May 48 / 2 = 24.", 1),  # the cloud's correction
        ("Kept anyway.", 0),  # flagged, kept because the budget ran out
        ("Total 72.", 1),
    ]
    correction = messages.index(next(m for m in messages if m.get("weight") == 0)) + 1
    assert messages[correction] == {"role": "user", "content": prompts.CORRECTION_REQUEST}
    assert json.loads(messages[-1]["content"]) == {
        "step": "Total 72.",
        "is_final": True,
        "final_answer": "72",
    }
    assert all("weight" not in m for m in messages if m["role"] != "assistant")
    rows = prompt_completion_rows(messages)
    assert len(rows) == 3
    assert (
        rows[1]["completion"][0]["content"]
        == messages[[i for i, m in enumerate(messages) if m.get("weight") == 1][1]]["content"]
    )
    assert all("weight" not in m for row in rows for m in row["prompt"] + row["completion"])


def test_verifier_pairs_labels() -> None:
    pairs = verifier_pairs(TRAJECTORY)
    labelled = [(p["step"], p["wrong"], p["source"]) for p in pairs]
    assert labelled == [
        ("April 48.", False, "accepted_local"),
        ("May 48 + 2 = 50.", True, "replaced_by_cloud"),
        ("May 48 / 2 = 24.", False, "cloud_step"),
        ("Total 72.", False, "accepted_local"),
    ]
    assert pairs[1]["steps_so_far"] == ["April 48."]
    assert pairs[3]["steps_so_far"] == ["April 48.", "May 48 / 2 = 24.", "Kept anyway."]
    assert pairs[3]["final_answer"] == "72"


def test_cloud_agreeing_with_the_draft_is_not_a_wrong_label() -> None:
    trajectory = dict(TRAJECTORY)
    trajectory["steps"] = [
        {"index": 1, "author": "cloud", "text": "Total 72.", "is_final": True, "final_answer": "72",
         "flagged": True, "replaced_local_text": "total: 72", "replaced_local_final_answer": "72"},
    ]  # fmt: skip
    pairs = verifier_pairs(trajectory)
    assert [(p["wrong"], p["source"]) for p in pairs] == [(False, "cloud_agreed"), (False, "cloud_step")]


def _write_trajectories(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_export_writes_deduplicated_files_and_filters_wrong_runs(tmp_path: Path) -> None:
    wrong = dict(TRAJECTORY, id="t2", correct=False)
    source = tmp_path / "traj.jsonl"
    _write_trajectories(source, [TRAJECTORY, dict(TRAJECTORY, id="t1-again"), wrong])
    with source.open("a") as handle:
        handle.write('{"schema": "' + TRAJECTORY_SCHEMA + '", "id": "cut')  # partial line: ignored
    summary = export_finetuning(source, tmp_path / "out")
    assert summary.trajectories == 3 and summary.used == 2
    assert summary.sft_examples == 1 and summary.sft_prompt_completion_rows == 3
    assert summary.verifier_examples == 4 and summary.wrong_steps == 1
    assert summary.duplicates_dropped > 0
    for path in (
        summary.sft_path,
        summary.sft_prompt_completion_path,
        summary.verifier_path,
        summary.verifier_pairs_path,
    ):
        lines = path.read_text().splitlines()
        assert lines and all(json.loads(line) for line in lines)
    (sft,) = [json.loads(line) for line in summary.sft_path.read_text().splitlines()]
    assert set(sft) == {"messages"}
    verifier = [json.loads(line) for line in summary.verifier_path.read_text().splitlines()]
    assert verifier[1]["messages"][0]["content"] == prompts.VERIFIER_SYSTEM
    assert json.loads(verifier[1]["messages"][-1]["content"]) == {"verdict": "wrong", "confidence": 1.0}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left
    assert summary.as_dict()["sft_path"].endswith("sft.jsonl")

    everything = export_finetuning(source, tmp_path / "all", only_correct=False)
    assert everything.used == 3 and everything.sft_examples == 1  # the wrong run has the same messages


def test_export_skips_conversations_without_trainable_turns(tmp_path: Path) -> None:
    only_flagged = dict(
        TRAJECTORY,
        steps=[
            {
                "index": 1,
                "author": "local",
                "text": "x",
                "is_final": True,
                "final_answer": "1",
                "flagged": True,
            }
        ],
    )
    source = tmp_path / "traj.jsonl"
    _write_trajectories(source, [only_flagged])
    summary = export_finetuning(source, tmp_path / "out")
    assert summary.sft_examples == 0 and summary.sft_path.read_text() == ""


def test_export_round_trip_from_a_real_examination(tmp_path: Path) -> None:
    source = tmp_path / "traj.jsonl"
    collaborative_examination(graph(), ITEMS, source)
    summary = export_finetuning(source, tmp_path / "out")
    assert summary.sft_examples == 3
    for line in summary.sft_path.read_text().splitlines():
        messages = json.loads(line)["messages"]
        weights = [m["weight"] for m in messages if m["role"] == "assistant"]
        assert weights == [1, 0, 1]  # setup step, wrong final draft, cloud's final step


def test_missing_trajectory_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        export_finetuning(tmp_path / "nope.jsonl", tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# Calibration


def _scored_graph() -> Any:
    """Local always ends wrong ("0"); its doubt about item A/B/C is 0.2/0.5/0.8; the cloud fixes it."""
    doubt = {"A": 0.2, "B": 0.5, "C": 0.8}

    def verifier(question: str, steps: list[str], new_step: str) -> float:
        letter = re.search(r"Question ([A-Z])", question).group(1)  # type: ignore[union-attr]
        return doubt[letter] if "answer is 0" in new_step else 0.0

    return create_adaswitch(local_model(), cloud_model(), verifier_fn=verifier)


def test_calibrate_sweeps_and_picks_the_cheapest_threshold_meeting_an_accuracy_floor() -> None:
    result = calibrate(
        ITEMS, graph=_scored_graph(), cloud=cloud_model(), local=local_model(),
        thresholds=[0.9, 0.0, 0.3, 0.6], target="accuracy>=0.6",
    )  # fmt: skip
    assert result.baseline["accuracy"] == 1.0 and result.baseline["cloud_tokens"] > 0
    assert [r.threshold for r in result.rows] == [0.0, 0.3, 0.6, 0.9]
    assert [r.correct for r in result.rows] == [3, 2, 1, 0]
    assert [r.escalations for r in result.rows] == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    tokens = [r.cloud_tokens for r in result.rows]
    assert tokens == sorted(tokens, reverse=True) and tokens[-1] == 0
    assert [r.meets_target for r in result.rows] == [True, True, False, False]
    assert result.chosen == 0.3
    assert "Chosen threshold: 0.30" in result.note
    table = result.render()
    assert "threshold" in table and "yes*" in table and "Cloud-only yardstick" in table
    assert json.dumps(result.as_dict())


def test_calibrate_token_ceiling_picks_the_most_accurate_within_budget() -> None:
    baseline = {"accuracy": 1.0, "cloud_tokens": 1000.0, "cloud_usd": 0.01}
    result = calibrate(
        ITEMS,
        graph=_scored_graph(),
        baseline=baseline,
        thresholds=[0.0, 0.3, 0.6, 0.9],
        target="cloud_tokens<=0%",
    )
    assert result.chosen == 0.9  # only the no-escalation threshold spends no cloud tokens
    generous = calibrate(
        ITEMS,
        graph=_scored_graph(),
        baseline=baseline,
        thresholds=[0.0, 0.3, 0.6, 0.9],
        target="cloud_tokens<=100%",
    )
    assert generous.chosen == 0.0  # everything fits: the most accurate


def test_calibrate_reports_the_closest_when_nothing_meets_the_target() -> None:
    baseline = {"accuracy": 1.0, "cloud_tokens": 1000.0}
    result = calibrate(
        ITEMS, graph=_scored_graph(), baseline=baseline, thresholds=[0.6, 0.9], target="accuracy>=95%"
    )
    assert result.chosen is None
    assert "No threshold meets" in result.note and "0.60" in result.note


@pytest.mark.parametrize("bad", ["accuracy<=0.9", "cloud_tokens>=0.3", "speed>=2", "", "accuracy>=x"])
def test_bad_targets(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_target(bad)


def test_bad_thresholds() -> None:
    with pytest.raises(ValueError):
        calibrate(ITEMS, graph=_scored_graph(), baseline={"accuracy": 1, "cloud_tokens": 1}, thresholds=[1.5])


def test_thresholds_between_cuts_between_observed_scores() -> None:
    assert thresholds_between([0.0, 0.4, 0.4, 1.0]) == [0.2, 0.7, 1.0]
    assert thresholds_between([0.3, 0.8]) == [0.15, 0.55, 1.0]  # s1/2 escalates every step
    assert thresholds_between([]) == [1.0]
    many = thresholds_between([i / 100 for i in range(100)], max_count=3)
    assert len(many) == 4 and many[-1] == 1.0 and many == sorted(many)


def test_calibrate_auto_reads_the_scores_then_sweeps_the_values_between_them() -> None:
    graph = _scored_graph()
    calls: list[float] = []
    original = graph.invoke

    def counting_invoke(inputs: Any, config: Any = None, **kwargs: Any) -> Any:
        calls.append(kwargs["context"]["threshold"])
        return original(inputs, config, **kwargs)

    graph.invoke = counting_invoke  # type: ignore[method-assign]
    baseline = {"accuracy": 1.0, "cloud_tokens": 1000.0}
    result = calibrate(ITEMS, graph=graph, baseline=baseline, target="accuracy>=0.6")
    # Scores seen at 1.0: 0.0 (setup steps) and 0.2 / 0.5 / 0.8 (the wrong final steps).
    assert [r.threshold for r in result.rows] == [0.1, 0.35, 0.65, 1.0]
    assert [r.correct for r in result.rows] == [3, 2, 1, 0]
    assert calls.count(1.0) == len(ITEMS)  # the first pass is the 1.0 row, not run twice
    assert len(calls) == 4 * len(ITEMS)
    assert result.chosen == 0.35 and result.closest == 0.35
    assert result.as_dict()["closest"] == 0.35


def test_calibrate_yardstick_is_cloud_only_with_worked_steps_by_default() -> None:
    seen: list[str] = []

    def reply(messages: list[BaseMessage]) -> str:
        seen.append(str(messages[0].content))
        letter = _letter(messages)
        if messages[0].content == prompts.CLOUD_SYSTEM:
            return step(f"the result is {GOLD[letter]}", GOLD[letter])
        return f"Answer: {GOLD[letter]}"

    cloud = ScriptedChatModel(responder=reply, model_name="gpt-4o")
    calibrate(ITEMS, graph=_scored_graph(), local=local_model(), cloud=cloud, thresholds=[1.0])
    assert SYSTEM_STEPS in seen
    seen.clear()
    calibrate(
        ITEMS,
        graph=_scored_graph(),
        local=local_model(),
        cloud=cloud,
        thresholds=[1.0],
        baseline_reasoning="brief",
    )
    assert SYSTEM_STEPS not in seen and seen


@pytest.mark.parametrize(
    "kwargs", [{"thresholds": "some"}, {"baseline_reasoning": "long"}, {"max_auto_thresholds": 0}]
)
def test_calibrate_bad_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        calibrate(ITEMS, graph=_scored_graph(), baseline={"accuracy": 1, "cloud_tokens": 1}, **kwargs)


def test_calibrate_closest_among_equals_is_the_cheapest() -> None:
    baseline = {"accuracy": 1.0, "cloud_tokens": 1000.0}
    # The cloud's replacement is wrong too: every threshold scores 0%.
    wrong_cloud = ScriptedChatModel(responder=lambda m: step("the result is 1", "1"), model_name="gpt-4o")
    never_right = create_adaswitch(
        local_model(), wrong_cloud, verifier_fn=lambda q, steps, new: 0.9 if "answer is 0" in new else 0.0
    )
    result = calibrate(
        ITEMS, graph=never_right, baseline=baseline, thresholds=[0.5, 1.0], target="accuracy>=0.8"
    )
    assert [r.correct for r in result.rows] == [0, 0] and result.rows[0].cloud_tokens > 0
    assert result.chosen is None and result.closest == 1.0  # no cloud tokens for the same 0%
