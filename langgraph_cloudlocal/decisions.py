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

DECISION_EVENT = "cloudlocal.decision"
PROGRESS_EVENT = "cloudlocal.progress"


class SwitchDecision(TypedDict):
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
    """Progress for live displays (round, jobs done/total...) on the ``custom`` stream."""
    writer = _stream_writer()
    if writer is not None:
        writer({"type": PROGRESS_EVENT, "protocol": protocol, **fields})


def _trace_decision(decision: SwitchDecision) -> SwitchDecision:
    return decision


def emit_decision(decision: SwitchDecision) -> SwitchDecision:
    """Send a decision to the custom stream and to tracing; return it for the node's ``decisions``."""
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
    """How many decisions of each kind, e.g. ``{"escalate": 2, "accept": 5}``."""
    counts: dict[str, int] = {}
    for item in decisions:
        counts[item["decision"]] = counts.get(item["decision"], 0) + 1
    return counts
