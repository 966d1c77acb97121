"""Counters of the fault suite, reported in one line at the end of the test session.

Tests increment them for real: a fault is counted when it is injected (a broken reply served, a server
killed, a request refused), a run when a graph run reaches its end with an answer, and a lost result when
a finished result (a job's output, a checkpointed step) is missing afterwards or was computed again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

_lock = threading.Lock()
_counts = {"faults": 0, "runs": 0, "lost": 0}


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


def check_kept(expected: Iterable[object], found: Iterable[object]) -> set[object]:
    """The expected results that are missing from ``found``; each one is counted as lost."""
    missing = set(expected) - set(found)
    lost(len(missing))
    return missing


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def summary_line() -> str:
    counts = snapshot()
    return (
        f"fault suite: {counts['faults']} faults injected, {counts['runs']} runs completed, "
        f"{counts['lost']} results lost"
    )
