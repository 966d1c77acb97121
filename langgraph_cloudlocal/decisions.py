"""Switching decisions: every choice a protocol makes, visible in the output, the stream and LangSmith.

A :class:`SwitchDecision` goes to three places when :func:`emit_decision` is called inside a node:

1. the node returns it under ``decisions`` (a list reducer), so it lands in the graph's output;
2. LangGraph's ``custom`` stream (``graph.stream(..., stream_mode="custom")``) gets
   ``{"type": "cloudlocal.decision", ...}`` at once;
3. a tiny child run named ``cloudlocal:<decision>`` is traced under the node, tagged
   ``cloudlocal:<decision>`` and ``cloudlocal:<protocol>`` with the decision as metadata, so in
   LangSmith ``has(tags, "cloudlocal:escalate")`` finds every place the cloud was used.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableLambda
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

__all__ = [
    "DECISION_EVENT",
    "PROGRESS_EVENT",
    "SwitchDecision",
    "emit_decision",
    "emit_progress",
    "make_decision",
    "summarize_decisions",
]


DECISION_EVENT = "cloudlocal.decision"
PROGRESS_EVENT = "cloudlocal.progress"


class SwitchDecision(TypedDict):
    """One choice a protocol made (escalate or not, accept or redo, another round or answer).

    Build it with :func:`make_decision`; every protocol's output carries the list under ``decisions``.

    Example:
        >>> from langgraph_cloudlocal.decisions import make_decision
        >>> decision = make_decision("adaswitch", "verify", "escalate", "verifier score 0.31 < 0.5",
        ...                          step=2, score=0.31, threshold=0.5, tokens=120)
        >>> decision["decision"], decision["step"], decision["score"]
        ('escalate', 2, 0.31)
    """

    protocol: str  # "minion", "minions", "adaswitch", ...
    node: str  # the graph node that decided
    step: int | None  # step (AdaSwitch) or round (Minion, MinionS)
    decision: str  # e.g. "escalate", "accept", "another_round", "answer", "budget_stop", "job_failed"
    reason: str
    score: float | None
    threshold: float | None
    tokens: int  # tokens spent on the call(s) that led to this decision
    at: float  # unix time


def make_decision(
    protocol: str,
    node: str,
    decision: str,
    reason: str,
    *,
    step: int | None = None,
    score: float | None = None,
    threshold: float | None = None,
    tokens: int = 0,
) -> SwitchDecision:
    """A :class:`SwitchDecision` stamped with the current time.

    Args:
        protocol: The protocol deciding (``"minion"``, ``"minions"``, ``"adaswitch"``, ...).
        node: The graph node that decided.
        decision: What was decided, e.g. ``"escalate"``, ``"accept"``, ``"another_round"``.
        reason: Why, in words, for people reading the trace.
        step: The step (AdaSwitch) or round (Minion, MinionS), if any.
        score: The measured value the decision compared, if any (e.g. a verifier score).
        threshold: The value ``score`` was compared with, if any.
        tokens: Tokens spent on the call(s) that led to the decision.

    Returns:
        The decision record.

    Example:
        >>> make_decision("minion", "supervisor", "answer", "the cloud model answered")["node"]
        'supervisor'
    """
    return SwitchDecision(
        protocol=protocol,
        node=node,
        step=step,
        decision=decision,
        reason=reason,
        score=None if score is None else float(score),
        threshold=None if threshold is None else float(threshold),
        tokens=int(tokens),
        at=time.time(),
    )


def _stream_writer() -> Any:
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except (RuntimeError, ImportError):  # outside a running graph
        return None


def emit_progress(protocol: str, **fields: Any) -> None:
    """Progress for live displays (round, jobs done/total...) on the ``custom`` stream.

    Outside a running graph it does nothing.

    Args:
        protocol: The protocol reporting.
        **fields: What to report, e.g. ``round=2, jobs_done=5, jobs_total=12``.

    Example:
        >>> emit_progress("minions", round=1, jobs_done=3, jobs_total=8)  # no graph running: a no-op
    """
    writer = _stream_writer()
    if writer is not None:
        writer({"type": PROGRESS_EVENT, "protocol": protocol, **fields})


def _trace_decision(decision: SwitchDecision) -> SwitchDecision:
    return decision


def emit_decision(decision: SwitchDecision) -> SwitchDecision:
    """Send a decision to the ``custom`` stream and to tracing; return it for the node's ``decisions``.

    Called inside a node, the decision goes to ``stream_mode="custom"`` as
    ``{"type": "cloudlocal.decision", ...}`` and becomes a child run named ``cloudlocal:<decision>``
    tagged with the decision and the protocol (so LangSmith can filter on it).

    Args:
        decision: The decision, from :func:`make_decision`.

    Returns:
        The same decision, to put in the node's ``decisions`` update.

    Example:
        >>> decision = emit_decision(make_decision("minion", "supervisor", "answer", "done"))
        >>> decision["decision"]
        'answer'
    """
    writer = _stream_writer()
    if writer is not None:
        writer({"type": DECISION_EVENT, **decision})
    metadata = {f"cloudlocal_{key}": value for key, value in decision.items() if value is not None}
    # Invoked inside a node, this inherits the node's callbacks (LangSmith tracer included) and becomes
    # a child run carrying the decision as tags and metadata.
    RunnableLambda(_trace_decision, name=f"cloudlocal:{decision['decision']}").invoke(
        decision,
        {
            "run_name": f"cloudlocal:{decision['decision']}",
            "tags": [f"cloudlocal:{decision['decision']}", f"cloudlocal:{decision['protocol']}"],
            "metadata": metadata,
        },
    )
    return decision


def summarize_decisions(decisions: list[SwitchDecision]) -> dict[str, int]:
    """How many decisions of each kind.

    Args:
        decisions: The ``decisions`` of a protocol's output.

    Returns:
        Counts by decision, in the order first seen, e.g. ``{"escalate": 2, "accept": 5}``.

    Example:
        >>> summarize_decisions([make_decision("adaswitch", "verify", d, "") for d in ("accept", "escalate", "accept")])
        {'accept': 2, 'escalate': 1}
    """
    counts: dict[str, int] = {}
    for item in decisions:
        counts[item["decision"]] = counts.get(item["decision"], 0) + 1
    return counts
