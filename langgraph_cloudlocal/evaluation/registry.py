"""Protocol labels for evaluation runs: a registered protocol name (``local-only``, ``cloud-only``,
``minion``, ``minions``, ``adaswitch``, or an alias), with per-run settings after an ``@``.

* ``adaswitch@0.3`` — AdaSwitch with ``threshold=0.3`` (the protocol's ``shorthand`` setting);
* ``minions@max_rounds=2+chunk_chars=2000`` — any settings of the protocol's context schema,
  ``key=value`` pairs joined by ``+`` (values read as JSON where they parse: numbers, true/false, null).

The protocols themselves are the one registry, :data:`langgraph_cloudlocal.protocols.PROTOCOLS`; a
protocol module that is missing or broken fails only the runs that ask for it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_cloudlocal.protocols import (
    PROTOCOLS,
    ProtocolError,
    ProtocolInfo,
    UnknownProtocolError,
    get_protocol,
)
from langgraph_cloudlocal.running import ModelArg, check_settings, parse_settings, parse_value


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol configuration to evaluate: a label (as it appears in results and reports), the
    protocol name, and the per-run context passed to ``graph.invoke(..., context=...)``."""

    label: str
    name: str
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> ProtocolInfo:
        """The protocol's registry entry."""
        return get_protocol(self.name)

    def build(self, local: ModelArg, cloud: ModelArg, chunk_store: Any = None) -> Any:
        """Build the protocol's compiled graph and check this label's settings against it.

        Args:
            local: The local model.
            cloud: The cloud model.
            chunk_store: Passed to protocols whose factory takes one (Minion, MinionS).

        Returns:
            The compiled graph.

        Raises:
            ProtocolError: The protocol is not available, or a setting is unknown or has a bad value.
        """
        factory = self.info.load_factory()
        accepts_store = "chunk_store" in inspect.signature(factory).parameters
        graph = factory(local, cloud, chunk_store=chunk_store) if accepts_store else factory(local, cloud)
        if self.context:
            try:  # a bad name, value or type fails here, before the first item runs
                check_settings(self.info, self.context, graph=graph)
            except ProtocolError as exc:
                raise ProtocolError(f"{self.label}: {exc}") from exc
        return graph


def parse_protocol(text: str) -> ProtocolSpec:
    """Parse one protocol label such as ``"cloud-only"``, ``"adaswitch@0.3"`` or ``"minions@max_rounds=2"``.

    Args:
        text: A protocol name or alias, optionally with ``@VALUE`` or ``@SETTING=VALUE+...``.

    Returns:
        The :class:`ProtocolSpec` (label, canonical name, context).

    Raises:
        UnknownProtocolError: The name is not registered.
        ProtocolError: The part after ``@`` cannot be read.

    Example:
        >>> parse_protocol("ada-switch@0.3")
        ProtocolSpec(label='adaswitch@0.3', name='adaswitch', context={'threshold': 0.3})
    """
    raw = text.strip()
    base, at, params = raw.partition("@")
    try:
        info = get_protocol(base)
    except UnknownProtocolError as exc:
        raise UnknownProtocolError(f"{exc} (settings after '@')") from exc
    name = info.name
    if not at:
        return ProtocolSpec(name, name)
    params = params.strip()
    if not params:
        raise ProtocolError(f"{raw!r}: nothing after '@'")
    context: dict[str, Any] = {}
    if "=" not in params:
        if info.shorthand is None:
            raise ProtocolError(f"{raw!r}: {name} has no '@value' shorthand; write {name}@SETTING=VALUE")
        value = parse_value(params)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ProtocolError(f"{raw!r}: the {info.shorthand} after '@' must be a number")
        context[info.shorthand] = value
        return ProtocolSpec(f"{name}@{params}", name, context)
    try:
        context.update(parse_settings(params.split("+")))
    except ProtocolError as exc:
        raise ProtocolError(f"{raw!r}: {exc} (pairs joined by '+')") from exc
    label = f"{name}@" + "+".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in context.items()
    )
    return ProtocolSpec(label, name, context)


def parse_protocols(protocols: str | Sequence[str]) -> list[ProtocolSpec]:
    """Parse a comma-separated list (or a list of such strings); duplicates are dropped, order kept.

    Args:
        protocols: ``"local-only,cloud-only,adaswitch@0.3"``, or a list of such strings or specs.

    Returns:
        The specs, one per distinct label.

    Raises:
        ProtocolError: A label cannot be read, or none is given.

    Example:
        >>> [s.label for s in parse_protocols("cloud, local-only, cloud-only")]
        ['cloud-only', 'local-only']
    """
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
    "PROTOCOLS",
    "ModelArg",
    "ProtocolError",
    "ProtocolInfo",
    "ProtocolSpec",
    "UnknownProtocolError",
    "parse_protocol",
    "parse_protocols",
]
