"""Where a run's wall time goes: local model, cloud model, embedding, and the rest (the harness).

Model calls (``calls.py``) and embeddings (``store.py``) report the intervals they were busy to the
:class:`BusyTimes` that is current in their context. LangGraph copies context variables into the threads
that run nodes, so the intervals of one graph run reach that run's recorder even when several runs go at
once (``cloudlocal eval --concurrency``).

Intervals of one kind are merged before they are summed: two local jobs running at once for 3 s count
3 s, not 6 s. Kinds may still overlap one another (a local job while the cloud plans), so the kinds' times
can add up to more than the wall time; ``other`` is the wall time during which no model and no embedding
was busy: prompt building, parsing, checkpoints, the store's own work.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "BusyTimes",
    "KINDS",
    "busy",
    "measuring_busy_times",
]

KINDS = ("local", "cloud", "embedding")

_current: contextvars.ContextVar[BusyTimes | None] = contextvars.ContextVar("cloudlocal_busy", default=None)


def _merged_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


class BusyTimes:
    """The intervals each kind of work was busy during one run, and the run's wall time.

    Example:
        >>> times = BusyTimes()
        >>> times.add("local", times.started, times.started + 0.5)
        >>> times.ended = times.started + 2.0
        >>> times.breakdown()["local"], times.breakdown()["other"]
        (0.5, 1.5)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intervals: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
        self.started = time.perf_counter()
        self.ended: float | None = None

    def add(self, kind: str, started: float, ended: float) -> None:
        """Record one busy interval.

        Args:
            kind: ``local``, ``cloud``, ``embedding`` or another kind of work.
            started: When it started (``time.perf_counter()``).
            ended: When it ended.
        """
        with self._lock:
            self._intervals.setdefault(kind, []).append((started, ended))

    def breakdown(self) -> dict[str, float]:
        """Seconds: ``wall``, one entry per kind (merged intervals), and ``other``."""
        ended = self.ended if self.ended is not None else time.perf_counter()
        with self._lock:
            intervals = {kind: list(spans) for kind, spans in self._intervals.items()}
        result = {"wall": ended - self.started}
        result |= {kind: _merged_seconds(spans) for kind, spans in intervals.items()}
        busy = _merged_seconds([span for spans in intervals.values() for span in spans])
        result["other"] = max(0.0, result["wall"] - busy)
        return {key: round(value, 3) for key, value in result.items()}


@contextmanager
def measuring_busy_times() -> Iterator[BusyTimes]:
    """Record, until the block ends, the busy intervals of the work done in this context.

    Yields:
        The recorder; its ``breakdown()`` is final once the block ends.

    Example:
        >>> with measuring_busy_times() as times:
        ...     with busy("cloud"):
        ...         pass
        >>> sorted(times.breakdown())
        ['cloud', 'embedding', 'local', 'other', 'wall']
    """
    recorder = BusyTimes()
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        recorder.ended = time.perf_counter()
        _current.reset(token)


@contextmanager
def busy(kind: str) -> Iterator[None]:
    """Mark the block as ``kind`` work (``local``, ``cloud`` or ``embedding``) for the current recorder.

    Args:
        kind: The kind of work the block does.

    Yields:
        Nothing; without a recorder (:func:`measuring_busy_times`) the block just runs.

    Example:
        >>> with busy("local"):  # no recorder: nothing is recorded
        ...     pass
    """
    recorder = _current.get()
    if recorder is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        recorder.add(kind, started, time.perf_counter())
