"""What every protocol shares: run settings (the context schema), model roles, budgets, input checks."""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langgraph.types import RetryPolicy, interrupt
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import ModelCallError, RetryRefusal
from langgraph_cloudlocal.decisions import SwitchDecision, emit_decision, make_decision
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

ModelSpec = str | BaseChatModel | None


class InputError(CloudLocalError, ValueError):
    """Input a protocol cannot run on; raised before any model call."""


@dataclass
class RunSettings:
    """Per-run knobs shared by every protocol (LangGraph ``context_schema``; editable in Studio).

    Pass them per invocation: ``graph.invoke(inputs, context={"max_cloud_calls": 3})``; build-time
    keyword arguments of ``create_*`` set their defaults.
    """

    max_cloud_tokens: int | None = None
    max_cloud_usd: float | None = None
    max_cloud_calls: int | None = None
    # What to do when the next cloud call would break the budget: degrade by the protocol's own rule,
    # or interrupt() and ask a human (resume with Command(resume=True) to allow the call).
    on_budget_exceeded: Literal["degrade", "interrupt"] = "degrade"
    local_max_tokens: int = 512
    cloud_max_tokens: int = 1024
    structured_retries: int = 2
    # Model specs that replace the build-time models for this run, e.g. "ollama:llama3.2:3b".
    local_model: str | None = None
    cloud_model: str | None = None

    def budget(self) -> Budget:
        return Budget(self.max_cloud_tokens, self.max_cloud_usd, self.max_cloud_calls)

    def validate(self) -> None:
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
    return cls  # type: ignore[return-value]


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
    """The local and cloud models of a graph, with per-run overrides from the settings."""

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
        local = self._resolve(settings.local_model, "local") if settings.local_model else self.local
        cloud = self._resolve(settings.cloud_model, "cloud") if settings.cloud_model else self.cloud
        return local, cloud


# --------------------------------------------------------------------------------------------------
# State pieces


class ProtocolInput(TypedDict, total=False):
    question: str
    documents: list[str]


class ProtocolOutput(TypedDict, total=False):
    answer: str
    usage: dict[str, Any]
    decisions: list[SwitchDecision]


def add_usage(left: RawUsage | None, right: RawUsage | None) -> RawUsage:
    return merge_usage(left, right)


UsageField = Annotated[dict, add_usage]
DecisionsField = Annotated[list, operator.add]


def check_input(question: Any, documents: Any, *, documents_required: bool) -> tuple[str, list[str]]:
    """Validate the two inputs every protocol takes; raise :class:`InputError` before any model call."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("question must be a non-empty string")
    if documents is None:
        documents = []
    if isinstance(documents, str):
        documents = [documents]
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
# Budgets


def budget_refusal(
    usage: Mapping[str, Any] | None,
    settings: RunSettings,
    cloud: ResolvedModel,
    prices: PriceTable,
    prompt_text: str,
    *,
    build_budget: Budget | None = None,
) -> str | None:
    """Why the next cloud call must not happen, or None. With ``on_budget_exceeded="interrupt"``,
    asks a human first (``interrupt``) and returns None if they allow the call."""
    budget = settings.budget().merged_with(build_budget)
    if budget.unlimited:
        return None
    reason = budget.refusal(
        usage,
        next_input_tokens=approx_tokens(prompt_text),
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
    """The ``retry_refusal`` of a structured cloud call: a repair retry is a full cloud call, so it is
    checked against the budget like the first attempt (without asking a human: it stops the retries)."""
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
    return emit_decision(make_decision(protocol, node, "budget_stop", reason, step=step))


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

    ``documents`` are every private text of the run: the cloud requests recorded in ``usage`` are
    measured against them. The cloud-only estimate counts tokens with the cloud model's own tokenizer
    where one is at hand (:func:`~langgraph_cloudlocal.ledger.cloud_token_counter`).
    """
    document_chars = sum(len(d) for d in documents)
    input_tokens = output_tokens = 0
    method = "measured (this run is cloud-only)"
    if not (cloud_only_run and (merge_usage(usage, {}).get("cloud") or {}).get("calls")):
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
