"""Counters of the fault suite, reported in one line at the end of the test session.

Tests increment them for real: a fault is counted when it is injected (a broken reply served, a server
killed, a request refused), a run when a graph run reaches its end with an answer, and a lost result when
a finished result (a job's output, a checkpointed step) is missing afterwards or was computed again.

Honest by construction: tests compare results in a ``finally`` block (:func:`compare_in_finally`), so a
run that crashes or an assertion that fails first still counts what was lost; scripted outputs are unique
per call (:func:`unique`), so a result computed again differs from the one kept and counts as lost; and
the summary line says FAILED when any test of the session failed (the counts are then incomplete).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_counts = {"faults": 0, "runs": 0, "lost": 0, "checks": 0}
_serial = itertools.count(1)


def fault(count: int = 1) -> None:
    """``count`` faults were injected."""
    with _lock:
        _counts["faults"] += count


def run_completed(count: int = 1) -> None:
    with _lock:
        _counts["runs"] += count


def lost(count: int) -> None:
    with _lock:
        _counts["lost"] += count


def unique(text: str) -> str:
    """``text`` tagged with a serial number for this call: a recomputed result cannot pass for a kept one."""
    return f"{text} [call {next(_serial)}]"


def check_kept(expected: Iterable[object], found: Iterable[object]) -> set[object]:
    """The expected results that are missing from ``found``; each one is counted as lost."""
    missing = set(expected) - set(found)
    with _lock:
        _counts["checks"] += 1
    lost(len(missing))
    return missing


def kept_results(expected: Mapping[Any, Any], found: Mapping[Any, Any]) -> dict[Any, Any]:
    """The results of ``expected`` (key -> output) missing from ``found`` or different there (computed
    again); each one is counted as lost. Returns them, key -> what was found instead (None if missing)."""
    bad = {key: found.get(key) for key, value in expected.items() if found.get(key) != value}
    with _lock:
        _counts["checks"] += 1
    lost(len(bad))
    return bad


@contextmanager
def compare_in_finally(expected: Mapping[Any, Any], found: Mapping[Any, Any]) -> Iterator[None]:
    """Run the block, then, whatever happened in it, count the results of ``expected`` (filled in by the
    block) that ``found`` (filled in too) lacks or holds changed. Use it around a run and its asserts."""
    try:
        yield
    finally:
        kept_results(expected, found)


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def summary_line(failed_tests: int = 0) -> str:
    counts = snapshot()
    line = (
        f"fault suite: {counts['faults']} faults injected, {counts['runs']} runs completed, "
        f"{counts['lost']} results lost ({counts['checks']} checks)"
    )
    if failed_tests:
        line = f"FAILED: {line}; {failed_tests} test(s) failed, so these counts are incomplete"
    return line
