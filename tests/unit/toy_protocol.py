"""A toy protocol, the one CONTRIBUTING.md shows: the local model answers, and ``shout`` upper-cases it.

It is one module (settings, state, one node, ``build_*`` / ``create_*``); ``test_registry.py`` registers it
with one ``register_protocol`` call and runs it through the registry, the evaluation and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.decisions import emit_decision, make_decision
from langgraph_cloudlocal.protocols.common import (
    DecisionsField,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolOutput,
    RunSettings,
    UsageField,
    check_input,
    current_settings,
    settings_class_with_defaults,
    usage_report,
)


@dataclass
class ShoutSettings(RunSettings):
    """Run settings: the shared ones plus the protocol's own knob."""

    shout: bool = True


class ShoutState(TypedDict, total=False):
    question: str
    documents: list[str]
    answer: str
    ledger: UsageField
    usage: dict[str, Any]
    decisions: DecisionsField


def build_shout(local: ModelSpec = None, cloud: ModelSpec = None, **settings: Any) -> StateGraph:
    """The uncompiled graph: one node, ``answer``."""
    roles = ModelRoles(local, cloud, cloud_required=False)
    settings_class = settings_class_with_defaults(ShoutSettings, settings)

    def answer(state: ShoutState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = current_settings(runtime.context, settings_class)
        question, documents = check_input(
            state.get("question"), state.get("documents"), documents_required=False
        )
        local_model, cloud_model = roles.for_run(run)
        result = call_text(
            local_model, [HumanMessage("\n\n".join([*documents, question]))], max_tokens=run.local_max_tokens
        )
        text = result.text.strip().upper() if run.shout else result.text.strip()
        decision = emit_decision(make_decision("shout", "answer", "use_local", f"shout={run.shout}"))
        usage = usage_report(
            result.usage,
            local_model,
            cloud_model,
            roles.prices,
            question=question,
            documents=documents,
            answer=text,
        )
        return {"answer": text, "ledger": result.usage, "usage": usage, "decisions": [decision]}

    builder = StateGraph(
        ShoutState, context_schema=settings_class, input_schema=ProtocolInput, output_schema=ProtocolOutput
    )
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder


def create_shout(
    local: ModelSpec = None, cloud: ModelSpec = None, *, name: str = "shout", **settings: Any
) -> CompiledStateGraph:
    """The compiled graph: input ``question`` / ``documents``; output ``answer``, ``usage``, ``decisions``."""
    return build_shout(local, cloud, **settings).compile(name=name)
