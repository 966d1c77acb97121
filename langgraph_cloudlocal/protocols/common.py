"""The protocol kit: what every protocol shares.

A protocol module reads top to bottom as its state machine, built from these pieces:

* **settings**: a :class:`RunSettings` dataclass (the graph's ``context_schema``); ``create_*`` keyword
  arguments become its defaults (:func:`settings_class_with_defaults`);
* **a start node** that calls :func:`begin_run`: the run's settings and input are validated once,
  stored in the state, and the per-run keys (ledger, decisions, the protocol's own) reset, so a thread
  invoked again starts afresh; later nodes read the settings with :func:`run_settings`;
* **nodes** as methods of a :class:`ProtocolNodes` subclass holding their dependencies (model roles,
  prices, a store, a verifier), so a unit test can call one alone with a state dict;
* before every cloud call, :func:`budget_refusal` on the messages about to be sent, and
  :func:`budget_retry_guard` for the repair retries of a structured call;
* every switch recorded with :func:`decide`; the finished ``usage`` from :func:`usage_report`.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime
from langgraph.types import Overwrite, RetryPolicy, interrupt
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import ModelCallError, RetryRefusal
from langgraph_cloudlocal.decisions import SwitchDecision, emit_decision, make_decision
from langgraph_cloudlocal.documents import DocumentError, document_texts
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.ledger import (
    Budget,
    PriceTable,
    RawUsage,
    approx_tokens,
    cloud_token_counter,
    estimate_cloud_only,
    finalize_usage,
    merge_usage,
)
from langgraph_cloudlocal.models import ROLE_ENV_VARS, ResolvedModel, resolve_model

__all__ = [
    "DecisionsField",
    "InputError",
    "MODEL_RETRY",
    "ModelRoles",
    "ModelSpec",
    "ProtocolInput",
    "ProtocolNodes",
    "ProtocolOutput",
    "RunSettings",
    "RunStateError",
    "SETTINGS_KEY",
    "UsageField",
    "add_usage",
    "begin_run",
    "budget_refusal",
    "budget_retry_guard",
    "budget_stop_decision",
    "check_input",
    "current_settings",
    "decide",
    "prompt_text",
    "run_settings",
    "settings_class_with_defaults",
    "settings_state",
    "usage_report",
]

ModelSpec = str | BaseChatModel | None
"""A model as ``create_*`` takes it: ``"ollama:NAME"``, ``"openai:NAME"``, a chat model, or None (the
environment's default for the role)."""

SETTINGS_KEY = "settings"
"""The state key under which :func:`begin_run` stores the run's validated settings."""


class InputError(CloudLocalError, ValueError):
    """Input a protocol cannot run on; raised before any model call."""


class RunStateError(CloudLocalError, RuntimeError):
    """A node ran on a state its protocol's start node never wrote (a graph wired without ``start``)."""


@dataclass
class RunSettings:
    """Per-run knobs shared by every protocol (LangGraph ``context_schema``; editable in Studio).

    Pass them per invocation: ``graph.invoke(inputs, context={"max_cloud_calls": 3})``; build-time
    keyword arguments of ``create_*`` set their defaults.

    Attributes:
        max_cloud_tokens: Cap on cloud input plus output tokens in one run (None: no cap).
        max_cloud_usd: Cap on cloud dollars in one run (None: no cap).
        max_cloud_calls: Cap on cloud calls in one run (None: no cap).
        on_budget_exceeded: ``"degrade"`` (the protocol's own fallback) or ``"interrupt"`` (ask a human
            with ``interrupt()``; resume with ``Command(resume=True)`` to allow the call).
        local_max_tokens: Output token limit of each local call.
        cloud_max_tokens: Output token limit of each cloud call.
        structured_retries: Repair retries of a structured call whose reply cannot be parsed.
        local_model: A model spec replacing the build-time local model for this run.
        cloud_model: A model spec replacing the build-time cloud model for this run.

    Example:
        >>> RunSettings(max_cloud_calls=2).budget().max_cloud_calls
        2
    """

    max_cloud_tokens: int | None = None
    max_cloud_usd: float | None = None
    max_cloud_calls: int | None = None
    on_budget_exceeded: Literal["degrade", "interrupt"] = "degrade"
    local_max_tokens: int = 512
    cloud_max_tokens: int = 1024
    structured_retries: int = 2
    local_model: str | None = None
    cloud_model: str | None = None

    def budget(self) -> Budget:
        """The cloud caps of these settings.

        Returns:
            A :class:`~langgraph_cloudlocal.ledger.Budget`.

        Raises:
            BudgetError: A cap is negative or not a number.
        """
        return Budget(self.max_cloud_tokens, self.max_cloud_usd, self.max_cloud_calls)

    def validate(self) -> None:
        """Check every value; subclasses extend it with their own knobs.

        Raises:
            InputError: A value out of range.
            BudgetError: A negative cap.
        """
        self.budget()  # raises BudgetError on negative caps
        if self.on_budget_exceeded not in ("degrade", "interrupt"):
            raise InputError(
                f"on_budget_exceeded must be 'degrade' or 'interrupt', got {self.on_budget_exceeded!r}"
            )
        for name in ("local_max_tokens", "cloud_max_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1")
        if self.structured_retries < 0:
            raise InputError("structured_retries must be >= 0")


SettingsT = TypeVar("SettingsT", bound=RunSettings)


def settings_class_with_defaults(base: type[SettingsT], defaults: Mapping[str, Any]) -> type[SettingsT]:
    """A subclass of ``base`` whose field defaults are the build-time ``defaults``.

    Studio then shows the real defaults, and a run without context uses them.

    Args:
        base: The protocol's settings class.
        defaults: Field name to default value (the ``create_*`` keyword arguments).

    Returns:
        ``base`` itself when there are no defaults, else a validated subclass.

    Raises:
        InputError: An unknown setting, a value of the wrong type, or one out of range.

    Example:
        >>> settings_class_with_defaults(RunSettings, {"max_cloud_calls": 3})().max_cloud_calls
        3
    """
    names = {f.name for f in dataclasses.fields(base)}
    unknown = set(defaults) - names
    if unknown:
        raise InputError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
    if not defaults:
        return base
    # Keep each field's real type so Studio's form shows it (resolved: annotations are strings here).
    hints = typing.get_type_hints(base)
    overrides = [(name, hints.get(name, Any), field(default=value)) for name, value in defaults.items()]
    cls = dataclasses.make_dataclass(base.__name__, overrides, bases=(base,))
    cls.__doc__ = base.__doc__
    cls.__module__ = base.__module__
    instance = cls()
    _check_types(instance, base)
    instance.validate()  # a bad build-time default fails at build time
    return cls


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_types(settings: RunSettings, reference: type[RunSettings]) -> None:
    """Numbers where the reference class has numbers, booleans where it has booleans (a setting given
    as a string, from a JSON form say, is a clear error instead of a TypeError deep in a node)."""
    defaults = {f.name: f.default for f in dataclasses.fields(reference)}
    for name, default in defaults.items():
        value = getattr(settings, name)
        if value is None or default is None or default is dataclasses.MISSING:
            continue
        if isinstance(default, bool) and not isinstance(value, bool):
            raise InputError(f"setting {name} must be true or false, got {value!r}")
        if _is_number(default) and not _is_number(value):
            raise InputError(f"setting {name} must be a number, got {value!r}")


def current_settings(context: Any, settings_class: type[SettingsT]) -> SettingsT:
    """Validate a run's context as ``settings_class``.

    Args:
        context: None (the defaults), a ``settings_class`` instance, a mapping or another dataclass.
        settings_class: The protocol's settings class (the graph's ``context_schema``).

    Returns:
        The validated settings.

    Raises:
        InputError: An unknown setting, a value of the wrong type, or one out of range.

    Example:
        >>> current_settings({"max_cloud_calls": 1}, RunSettings).max_cloud_calls
        1
    """
    if context is None:
        settings = settings_class()
    elif isinstance(context, settings_class):
        settings = context
    elif isinstance(context, Mapping) or (
        dataclasses.is_dataclass(context) and not isinstance(context, type)
    ):
        values = dict(context) if isinstance(context, Mapping) else dataclasses.asdict(context)
        known = {f.name for f in dataclasses.fields(settings_class)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown setting(s) {unknown} for this protocol; known: {sorted(known)}")
        settings = settings_class(**values)
    else:
        raise InputError(
            f"context must be a {settings_class.__name__} or a dict, got {type(context).__name__}"
        )
    _check_types(settings, settings_class)
    settings.validate()
    return settings


class ModelRoles:
    """The local and cloud models of a graph, with per-run overrides from the settings.

    Args:
        local: The local model spec.
        cloud: The cloud model spec.
        prices: Prices per model (default: :class:`~langgraph_cloudlocal.ledger.PriceTable`).
        cloud_required: False for protocols that never call the cloud (local-only): without a cloud
            model the estimate is priced as the default cloud model.

    Raises:
        ModelSpecError: A spec that names no known provider.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> roles = ModelRoles(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"]))
        >>> roles.local.role, roles.cloud.role
        ('local', 'cloud')
    """

    def __init__(
        self,
        local: ModelSpec,
        cloud: ModelSpec,
        prices: PriceTable | None = None,
        *,
        cloud_required: bool = True,
    ) -> None:
        self.local = resolve_model(local, "local")
        if cloud is None and not cloud_required and not os.environ.get(ROLE_ENV_VARS["cloud"]):
            # Local-only runs still estimate what the cloud would have cost, at the default cloud price.
            self.cloud = ResolvedModel("cloud", self.local.model, "unpriced-cloud (priced as gpt-4o)")
        else:
            self.cloud = resolve_model(cloud, "cloud")
        self.prices = prices or PriceTable()

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a handful of specs per graph
    def _resolve(self, spec: str, role: str) -> ResolvedModel:
        return resolve_model(spec, role)  # type: ignore[arg-type]

    def for_run(self, settings: RunSettings) -> tuple[ResolvedModel, ResolvedModel]:
        """The (local, cloud) models of a run: the build-time ones unless the settings name others.

        Args:
            settings: The run's settings (``local_model`` / ``cloud_model``).

        Returns:
            The local and the cloud :class:`~langgraph_cloudlocal.models.ResolvedModel`.
        """
        local = self._resolve(settings.local_model, "local") if settings.local_model else self.local
        cloud = self._resolve(settings.cloud_model, "cloud") if settings.cloud_model else self.cloud
        return local, cloud


# --------------------------------------------------------------------------------------------------
# State pieces


class ProtocolInput(TypedDict, total=False):
    """The input every protocol takes: ``question`` and ``documents`` (texts).

    Example:
        >>> ProtocolInput(question="Who signed?", documents=["Ann signed."])
        {'question': 'Who signed?', 'documents': ['Ann signed.']}
    """

    question: str
    documents: list[str]


class ProtocolOutput(TypedDict, total=False):
    """The output every protocol gives: ``answer``, ``usage`` and ``decisions``.

    Example:
        >>> ProtocolOutput(answer="Ann", usage={}, decisions=[])["answer"]
        'Ann'
    """

    answer: str
    usage: dict[str, Any]
    decisions: list[SwitchDecision]


def add_usage(left: RawUsage | None, right: RawUsage | None) -> RawUsage:
    """The ``ledger`` reducer: raw usage counters added role by role.

    Args:
        left: The counters so far.
        right: A node's new counters.

    Returns:
        Their sum.

    Example:
        >>> from langgraph_cloudlocal.ledger import usage_delta
        >>> one = usage_delta("local", input_tokens=10, output_tokens=2)
        >>> add_usage(one, one)["local"]["input_tokens"]
        20
    """
    return merge_usage(left, right)


UsageField = Annotated[dict[str, Any], add_usage]
"""A state key of raw usage counters that nodes add to (the ``ledger``)."""
DecisionsField = Annotated[list[SwitchDecision], operator.add]
"""A state key of :class:`~langgraph_cloudlocal.decisions.SwitchDecision` that nodes append to."""


def check_input(question: Any, documents: Any, *, documents_required: bool) -> tuple[str, list[str]]:
    """Validate the two inputs every protocol takes, before any model call.

    Args:
        question: The question (a non-empty string).
        documents: None, one text, or a list of texts, LangChain ``Document`` objects or loaders.
        documents_required: True for protocols that cannot run without a document.

    Returns:
        The stripped question and the list of documents.

    Raises:
        InputError: An empty question, documents that are not text, a missing or empty document where
            one is required, or NUL bytes.

    Example:
        >>> check_input(" Who? ", "Ann did.", documents_required=True)
        ('Who?', ['Ann did.'])
    """
    if not isinstance(question, str) or not question.strip():
        raise InputError("question must be a non-empty string")
    if documents is None:
        documents = []
    if isinstance(documents, str):
        documents = [documents]
    if isinstance(documents, Sequence) and not all(isinstance(d, str) for d in documents):
        # LangChain Documents and loaders (and this package's Document) become their texts.
        try:
            documents = document_texts(documents)
        except (TypeError, DocumentError) as exc:
            raise InputError(
                f"documents must be a list of strings (the documents' text), LangChain Documents or "
                f"document loaders: {exc}"
            ) from exc
    if not isinstance(documents, Sequence) or not all(isinstance(d, str) for d in documents):
        raise InputError("documents must be a list of strings (the documents' text)")
    if documents_required and not documents:
        raise InputError("this protocol needs at least one document")
    for index, text in enumerate(documents):
        if documents_required and not text.strip():
            raise InputError(f"document {index} is empty")
        if "\x00" in text:
            raise InputError(f"document {index} contains NUL bytes: binary data passed as text?")
    return question.strip(), list(documents)


# --------------------------------------------------------------------------------------------------
# One run: started once, its settings read by every later node


def begin_run(
    state: Mapping[str, Any],
    context: Any,
    settings_class: type[SettingsT],
    *,
    documents_required: bool,
    reset: Mapping[str, Any] | None = None,
) -> tuple[SettingsT, dict[str, Any]]:
    """What a protocol's first node does: validate the settings and the input once, and start afresh.

    The validated settings go into the state (under :data:`SETTINGS_KEY`, as plain values a checkpointer
    can store), so later nodes read them with :func:`run_settings` instead of validating again. The
    ``ledger`` and ``decisions`` are overwritten (a thread invoked again counts this run only).

    Args:
        state: The graph state at the start (on a thread: what the last run left, plus the new input).
        context: The run's context (``runtime.context``).
        settings_class: The protocol's settings class.
        documents_required: True for protocols that cannot run without a document.
        reset: The protocol's own per-run keys and their fresh values; wrap a key that has a reducer in
            ``Overwrite``.

    Returns:
        The settings and the state update that starts the run.

    Raises:
        InputError: Bad settings or bad input (before any model call).

    Example:
        >>> settings, update = begin_run(
        ...     {"question": "Who?"}, {"max_cloud_calls": 2}, RunSettings, documents_required=False
        ... )
        >>> run_settings(update, RunSettings).max_cloud_calls, update["documents"]
        (2, [])
    """
    settings = current_settings(context, settings_class)
    question, documents = check_input(
        state.get("question"), state.get("documents"), documents_required=documents_required
    )
    update: dict[str, Any] = {
        # Only this protocol's fields: a parent graph's context may subclass the settings with its own.
        SETTINGS_KEY: {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings_class)},
        "question": question,
        "documents": documents,
        "ledger": Overwrite({}),
        "decisions": Overwrite([]),
    }
    update.update(reset or {})
    return settings, update


def run_settings(state: Mapping[str, Any], settings_class: type[SettingsT]) -> SettingsT:
    """The settings :func:`begin_run` validated and stored for this run (not validated again).

    Args:
        state: The graph state.
        settings_class: The protocol's settings class.

    Returns:
        The run's settings.

    Raises:
        RunStateError: No settings in the state (the start node did not run).

    Example:
        >>> run_settings({"settings": {"max_cloud_calls": 2}}, RunSettings).max_cloud_calls
        2
    """
    values = state.get(SETTINGS_KEY)
    if not isinstance(values, Mapping):
        raise RunStateError(
            "no run settings in the state: the protocol's start node (begin_run) must run first"
        )
    return settings_class(**values)


def settings_state(settings: RunSettings) -> dict[str, Any]:
    """The state entry :func:`begin_run` writes for ``settings``: for calling a node alone in a test.

    Args:
        settings: Validated settings.

    Returns:
        ``{SETTINGS_KEY: the settings as plain values}``.

    Example:
        >>> run_settings(settings_state(RunSettings(max_cloud_calls=1)), RunSettings).max_cloud_calls
        1
    """
    return {SETTINGS_KEY: dataclasses.asdict(settings)}


# --------------------------------------------------------------------------------------------------
# Decisions and budgets


def decide(
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
    """Record one switch: build the decision and send it to the custom stream and to tracing.

    Args:
        protocol: The protocol's name (``"minion"``...).
        node: The node that decided.
        decision: What was decided (``"escalate"``, ``"accept"``, ``"budget_stop"``...).
        reason: Why, in one sentence.
        step: The step or round it concerns.
        score: The score the decision was made on.
        threshold: The threshold the score was compared with.
        tokens: Tokens spent on the call(s) that led to it.

    Returns:
        The decision, for the node's ``decisions`` update.

    Example:
        >>> decide("adaswitch", "verify", "accept", "score 0.1 <= 0.5", step=1, score=0.1)["decision"]
        'accept'
    """
    return emit_decision(
        make_decision(
            protocol, node, decision, reason, step=step, score=score, threshold=threshold, tokens=tokens
        )
    )


def prompt_text(messages: Sequence[BaseMessage] | str) -> str:
    """The text of the messages about to be sent, as budgets count it.

    Args:
        messages: Chat messages, or text already joined.

    Returns:
        The messages' texts, one per line.

    Example:
        >>> from langchain_core.messages import HumanMessage, SystemMessage
        >>> prompt_text([SystemMessage("Be brief."), HumanMessage("Who?")])
        'Be brief.\\nWho?'
    """
    if isinstance(messages, str):
        return messages
    return "\n".join(m.text for m in messages)


def budget_refusal(
    usage: Mapping[str, Any] | None,
    settings: RunSettings,
    cloud: ResolvedModel,
    prices: PriceTable,
    messages: Sequence[BaseMessage] | str,
) -> str | None:
    """Why the cloud call about to send ``messages`` must not happen, or None.

    With ``on_budget_exceeded="interrupt"`` a human is asked first (``interrupt``); None comes back when
    they allow the call.

    Args:
        usage: The run's ledger so far.
        settings: The run's settings (the caps).
        cloud: The cloud model (for its price).
        prices: The price table.
        messages: The messages of the next cloud call (or their text).

    Returns:
        The reason the call would break the budget, or None.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> cloud = ModelRoles(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"])).cloud
        >>> budget_refusal({}, RunSettings(max_cloud_calls=0), cloud, PriceTable(), [HumanMessage("Hi")])
        'cloud call cap reached (0 of 0 calls made)'
    """
    budget = settings.budget()
    if budget.unlimited:
        return None
    reason = budget.refusal(
        usage,
        next_input_tokens=approx_tokens(prompt_text(messages)),
        cloud_price=prices.for_model("cloud", cloud.model_name),
    )
    if reason and settings.on_budget_exceeded == "interrupt":
        approved = interrupt(
            {"type": "cloudlocal.budget", "reason": reason, "question": "Allow this cloud call?"}
        )
        if approved is True or (isinstance(approved, Mapping) and approved.get("allow") is True):
            return None
    return reason


def budget_retry_guard(
    usage: Mapping[str, Any] | None, settings: RunSettings, cloud: ResolvedModel, prices: PriceTable
) -> RetryRefusal | None:
    """The ``retry_refusal`` of a structured cloud call.

    A repair retry is a full cloud call, so it is checked against the budget like the first attempt
    (without asking a human: a refusal stops the retries).

    Args:
        usage: The run's ledger before the call.
        settings: The run's settings (the caps).
        cloud: The cloud model (for its price).
        prices: The price table.

    Returns:
        None without caps, else ``refusal(used_by_the_call_so_far, next_prompt) -> reason or None``.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> cloud = ModelRoles(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"])).cloud
        >>> budget_retry_guard({}, RunSettings(), cloud, PriceTable()) is None  # no caps
        True
        >>> guard = budget_retry_guard({}, RunSettings(max_cloud_calls=0), cloud, PriceTable())
        >>> guard({}, "Try again")
        'cloud call cap reached (0 of 0 calls made)'
    """
    budget = settings.budget()
    if budget.unlimited:
        return None
    price = prices.for_model("cloud", cloud.model_name)

    def refusal(used: RawUsage, next_prompt: str) -> str | None:
        return budget.refusal(
            merge_usage(usage, used), next_input_tokens=approx_tokens(next_prompt), cloud_price=price
        )

    return refusal


def budget_stop_decision(protocol: str, node: str, reason: str, step: int | None) -> SwitchDecision:
    """Record a ``budget_stop``: a cloud call refused by the budget.

    Args:
        protocol: The protocol's name.
        node: The node that would have called the cloud.
        reason: The refusal (from :func:`budget_refusal`).
        step: The step or round.

    Returns:
        The decision.

    Example:
        >>> budget_stop_decision("minions", "plan", "cloud call cap reached", 1)["decision"]
        'budget_stop'
    """
    return decide(protocol, node, "budget_stop", reason, step=step)


def usage_report(
    usage: Mapping[str, Any] | None,
    local: ResolvedModel,
    cloud: ResolvedModel,
    prices: PriceTable,
    *,
    question: str,
    documents: Sequence[str],
    answer: str,
    cloud_only_run: bool = False,
) -> dict[str, Any]:
    """The ``usage`` object of a protocol's output (see :func:`~langgraph_cloudlocal.ledger.finalize_usage`).

    The cloud-only estimate counts tokens with the cloud model's own tokenizer where one is at hand
    (:func:`~langgraph_cloudlocal.ledger.cloud_token_counter`).

    Args:
        usage: The run's raw ledger.
        local: The run's local model.
        cloud: The run's cloud model.
        prices: The price table.
        question: The question (for the cloud-only estimate).
        documents: Every private text of the run: the cloud requests in ``usage`` are measured
            against them.
        answer: The answer (for the cloud-only estimate's output).
        cloud_only_run: True for the cloud-only yardstick (its estimate is what it measured).

    Returns:
        Tokens per role, dollars, the cloud-only estimate, what reached the cloud, ``document_chars``.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> roles = ModelRoles(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"]))
        >>> report = usage_report(
        ...     {}, roles.local, roles.cloud, PriceTable(), question="Who?", documents=["Ann did."], answer="Ann"
        ... )
        >>> report["document_chars"]
        8
    """

    document_chars = sum(len(d) for d in documents)
    input_tokens = output_tokens = 0
    method = "measured (this run is cloud-only)"
    cloud_counters: Mapping[str, Any] = merge_usage(usage, {}).get("cloud") or {}
    if not (cloud_only_run and cloud_counters.get("calls")):
        counter, method = cloud_token_counter(cloud.model_name, cloud.base_url)
        try:
            input_tokens, output_tokens = estimate_cloud_only(question, list(documents), answer, counter)
        except Exception:  # noqa: BLE001 - the tokenizer server went away mid-run: fall back
            input_tokens, output_tokens = estimate_cloud_only(
                question, list(documents), answer, approx_tokens
            )
            method = "chars/4"
    return finalize_usage(
        usage,
        local_model=local.model_name,
        cloud_model=cloud.model_name,
        prices=prices,
        cloud_only_input_tokens=input_tokens,
        cloud_only_output_tokens=output_tokens,
        cloud_only_method=method,
        documents=list(documents),
        cloud_only_run=cloud_only_run,
    ) | {"document_chars": document_chars}


# Connection failures and timeouts are retried with backoff; bad output is handled inside the call layer.
# A prompt longer than the model's context (PromptTooLongError) is not retried: it would fail again.
MODEL_RETRY = RetryPolicy(
    initial_interval=0.5,
    backoff_factor=2.0,
    max_attempts=3,
    retry_on=lambda exc: isinstance(exc, ModelCallError) and exc.retryable,
)
"""The retry policy of every node that calls a model."""


# --------------------------------------------------------------------------------------------------
# A protocol's nodes and their dependencies


class ProtocolNodes(Generic[SettingsT]):
    """Base of a protocol's nodes: the dependencies they share and the kit bound to them.

    A protocol subclasses it, sets ``protocol``, adds its own dependencies (a store, a verifier) and
    writes each node as a method ``node(state) -> dict`` (the start node also takes the runtime). A
    test builds the class and calls one node with a state dict.

    Args:
        roles: The local and cloud models and the prices.
        settings_class: The protocol's settings class (with the build-time defaults).

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> class Echo(ProtocolNodes[RunSettings]):
        ...     protocol = "echo"
        >>> nodes = Echo(ModelRoles(ScriptedChatModel(replies=["x"]), None, cloud_required=False), RunSettings)
        >>> nodes.settings(settings_state(RunSettings(max_cloud_calls=1))).max_cloud_calls
        1
    """

    protocol: str = ""

    def __init__(self, roles: ModelRoles, settings_class: type[SettingsT]) -> None:
        self.roles = roles
        self.settings_class = settings_class

    def begin(
        self,
        state: Mapping[str, Any],
        runtime: Runtime[Any] | None,
        *,
        documents_required: bool,
        reset: Mapping[str, Any] | None = None,
    ) -> tuple[SettingsT, dict[str, Any]]:
        """:func:`begin_run` with this protocol's settings class.

        Args:
            state: The graph state at the start.
            runtime: The node's runtime (its ``context`` holds the run's settings); None: defaults.
            documents_required: True for protocols that cannot run without a document.
            reset: The protocol's own per-run keys.

        Returns:
            The settings and the state update that starts the run.

        Raises:
            InputError: Bad settings or bad input.
        """
        context = runtime.context if runtime is not None else None
        return begin_run(
            state, context, self.settings_class, documents_required=documents_required, reset=reset
        )

    def settings(self, state: Mapping[str, Any]) -> SettingsT:
        """The run's settings, as the start node stored them.

        Args:
            state: The graph state.

        Returns:
            The settings.

        Raises:
            RunStateError: The start node did not run.
        """
        return run_settings(state, self.settings_class)

    def decide(
        self,
        node: str,
        decision: str,
        reason: str,
        *,
        step: int | None = None,
        score: float | None = None,
        threshold: float | None = None,
        tokens: int = 0,
    ) -> SwitchDecision:
        """:func:`decide` for this protocol.

        Args:
            node: The node that decided.
            decision: What was decided.
            reason: Why.
            step: The step or round.
            score: The score it was made on.
            threshold: The threshold the score was compared with.
            tokens: Tokens spent on the call(s) that led to it.

        Returns:
            The decision.
        """
        return decide(
            self.protocol,
            node,
            decision,
            reason,
            step=step,
            score=score,
            threshold=threshold,
            tokens=tokens,
        )

    def budget_refusal(
        self, state: Mapping[str, Any], settings: SettingsT, messages: Sequence[BaseMessage]
    ) -> str | None:
        """:func:`budget_refusal` for the cloud call about to send ``messages``.

        Args:
            state: The graph state (its ``ledger`` is what was spent).
            settings: The run's settings.
            messages: The messages of the next cloud call.

        Returns:
            Why the call must not happen, or None.
        """
        _, cloud = self.roles.for_run(settings)
        return budget_refusal(state.get("ledger"), settings, cloud, self.roles.prices, messages)

    def retry_guard(self, state: Mapping[str, Any], settings: SettingsT) -> RetryRefusal | None:
        """:func:`budget_retry_guard` for a structured cloud call.

        Args:
            state: The graph state (its ``ledger`` is what was spent).
            settings: The run's settings.

        Returns:
            The ``retry_refusal`` to give ``call_structured``.
        """
        _, cloud = self.roles.for_run(settings)
        return budget_retry_guard(state.get("ledger"), settings, cloud, self.roles.prices)

    def usage(
        self,
        state: Mapping[str, Any],
        settings: SettingsT,
        ledger: Mapping[str, Any] | None,
        answer: str,
        *,
        cloud_only_run: bool = False,
    ) -> dict[str, Any]:
        """:func:`usage_report` of the run that ends with this node.

        Args:
            state: The graph state (its ``ledger``, ``question`` and ``documents``).
            settings: The run's settings (its models).
            ledger: The counters of this node's own calls, not yet in the state.
            answer: The answer.
            cloud_only_run: True for the cloud-only yardstick.

        Returns:
            The finished ``usage``.
        """
        local, cloud = self.roles.for_run(settings)
        return usage_report(
            merge_usage(state.get("ledger"), ledger),
            local,
            cloud,
            self.roles.prices,
            question=state["question"],
            documents=list(state.get("documents") or []),
            answer=answer,
            cloud_only_run=cloud_only_run,
        )
