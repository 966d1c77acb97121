"""Durable resume: SIGKILL a process in the middle of a MinionS fan-out, resume the thread in a new process.

The run (tests/faults/resume_worker.py) uses ``SqliteSaver`` on a file; its local model appends a line per
call to a log, and blocks forever after K calls so the process is stuck mid fan-out with exactly K jobs
finished. The test SIGKILLs it (no cleanup, no atexit), then a second process resumes the same thread with
``graph.invoke(None, config)``. Asserted from the call log and the output:

* the run completes with the answer;
* the K jobs finished before the kill are not run again (one model call each in total);
* the plan is not asked for again; every job's result is computed exactly once;
* the ledger is not double counted: the usage equals the unique calls that returned.

LangGraph saves a finished ``Send`` task's writes as pending writes of the running step, so siblings
that finished survive a crash — but the saving is queued on the same thread pool as the tasks. With
``max_concurrency`` below the number of jobs, the writes wait behind jobs that have not started, and a
crash before the last job starts would lose the finished ones (see docs/scale-out.md). MinionS therefore
fans out in waves no larger than ``max_concurrency``, each ending in a checkpoint; the last test checks it.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults import tally
from tests.faults.resume_worker import N_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
FINISHED_BEFORE_KILL = 2


def worker(mode: str, db: Path | str, log: Path, *extra: str) -> subprocess.Popen[str]:
    thread = f"thread-{log.parent.name}"  # one thread per test: a Postgres database is shared by several
    cmd = [sys.executable, "-m", "tests.faults.resume_worker", mode, "--db", str(db), "--thread", thread]
    return subprocess.Popen(
        [*cmd, "--log", str(log), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


def kill_mid_fan_out_then_resume(
    tmp_path: Path, *options: str, db: Path | str | None = None
) -> dict[str, Any]:
    """Start a worker, SIGKILL it with FINISHED_BEFORE_KILL jobs finished, resume in a new worker.

    ``db``: the SQLite file (default: one in ``tmp_path``), or a Postgres URL with
    ``"--checkpointer", "postgres"`` in ``options``.
    """
    db, log = db or tmp_path / "runs.sqlite", tmp_path / "calls.log"
    first = worker("start", db, log, "--block-after", str(FINISHED_BEFORE_KILL), *options)
    ends = lambda: [line for line in lines(log) if line.startswith("end ")]  # noqa: E731
    wait_for(lambda: len(ends()) >= FINISHED_BEFORE_KILL, 120, "the first jobs to finish", first)
    # Finished means finished a while ago: give the finished jobs a second to be saved.
    time.sleep(1.0)
    before = lines(log)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    tally.fault()
    assert first.returncode == -signal.SIGKILL
    assert "process done" not in before and "cloud synthesize" not in before

    second = worker("resume", db, log, *options)
    try:
        stdout, stderr = second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(10)
    assert second.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    return {"out": out, "before": before, "after": lines(log)[len(before) :]}


def check_resumed_run(result: dict[str, Any]) -> None:
    out, before, after = result["out"], result["before"], result["after"]
    finished = {int(line.split()[1]) for line in before if line.startswith("end ")}
    assert len(finished) == FINISHED_BEFORE_KILL
    rerun = {int(line.split()[1]) for line in after if line.startswith("start ")}
    # the jobs that finished before the kill are not run again...
    assert not (finished & rerun), f"finished before the kill and run again: {sorted(finished & rerun)}"
    # ...and every other job is (those that were stuck in flight, and those never started)
    assert rerun == set(range(N_SECTIONS)) - finished
    all_lines = before + after
    ends = collections.Counter(int(line.split()[1]) for line in all_lines if line.startswith("end "))
    assert ends == {section: 1 for section in range(N_SECTIONS)}  # each job's result computed once
    assert all_lines.count("cloud plan") == 1  # the plan came from the checkpoint
    assert all_lines.count("cloud synthesize") == 1
    # the run completed, with every job's result, the finished ones kept as they were
    assert out["answer"] == "204 barrels"
    answers = {row["answer"] for row in out["jobs"] if not row["failed"]}
    assert not tally.check_kept({f"{200 + s} barrels" for s in finished}, answers)
    assert len(out["jobs"]) == N_SECTIONS and len(answers) == N_SECTIONS
    # the ledger equals the unique calls that returned: nothing double counted, nothing lost
    usage = out["usage"]
    assert usage["local"]["calls"] == sum(ends.values()) == N_SECTIONS
    assert usage["cloud"]["calls"] == 2
    tally.run_completed()


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_sigkill_mid_fan_out_then_resume(tmp_path: Path, durability: str) -> None:
    # max_concurrency >= the number of jobs: every job starts at once, and each finished job's writes
    # are saved as soon as it returns.
    result = kill_mid_fan_out_then_resume(tmp_path, "--max-concurrency", "8", "--durability", durability)
    check_resumed_run(result)


def test_sigkill_mid_fan_out_then_resume_async(tmp_path: Path) -> None:
    # ainvoke on AsyncSqliteSaver without max_concurrency (as LangGraph Server runs graphs): the saver's
    # writes are coroutines, not queued behind the jobs' threads, so finished jobs are kept.
    result = kill_mid_fan_out_then_resume(tmp_path, "--ainvoke")
    check_resumed_run(result)


def test_sigkill_with_max_concurrency_below_the_job_count(tmp_path: Path) -> None:
    result = kill_mid_fan_out_then_resume(tmp_path, "--max-concurrency", "2")
    check_resumed_run(result)
