"""Where the wall time goes: merged busy intervals per kind, per run, also when runs overlap in threads;
and the evaluation's per-item breakdown and report table, with slow scripted models."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage
from rich.console import Console

from langgraph_cloudlocal.evaluation.datasets import EvalItem, save_dataset
from langgraph_cloudlocal.evaluation.results import iter_result_lines
from langgraph_cloudlocal.evaluation.runner import run_evaluation
from langgraph_cloudlocal.testing import ScriptedChatModel
from langgraph_cloudlocal.timing import BusyTimes, busy, measuring_busy_times


def test_intervals_of_one_kind_are_merged_and_other_is_the_idle_rest() -> None:
    times = BusyTimes()
    times.started, times.ended = 0.0, 10.0
    times.add("local", 1.0, 4.0)
    times.add("local", 2.0, 5.0)  # overlaps the first: 1..5 counts 4 s, not 6
    times.add("cloud", 4.5, 6.0)  # overlaps local by 0.5 s
    times.add("embedding", 8.0, 9.0)
    assert times.breakdown() == {
        "wall": 10.0,
        "local": 4.0,
        "cloud": 1.5,
        "embedding": 1.0,
        "other": 10.0 - (5.0 + 1.0),  # busy 1..6 and 8..9
    }


def test_nothing_is_recorded_outside_a_measured_block() -> None:
    with busy("local"):
        pass  # no recorder: a no-op, not an error
    with measuring_busy_times() as recorder:
        with busy("cloud"):
            time.sleep(0.05)
    assert recorder.breakdown()["cloud"] >= 0.05
    assert recorder.breakdown()["local"] == 0.0


def slow(seconds: float, reply: str):  # noqa: ANN201
    def respond(messages: list[BaseMessage]) -> str:
        time.sleep(seconds)
        return reply

    return respond


def test_evaluation_rows_and_report_show_where_the_time_went(tmp_path: Path) -> None:
    items = [EvalItem(f"What is {n} + 1?", n + 1, (f"Numbers: {n}.",), id=f"i{n}") for n in range(4)]
    dataset = save_dataset(items, tmp_path / "sums.jsonl")
    local = ScriptedChatModel(responder=slow(0.05, "5"), model_name="fake-local")
    cloud = ScriptedChatModel(responder=slow(0.2, "5"), model_name="fake-cloud")
    summary = run_evaluation(
        "local-only,cloud-only",
        dataset,
        tmp_path / "out",
        local,
        cloud,
        max_concurrency=4,  # items overlap: each row must still count only its own calls
        console=Console(file=io.StringIO(), width=200),
    )
    assert summary.errors == 0
    rows = list(iter_result_lines(tmp_path / "out" / "results.jsonl"))
    for row in rows:
        seconds = row["time_seconds"]
        assert set(seconds) == {"wall", "local", "cloud", "embedding", "other"}
        assert seconds["wall"] <= row["wall_seconds"] + 0.01
        if row["protocol"] == "local-only":
            assert seconds["local"] == pytest.approx(0.05, abs=0.04) and seconds["cloud"] == 0.0
        else:
            assert seconds["cloud"] == pytest.approx(0.2, abs=0.08) and seconds["local"] == 0.0
        assert seconds["other"] == pytest.approx(
            seconds["wall"] - seconds["local"] - seconds["cloud"], abs=0.01
        )
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Where the wall time went" in report
    assert "| Protocol | Wall s | Local s | Cloud s | Embedding s | Other s |" in report
    cloud_line = next(line for line in report.splitlines() if line.startswith("| cloud-only |"))
    assert "0.0 (0%)" in cloud_line  # no local time in cloud-only


def test_store_embedding_time_is_recorded() -> None:
    from langchain_core.embeddings import Embeddings

    from langgraph_cloudlocal.store import ChunkStore

    class SlowEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            time.sleep(0.05)
            return [[float(len(t)), 1.0, 0.5] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            time.sleep(0.05)
            return [float(len(text)), 1.0, 0.5]

    with ChunkStore.in_memory("timing", embedding=SlowEmbeddings()) as store:
        with measuring_busy_times() as recorder:
            store.add_documents("The lighthouse keeper logs the weather every morning.")
            store.search("weather", k=1)
    assert recorder.breakdown()["embedding"] >= 0.1  # one ingest, one query
