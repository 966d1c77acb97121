"""The collaboration protocols, one module each, and the one registry of them by name.

Everything that needs to know which protocols exist reads :data:`PROTOCOLS`: the CLI (``cloudlocal run
-p``, ``cloudlocal list``), the evaluation (``cloudlocal eval -p``), the OpenAI-compatible endpoint, the
``graphs/`` modules for ``langgraph dev`` and the diagrams in ``docs/diagrams``. Protocol modules are
imported only when a protocol is used, so ``cloudlocal --help`` and one protocol's run never pay for the
others' imports.

Adding a protocol is one module (``create_x`` / ``build_x`` and a settings dataclass, see
``CONTRIBUTING.md``) plus one :func:`register_protocol` call, or one entry below for a built-in one.

Example:
    >>> from langgraph_cloudlocal.protocols import get_protocol
    >>> info = get_protocol("MinionS")
    >>> info.name, info.roles
    ('minions', ('local', 'cloud'))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph_cloudlocal.errors import CloudLocalError

ROLES: tuple[str, ...] = ("local", "cloud")


class ProtocolError(CloudLocalError, ValueError):
    """A protocol, or a setting of one, that cannot be used (bad value, unknown setting, missing module)."""


class UnknownProtocolError(ProtocolError):
    """A protocol name that is not in the registry; the message lists the names that are."""


@dataclass(frozen=True)
class ProtocolInfo:
    """One registered protocol: where its code lives and what it needs.

    Attributes:
        name: The canonical name (``"minions"``), lower case with dashes.
        module: The module that defines the protocol, imported on first use.
        factory: The name of its ``create_*`` function in ``module``: ``(local, cloud, **settings)`` to a
            compiled graph; a ``chunk_store=`` keyword is passed when the function takes one.
        settings: The name of its settings dataclass in ``module`` (the graph's ``context_schema``), or
            None when the graph has none.
        builder: The name of its ``build_*`` function (the uncompiled ``StateGraph``), or None.
        roles: The model roles the protocol calls (``("local",)`` for local-only).
        aliases: Other names accepted for it (``"cloud"`` for ``"cloud-only"``).
        shorthand: The setting that ``NAME@VALUE`` sets in evaluation labels (``adaswitch@0.3``), or None.
        description: One line for listings.
        title: The heading of its diagram.
        summary: A paragraph on how it works, for the diagrams' page.

    Example:
        >>> info = ProtocolInfo("echo", "my_package.echo", "create_echo", roles=("local",))
        >>> info.name, info.roles
        ('echo', ('local',))
    """

    name: str
    module: str
    factory: str
    settings: str | None = None
    builder: str | None = None
    roles: tuple[str, ...] = ROLES
    aliases: tuple[str, ...] = ()
    shorthand: str | None = None
    description: str = ""
    title: str = ""
    summary: str = ""

    @property
    def graph_name(self) -> str:
        """The compiled graph's name and its ``langgraph.json`` / diagram id (``"local_only"``)."""
        return self.name.replace("-", "_")

    def _attribute(self, attribute: str) -> Any:
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name and self.module.startswith(exc.name):
                raise ProtocolError(
                    f"protocol {self.name!r} is not available: module {self.module} is not installed"
                ) from exc
            raise
        value = getattr(module, attribute, None)
        if value is None:
            raise ProtocolError(f"protocol {self.name!r} is not available: {self.module} has no {attribute}")
        return value

    def load_factory(self) -> Callable[..., Any]:
        """The protocol's ``create_*`` function.

        Returns:
            The factory, imported now.

        Raises:
            ProtocolError: The module or the function does not exist.
        """
        return self._attribute(self.factory)  # type: ignore[no-any-return]

    def load_builder(self) -> Callable[..., Any]:
        """The protocol's ``build_*`` function (the uncompiled graph).

        Raises:
            ProtocolError: The protocol registers no builder, or it does not exist.
        """
        if self.builder is None:
            raise ProtocolError(f"protocol {self.name!r} registers no build_* function")
        return self._attribute(self.builder)  # type: ignore[no-any-return]

    def load_settings_class(self) -> type | None:
        """The protocol's settings dataclass, or None when it registers none.

        Raises:
            ProtocolError: The module or the class does not exist.
        """
        return None if self.settings is None else self._attribute(self.settings)


PROTOCOLS: dict[str, ProtocolInfo] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_protocol(info: ProtocolInfo, *, replace: bool = False) -> ProtocolInfo:
    """Add a protocol to the registry, so the CLI, the evaluation and the endpoint can run it by name.

    Args:
        info: What the protocol is and where its code lives.
        replace: Overwrite an entry of the same name (else that is an error).

    Returns:
        ``info``, for chaining.

    Raises:
        ProtocolError: The name or an alias is already taken.

    Example:
        >>> from langgraph_cloudlocal.protocols import ProtocolInfo, register_protocol, unregister_protocol
        >>> _ = register_protocol(ProtocolInfo("echo", "my_package.echo", "create_echo", roles=("local",)))
        >>> unregister_protocol("echo")
    """
    name = _key(info.name)
    if name != info.name:
        raise ProtocolError(f"protocol names are lower case with dashes: {info.name!r} should be {name!r}")
    taken = {alias: entry.name for entry in PROTOCOLS.values() for alias in (entry.name, *entry.aliases)}
    if not replace:
        for alias in (info.name, *info.aliases):
            if _key(alias) in taken:
                raise ProtocolError(f"protocol name {alias!r} is already taken by {taken[_key(alias)]!r}")
    PROTOCOLS[name] = info
    return info


def unregister_protocol(name: str) -> None:
    """Remove a protocol from the registry (tests and plugins that register one for a while).

    Args:
        name: The canonical name the protocol was registered under.

    Example:
        >>> _ = register_protocol(ProtocolInfo("echo", "my_package.echo", "create_echo"))
        >>> unregister_protocol("echo")
        >>> "echo" in protocol_names()
        False
    """
    PROTOCOLS.pop(_key(name), None)


def protocol_names() -> list[str]:
    """The canonical names of every registered protocol, in registration order.

    Returns:
        The names, e.g. ``["local-only", "cloud-only", "minion", "minions", "adaswitch"]``.

    Example:
        >>> "minions" in protocol_names()
        True
    """
    return list(PROTOCOLS)


def get_protocol(name: str) -> ProtocolInfo:
    """The registry entry of protocol ``name`` (any case, ``_`` or ``-``, or an alias).

    Args:
        name: A protocol name such as ``"minions"``, ``"local_only"`` or ``"cloud"``.

    Returns:
        Its :class:`ProtocolInfo`.

    Raises:
        UnknownProtocolError: No protocol has that name; the message lists the names.

    Example:
        >>> get_protocol("cloud").name
        'cloud-only'
    """
    key = _key(str(name))
    info = PROTOCOLS.get(key)
    if info is None:
        info = next((i for i in PROTOCOLS.values() if key in (_key(a) for a in i.aliases)), None)
    if info is None:
        raise UnknownProtocolError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    return info


def protocol_factory(name: str) -> Callable[..., Any]:
    """The ``create_*`` function of protocol ``name``.

    Args:
        name: A registered protocol name or alias (e.g. ``"minions"``).

    Returns:
        ``create_*(local, cloud, **settings)``, which returns a compiled graph.

    Raises:
        UnknownProtocolError: No protocol has that name.
        ProtocolError: Its module or function is missing.

    Example:
        >>> create = protocol_factory("local-only")
        >>> create.__name__
        'create_local_only'
    """
    return get_protocol(name).load_factory()


for _info in (
    ProtocolInfo(
        "local-only",
        "langgraph_cloudlocal.protocols.baselines",
        "create_local_only",
        settings="BaselineSettings",
        builder="build_local_only",
        roles=("local",),
        aliases=("local",),
        description="the local model alone reads the documents (free, private)",
        title="Local only (yardstick)",
        summary="The local model alone answers from the whole documents: free, private, and the accuracy floor.",
    ),
    ProtocolInfo(
        "cloud-only",
        "langgraph_cloudlocal.protocols.baselines",
        "create_cloud_only",
        settings="BaselineSettings",
        builder="build_cloud_only",
        roles=("cloud",),
        aliases=("cloud",),
        description="the cloud model alone reads the documents (the accuracy and cost yardstick)",
        title="Cloud only (yardstick)",
        summary="The cloud model alone reads the whole documents: the accuracy ceiling and the cost to beat.",
    ),
    ProtocolInfo(
        "minion",
        "langgraph_cloudlocal.protocols.minion",
        "create_minion",
        settings="MinionSettings",
        builder="build_minion",
        description="the cloud model chats with the local model, which has read the documents",
        title="Minion",
        summary="The cloud supervisor never sees the documents: it asks the local worker, which has read them, "
        "one question at a time (`supervisor` -> `worker` -> `supervisor` ...), and answers once it knows "
        "enough or when `max_rounds` is reached. If the cloud budget runs out, the worker answers the "
        "question itself.",
    ),
    ProtocolInfo(
        "minions",
        "langgraph_cloudlocal.protocols.minions",
        "create_minions",
        settings="MinionsSettings",
        builder="build_minions",
        aliases=("minion-s",),
        description="the cloud plans single-chunk jobs, the local model runs them in parallel",
        title="MinionS",
        summary="`prepare` chunks the documents (and indexes them in the chunk store when retrieval is on). "
        "Each round the cloud `plan`s a few small single-chunk tasks; the harness turns them into (task, "
        "chunk) jobs that fan out to the local model in parallel (`job`, LangGraph `Send`); `filter` drops "
        "jobs that found nothing; `synthesize` (cloud) reads only the filtered outputs and answers or asks "
        "for another round.",
    ),
    ProtocolInfo(
        "adaswitch",
        "langgraph_cloudlocal.protocols.adaswitch",
        "create_adaswitch",
        settings="AdaSwitchSettings",
        builder="build_adaswitch",
        aliases=("ada-switch",),
        shorthand="threshold",
        description="the local model works step by step; doubtful steps are escalated to the cloud",
        title="AdaSwitch",
        summary="The local model drafts one reasoning step at a time (`local_step`); `verify` scores how "
        "likely the step is wrong (self-reflection, token log-probabilities, or your own function); above "
        "`threshold` the step is escalated and `cloud_step` has the cloud model write it instead, then the "
        "local model carries on. The threshold is the accuracy-versus-cost knob.",
    ),
):
    register_protocol(_info)
del _info


__all__ = [
    "PROTOCOLS",
    "ROLES",
    "ProtocolError",
    "ProtocolInfo",
    "UnknownProtocolError",
    "get_protocol",
    "protocol_factory",
    "protocol_names",
    "register_protocol",
    "unregister_protocol",
]
