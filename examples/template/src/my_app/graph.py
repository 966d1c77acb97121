"""Your graph: answer questions about private documents, paying for the cloud only where it helps.

    START -> route -> local_only -> finish -> END      short documents: the local model alone (free, private)
                   -> minions    -> finish             long documents: MinionS (the cloud plans, the local
                                                       model reads the chunks, the cloud never sees them)

``local_only`` and ``minions`` are the library's compiled graphs added as nodes: their input
(``question``, ``documents``) and output (``answer``, ``usage``, ``decisions``) keys are keys of this
graph's state, so LangGraph passes them in and out. ``route`` records its own choice as a
``SwitchDecision``, so it shows up next to the protocol's decisions (output, ``custom`` stream, LangSmith).

The run settings are one dataclass, :class:`AppContext`: MinionS's own (rounds, tasks, retrieval,
budgets, token limits, per-run model specs) plus this app's ``local_only_below_chars``. Studio shows them
all; ``graph.invoke(inputs, context={"max_cloud_usd": 0.01})`` changes them for one run.

Make it yours: swap ``create_minions`` for ``create_minion`` or ``create_adaswitch``, add nodes before or
after, or give ``build_graph`` a ``ChunkStore`` to retrieve from documents ingested once.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer
from langgraph_cloudlocal import create_local_only, create_minions
from langgraph_cloudlocal.decisions import emit_decision, make_decision
from langgraph_cloudlocal.protocols.minions import MinionsSettings
from typing_extensions import TypedDict  # pydantic (and so Studio) reads these on Python 3.11

APP = "my_app"


@dataclass
class AppContext(MinionsSettings):
    """Run settings (the graph's context; Studio shows them): MinionS's settings plus this app's own."""

    # Documents shorter than this (all together, in characters) are answered by the local model alone.
    local_only_below_chars: int = 2000


class AppInput(TypedDict, total=False):
    question: str
    documents: list[str]


class AppOutput(TypedDict, total=False):
    reply: str
    answer: str
    route: str
    usage: dict[str, Any]
    decisions: list[dict[str, Any]]


class AppState(TypedDict, total=False):
    question: str
    documents: list[str]
    route: str  # "local_only" | "minions"
    answer: str  # written by the protocol subgraph
    usage: dict[str, Any]  # the protocol's usage report
    decisions: Annotated[list[dict[str, Any]], operator.add]  # this app's and the protocol's
    reply: str


def route(state: AppState, runtime: Runtime[AppContext]) -> dict[str, Any]:
    settings = runtime.context or AppContext()
    size = sum(len(d) for d in state.get("documents") or [])
    choice = "local_only" if size < settings.local_only_below_chars else "minions"
    decision = emit_decision(
        make_decision(
            APP,
            "route",
            choice,
            f"{size} document characters {'<' if choice == 'local_only' else '>='} "
            f"local_only_below_chars={settings.local_only_below_chars}",
        )
    )
    return {"route": choice, "decisions": [decision]}


def finish(state: AppState) -> dict[str, Any]:
    usage = state.get("usage") or {}
    footer = (
        f"(answered by {state.get('route')}; cloud ${usage.get('cloud_cost_usd', 0):.5f}, "
        f"cloud-only estimate ${usage.get('cloud_only_cost_usd', 0):.5f})"
    )
    return {"reply": f"{state.get('answer', '').strip()}\n\n{footer}"}


def build_graph(
    local: Any = None,
    cloud: Any = None,
    *,
    store: Any = None,
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph:
    """The app's graph. ``local``/``cloud``: chat models or specs such as ``"ollama:llama3.2:3b"`` and
    ``"openai:gpt-4o-mini"``; ``None`` reads CLOUDLOCAL_LOCAL_MODEL / CLOUDLOCAL_CLOUD_MODEL."""
    builder = StateGraph(AppState, context_schema=AppContext, input_schema=AppInput, output_schema=AppOutput)
    builder.add_node("route", route)
    builder.add_node("local_only", create_local_only(local, cloud))
    builder.add_node("minions", create_minions(local, cloud, store=store))
    builder.add_node("finish", finish)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", lambda state: state["route"], ["local_only", "minions"])
    builder.add_edge("local_only", "finish")
    builder.add_edge("minions", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name="my_app")
