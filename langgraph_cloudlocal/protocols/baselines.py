"""The yardsticks: the local model alone (free, private, weak) and the cloud model alone (what the
protocols try to match for less). Same input and output shape as the protocols.

Graph: ``START -> start -> answer -> END``. ``answer`` calls one model with the whole documents; the
cloud-only yardstick degrades to the local model when the cloud budget refuses the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.constants import TAG_NOSTREAM
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.decisions import SwitchDecision
from langgraph_cloudlocal.ledger import PriceTable
from langgraph_cloudlocal.prompts import baselines as prompts
from langgraph_cloudlocal.protocols.answer_stream import AnswerStream
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolNodes,
    ProtocolOutput,
    RunSettings,
    UsageField,
    settings_class_with_defaults,
)


@dataclass
class BaselineSettings(RunSettings):
    """Run settings of the yardsticks (the graph's ``context_schema``).

    Attributes:
        reasoning: ``"brief"``: the answer first, then one sentence (fact questions); ``"steps"``: reason
            step by step, then a last line ``Answer: ...`` (multi-step arithmetic, at the price of more
            output tokens).

    Example:
        >>> BaselineSettings(reasoning="steps").reasoning
        'steps'
    """

    reasoning: Literal["brief", "steps"] = "brief"

    def validate(self) -> None:
        """Check every value.

        Raises:
            InputError: ``reasoning`` is neither ``"brief"`` nor ``"steps"``, or a shared value is bad.
        """
        super().validate()
        if self.reasoning not in ("brief", "steps"):
            raise InputError(f"reasoning must be 'brief' or 'steps', got {self.reasoning!r}")


class BaselineState(TypedDict, total=False):
    """The yardsticks' state: the input, the run's settings, the answer and its accounting.

    Example:
        >>> BaselineState(question="6 x 7?", documents=[], answer="42")["answer"]
        '42'
    """

    question: str
    documents: list[str]
    settings: dict[str, Any]  # the run's validated settings (start)
    answer: str
    ledger: UsageField  # raw counters, merged across nodes
    usage: dict[str, Any]  # the finished report
    decisions: DecisionsField


class SingleModelNodes(ProtocolNodes[BaselineSettings]):
    """The nodes of a yardstick: one model answers alone.

    Args:
        which: ``"local"`` or ``"cloud"``: the model that answers.
        roles: The models and prices.
        settings_class: :class:`BaselineSettings` with the build-time defaults.

    Example:
        >>> from langgraph_cloudlocal.protocols.common import settings_state
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> roles = ModelRoles(ScriptedChatModel(replies=["42"]), None, cloud_required=False)
        >>> nodes = SingleModelNodes("local", roles, BaselineSettings)
        >>> state = {"question": "6 x 7?", "documents": [], **settings_state(BaselineSettings())}
        >>> nodes.answer(state)["answer"]
        '42'
    """

    def __init__(
        self, which: Literal["local", "cloud"], roles: ModelRoles, settings_class: type[BaselineSettings]
    ) -> None:
        super().__init__(roles, settings_class)
        self.which = which
        self.protocol = f"{which}-only"

    def start(self, state: BaselineState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Validate the run's settings and input; reset the per-run keys.

        Args:
            state: The input (on a thread: with the last run's state).
            runtime: The run's runtime (its context: the settings).

        Returns:
            The state update that starts the run.

        Raises:
            InputError: Bad settings or input.
        """
        _, update = self.begin(state, runtime, documents_required=False)
        return update

    def answer(self, state: BaselineState) -> dict[str, Any]:
        """One model answers from the whole documents (the cloud-only one degrades on a refusal).

        Args:
            state: The started run.

        Returns:
            ``answer``, ``usage``, ``ledger`` and ``decisions``.

        Raises:
            ModelCallError: The model cannot be reached (retried by the node's retry policy).
        """
        run = self.settings(state)
        local_model, cloud_model = self.roles.for_run(run)
        messages = [
            SystemMessage(prompts.system_prompt(run.reasoning)),
            HumanMessage(prompts.answer_prompt(state["question"], list(state.get("documents") or []))),
        ]
        decisions: list[SwitchDecision] = []
        use = self.which
        if use == "cloud":
            refusal = self.budget_refusal(state, run, messages)
            if refusal:
                # Degrade: the local model answers instead, and the decision says why.
                decisions.append(self.decide("answer", "budget_stop", refusal))
                use = "local"
        model = local_model if use == "local" else cloud_model
        # The reply is the answer: it streams as answer tokens (stripped), not also as the model's own.
        answer_stream = AnswerStream(field=None)
        result = call_text(
            model,
            messages,
            max_tokens=run.local_max_tokens if use == "local" else run.cloud_max_tokens,
            config={"tags": [TAG_NOSTREAM]},
            on_text=answer_stream.on_text,
        )
        decisions.append(self.decide("answer", f"use_{use}", f"the {use} model answers alone (yardstick)"))
        answer = result.text.strip()
        answer_stream.finish(answer)
        return {
            "answer": answer,
            "ledger": result.usage,
            "usage": self.usage(state, run, result.usage, answer, cloud_only_run=self.which == "cloud"),
            "decisions": decisions,
        }


def _build_single_model(
    which: Literal["local", "cloud"],
    local: ModelSpec,
    cloud: ModelSpec,
    prices: PriceTable | None,
    settings: dict[str, Any],
) -> StateGraph[Any, Any, Any, Any]:
    roles = ModelRoles(local, cloud, prices, cloud_required=which == "cloud")
    settings_class = settings_class_with_defaults(BaselineSettings, settings)
    nodes = SingleModelNodes(which, roles, settings_class)
    builder = StateGraph(
        BaselineState, context_schema=settings_class, input_schema=ProtocolInput, output_schema=ProtocolOutput
    )
    builder.add_node("start", nodes.start)
    builder.add_node("answer", nodes.answer, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "start")
    builder.add_edge("start", "answer")
    builder.add_edge("answer", END)
    return builder


def build_local_only(
    local: ModelSpec = None, cloud: ModelSpec = None, *, prices: PriceTable | None = None, **settings: Any
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled local-only yardstick.

    Args:
        local: The local model, which answers.
        cloud: The cloud model, used only to price the cloud-only estimate (default: priced as gpt-4o).
        prices: Prices per model.
        **settings: :class:`BaselineSettings` defaults.

    Returns:
        The ``StateGraph``, to change or compile.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> sorted(build_local_only(ScriptedChatModel(replies=["x"])).nodes)
        ['answer', 'start']
    """
    return _build_single_model("local", local, cloud, prices, settings)


def build_cloud_only(
    local: ModelSpec = None, cloud: ModelSpec = None, *, prices: PriceTable | None = None, **settings: Any
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled cloud-only yardstick: the cloud model reads the whole documents.

    Args:
        local: The local model (answers when the cloud budget refuses the call).
        cloud: The cloud model, which answers.
        prices: Prices per model.
        **settings: :class:`BaselineSettings` defaults.

    Returns:
        The ``StateGraph``, to change or compile.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> local, cloud = ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"])
        >>> sorted(build_cloud_only(local, cloud).nodes)
        ['answer', 'start']
    """
    return _build_single_model("cloud", local, cloud, prices, settings)


def create_local_only(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    prices: PriceTable | None = None,
    checkpointer: Checkpointer = None,
    name: str = "local_only",
    **settings: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The local model alone answers from the whole documents.

    Args:
        local: The local model, which answers.
        cloud: The cloud model, used only to price the cloud-only estimate.
        prices: Prices per model.
        checkpointer: Compiled with this checkpointer (a thread keeps its state between runs).
        name: The compiled graph's name (its node name in a parent graph).
        **settings: :class:`BaselineSettings` defaults, e.g. ``reasoning="steps"``.

    Returns:
        The compiled graph. Input: ``question``, ``documents``. Output: ``answer``, ``usage``,
        ``decisions``.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> graph = create_local_only(ScriptedChatModel(replies=["Paris"]), name="yardstick")
        >>> graph.name, graph.invoke({"question": "Capital of France?"})["answer"]
        ('yardstick', 'Paris')
    """
    builder = build_local_only(local, cloud, prices=prices, **settings)
    return builder.compile(checkpointer=checkpointer, name=name)


def create_cloud_only(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    prices: PriceTable | None = None,
    checkpointer: Checkpointer = None,
    name: str = "cloud_only",
    **settings: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The cloud model alone answers from the whole documents.

    Args:
        local: The local model (answers when the cloud budget refuses the call).
        cloud: The cloud model, which answers.
        prices: Prices per model.
        checkpointer: Compiled with this checkpointer (a thread keeps its state between runs).
        name: The compiled graph's name (its node name in a parent graph).
        **settings: :class:`BaselineSettings` defaults, e.g. ``max_cloud_usd=0.01``.

    Returns:
        The compiled graph. Input: ``question``, ``documents``. Output: ``answer``, ``usage``,
        ``decisions``.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> local, cloud = ScriptedChatModel(replies=["?"]), ScriptedChatModel(replies=["Paris"])
        >>> create_cloud_only(local, cloud).invoke({"question": "Capital of France?"})["answer"]
        'Paris'
    """
    builder = build_cloud_only(local, cloud, prices=prices, **settings)
    return builder.compile(checkpointer=checkpointer, name=name)


__all__ = [
    "BaselineSettings",
    "BaselineState",
    "SingleModelNodes",
    "build_cloud_only",
    "build_local_only",
    "create_cloud_only",
    "create_local_only",
]
