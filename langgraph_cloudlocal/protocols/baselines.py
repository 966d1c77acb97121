"""The yardsticks: the local model alone (free, private, weak) and the cloud model alone (what the
protocols try to match for less). Same input and output shape as the protocols."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.decisions import SwitchDecision, emit_decision, make_decision
from langgraph_cloudlocal.ledger import PriceTable
from langgraph_cloudlocal.prompts import baselines as prompts
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolOutput,
    RunSettings,
    UsageField,
    budget_refusal,
    budget_stop_decision,
    check_input,
    current_settings,
    settings_class_with_defaults,
    usage_report,
)


@dataclass
class BaselineSettings(RunSettings):
    """Run settings of the yardsticks (the graph's ``context_schema``)."""

    # "brief": the answer first, then one sentence (fact questions); "steps": reason step by step, then
    # a last line "Answer: ..." (multi-step arithmetic, at the price of more output tokens).
    reasoning: Literal["brief", "steps"] = "brief"

    def validate(self) -> None:
        super().validate()
        if self.reasoning not in ("brief", "steps"):
            raise InputError(f"reasoning must be 'brief' or 'steps', got {self.reasoning!r}")


class BaselineState(TypedDict, total=False):
    question: str
    documents: list[str]
    answer: str
    ledger: UsageField  # raw counters, merged across nodes
    usage: dict[str, Any]  # the finished report
    decisions: DecisionsField


def _build_single_model(
    which: Literal["local", "cloud"],
    local: ModelSpec,
    cloud: ModelSpec,
    prices: PriceTable | None,
    settings: dict[str, Any],
) -> StateGraph:
    roles = ModelRoles(local, cloud, prices, cloud_required=which == "cloud")
    settings_class = settings_class_with_defaults(BaselineSettings, settings)
    protocol = f"{which}-only"

    def answer(state: BaselineState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = current_settings(runtime.context, settings_class)
        question, documents = check_input(
            state.get("question"), state.get("documents"), documents_required=False
        )
        local_model, cloud_model = roles.for_run(run)
        messages = [
            SystemMessage(prompts.system_prompt(run.reasoning)),
            HumanMessage(prompts.answer_prompt(question, documents)),
        ]
        decisions: list[SwitchDecision] = []
        use = which
        if which == "cloud":
            refusal = budget_refusal(
                {}, run, cloud_model, roles.prices, "\n".join(str(m.content) for m in messages)
            )
            if refusal:
                # Degrade: the local model answers instead, and the decision says why.
                decisions.append(budget_stop_decision(protocol, "answer", refusal, None))
                use = "local"
        model = local_model if use == "local" else cloud_model
        result = call_text(
            model,
            messages,
            max_tokens=run.local_max_tokens if use == "local" else run.cloud_max_tokens,
        )
        decisions.append(
            emit_decision(
                make_decision(protocol, "answer", f"use_{use}", f"the {use} model answers alone (yardstick)")
            )
        )
        answer_text = result.text.strip()
        usage = usage_report(
            result.usage,
            local_model,
            cloud_model,
            roles.prices,
            question=question,
            documents=documents,
            answer=answer_text,
            cloud_only_run=which == "cloud",
        )
        # Overwrite: a run is this one node, so a second question on the same thread starts afresh.
        return {
            "answer": answer_text,
            "ledger": Overwrite(result.usage),
            "usage": usage,
            "decisions": Overwrite(decisions),
        }

    builder = StateGraph(
        BaselineState, context_schema=settings_class, input_schema=ProtocolInput, output_schema=ProtocolOutput
    )
    builder.add_node("answer", answer, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder


def build_local_only(
    local: ModelSpec = None, cloud: ModelSpec = None, *, prices: PriceTable | None = None, **settings: Any
) -> StateGraph:
    """The uncompiled local-only yardstick (the cloud model is used only for pricing the estimate)."""
    return _build_single_model("local", local, cloud, prices, settings)


def build_cloud_only(
    local: ModelSpec = None, cloud: ModelSpec = None, *, prices: PriceTable | None = None, **settings: Any
) -> StateGraph:
    """The uncompiled cloud-only yardstick: the cloud model reads the whole documents."""
    return _build_single_model("cloud", local, cloud, prices, settings)


def create_local_only(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    prices: PriceTable | None = None,
    name: str = "local_only",
    **settings: Any,
) -> CompiledStateGraph:
    """The local model alone answers from the whole documents. Output: answer, usage, decisions."""
    return build_local_only(local, cloud, prices=prices, **settings).compile(name=name)


def create_cloud_only(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    prices: PriceTable | None = None,
    name: str = "cloud_only",
    **settings: Any,
) -> CompiledStateGraph:
    """The cloud model alone answers from the whole documents. Output: answer, usage, decisions."""
    return build_cloud_only(local, cloud, prices=prices, **settings).compile(name=name)
