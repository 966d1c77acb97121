"""An evaluation run on 3 shipped items with the real embedded SmolLM2 (as both local and cloud model):
results with real token counts, the report and plot, and a resume that has nothing left to do.

The yardsticks only: they exercise every part of the runner with real models in about a minute; the
collaborative protocols have their own integration tests (and the runner is protocol-agnostic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_cloudlocal.evaluation import load_dataset, run_evaluation
from langgraph_cloudlocal.evaluation.results import iter_result_lines

DATASET = Path(__file__).resolve().parents[2] / "datasets" / "records.jsonl"
PROTOCOLS = ["local-only", "cloud-only"]


def test_eval_run_on_three_items_with_smollm2(smollm2_spec: str, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    summary = run_evaluation(
        PROTOCOLS, DATASET, out, smollm2_spec, smollm2_spec, limit=3, max_concurrency=3, progress=False
    )
    assert not summary.interrupted and summary.ran == 6 and summary.errors == 0, [
        row.get("error") for row in iter_result_lines(out / "results.jsonl")
    ]
    items = {item.id: item for item in load_dataset(DATASET, limit=3)}
    rows = list(iter_result_lines(out / "results.jsonl"))
    assert {(r["item_id"], r["protocol"]) for r in rows} == {(i, p) for i in items for p in PROTOCOLS}
    for row in rows:
        usage = row["usage"]
        assert row["status"] == "ok" and isinstance(row["correct"], bool) and row["wall_seconds"] > 0
        assert row["question"] == items[row["item_id"]].question and row["decisions"] >= 1
        assert row["match"]["metric"] in ("numeric", "choice", "contains")
        document_tokens = len(items[row["item_id"]].documents[0]) // 6
        if row["protocol"] == "local-only":
            assert usage["cloud"]["calls"] == 0 and usage["local"]["input_tokens"] > document_tokens
        else:
            assert usage["cloud"]["input_tokens"] > document_tokens and usage["private_chars_to_cloud"] > 0
    by_protocol = {s.protocol: s for s in summary.stats}
    assert set(by_protocol) == set(PROTOCOLS) and all(s.items == 3 for s in summary.stats)
    assert by_protocol["cloud-only"].cloud_only_source == "measured"
    assert by_protocol["cloud-only"].reduction == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    assert "`cloud-only`" in report and "smollm2" in report
    assert (out / "cost_accuracy.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "summary.json").read_text())["stats"]

    again = run_evaluation(PROTOCOLS, DATASET, out, smollm2_spec, smollm2_spec, limit=3, progress=False)
    assert again.ran == 0 and again.skipped == 6
    assert len(list(iter_result_lines(out / "results.jsonl"))) == 6
