"""Protocol names for evaluation runs: ``local-only``, ``cloud-only``, ``minion``, ``minions``,
``adaswitch``, with per-run settings after an ``@``.

* ``adaswitch@0.3`` — AdaSwitch with ``threshold=0.3`` (the shorthand for a protocol's main knob);
* ``minions@max_rounds=2+chunk_chars=2000`` — any settings of the protocol's context schema,
  ``key=value`` pairs joined by ``+`` (values read as JSON where they parse: numbers, true/false, null).

Each name maps to a factory, imported only when the protocol is used, so a protocol module that is
missing or broken fails only the runs that ask for it, with a message that says so.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_cloudlocal.errors import CloudLocalError

ModelArg = str | BaseChatModel | None


class ProtocolError(CloudLocalError, ValueError):
    """A protocol name or setting that cannot be used, or a protocol module that is not available."""


@dataclass(frozen=True)
class ProtocolInfo:
    """Where a protocol's factory lives and what its ``@value`` shorthand sets."""

    name: str
    module: str
    factory: str
    shorthand: str | None = None  # the setting "NAME@value" sets, e.g. "threshold"
    description: str = ""


PROTOCOLS: dict[str, ProtocolInfo] = {
    info.name: info
    for info in (
        ProtocolInfo(
            "local-only",
            "langgraph_cloudlocal.protocols.baselines",
            "create_local_only",
            description="the local model alone reads the documents (free, private)",
        ),
        ProtocolInfo(
            "cloud-only",
            "langgraph_cloudlocal.protocols.baselines",
            "create_cloud_only",
            description="the cloud model alone reads the documents (the accuracy and cost yardstick)",
        ),
        ProtocolInfo(
            "minion",
            "langgraph_cloudlocal.protocols.minion",
            "create_minion",
            description="the cloud model chats with the local model, which has read the documents",
        ),
        ProtocolInfo(
            "minions",
            "langgraph_cloudlocal.protocols.minions",
            "create_minions",
            description="the cloud plans single-chunk jobs, the local model runs them in parallel",
        ),
        ProtocolInfo(
            "adaswitch",
            "langgraph_cloudlocal.protocols.adaswitch",
            "create_adaswitch",
            shorthand="threshold",
            description="the local model works step by step; doubtful steps are escalated to the cloud",
        ),
    )
}
ALIASES: dict[str, str] = {
    "local": "local-only",
    "local_only": "local-only",
    "cloud": "cloud-only",
    "cloud_only": "cloud-only",
    "minion-s": "minions",
    "ada-switch": "adaswitch",
}


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol configuration to evaluate: a label (as it appears in results and reports), the
    protocol name, and the per-run context passed to ``graph.invoke(..., context=...)``."""

    label: str
    name: str
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> ProtocolInfo:
        return PROTOCOLS[self.name]

    def build(self, local: ModelArg, cloud: ModelArg, chunk_store: Any = None) -> Any:
        """Import the protocol's factory and build its compiled graph; check the settings exist.
        ``chunk_store`` goes to the protocols that retrieve (Minion, MinionS)."""
        info = self.info
        try:
            module = importlib.import_module(info.module)
        except ModuleNotFoundError as exc:
            if exc.name and info.module.startswith(exc.name):
                raise ProtocolError(
                    f"protocol {self.name!r} is not available: module {info.module} is not installed or not written yet"
                ) from exc
            raise
        factory = getattr(module, info.factory, None)
        if factory is None:
            raise ProtocolError(
                f"protocol {self.name!r} is not available: {info.module} has no {info.factory}()"
            )
        accepts_store = "chunk_store" in inspect.signature(factory).parameters
        graph = factory(local, cloud, chunk_store=chunk_store) if accepts_store else factory(local, cloud)
        schema = getattr(graph, "context_schema", None)
        if self.context and schema is not None and dataclasses.is_dataclass(schema):
            known = {f.name for f in dataclasses.fields(schema)}
            unknown = sorted(set(self.context) - known)
            if unknown:
                raise ProtocolError(
                    f"{self.label}: protocol {self.name!r} has no setting(s) {unknown}; known: {sorted(known)}"
                )
            from langgraph_cloudlocal.protocols.common import RunSettings, current_settings

            if isinstance(schema, type) and issubclass(schema, RunSettings):
                try:  # a bad value or type fails here, before the first item runs
                    current_settings(self.context, schema)
                except ValueError as exc:
                    raise ProtocolError(f"{self.label}: {exc}") from exc
        return graph


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_protocol(text: str) -> ProtocolSpec:
    """Parse one protocol label such as ``"cloud-only"``, ``"adaswitch@0.3"`` or ``"minions@max_rounds=2"``."""
    raw = text.strip()
    name, at, params = raw.partition("@")
    name = name.strip().lower()
    name = ALIASES.get(name, name)
    if name not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {raw!r}; known: {', '.join(PROTOCOLS)} (settings after '@')")
    info = PROTOCOLS[name]
    if not at:
        return ProtocolSpec(name, name)
    params = params.strip()
    if not params:
        raise ProtocolError(f"{raw!r}: nothing after '@'")
    context: dict[str, Any] = {}
    if "=" not in params:
        if info.shorthand is None:
            raise ProtocolError(f"{raw!r}: {name} has no '@value' shorthand; write {name}@SETTING=VALUE")
        value = _value(params)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ProtocolError(f"{raw!r}: the {info.shorthand} after '@' must be a number")
        context[info.shorthand] = value
        return ProtocolSpec(f"{name}@{params}", name, context)
    for pair in params.split("+"):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ProtocolError(f"{raw!r}: expected SETTING=VALUE pairs joined by '+', got {pair!r}")
        context[key.strip()] = _value(value.strip())
    label = f"{name}@" + "+".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in context.items()
    )
    return ProtocolSpec(label, name, context)


def parse_protocols(protocols: str | Sequence[str]) -> list[ProtocolSpec]:
    """Parse a comma-separated list (or a list of such strings); duplicates are dropped, order kept."""
    parts = [protocols] if isinstance(protocols, str) else list(protocols)
    specs: list[ProtocolSpec] = []
    for part in parts:
        if isinstance(part, ProtocolSpec):
            specs.append(part)
            continue
        for text in str(part).split(","):
            if text.strip():
                specs.append(parse_protocol(text))
    unique = list({spec.label: spec for spec in specs}.values())
    if not unique:
        raise ProtocolError(f"no protocol given; known: {', '.join(PROTOCOLS)}")
    return unique


__all__ = [
    "ALIASES",
    "PROTOCOLS",
    "ModelArg",
    "ProtocolError",
    "ProtocolInfo",
    "ProtocolSpec",
    "parse_protocol",
    "parse_protocols",
]
