"""The collaboration protocols, one module each, and a registry of them by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from langgraph_cloudlocal.errors import CloudLocalError

# name -> (module, factory). Imported lazily so that one protocol's imports never slow down another's.
PROTOCOL_FACTORIES: dict[str, tuple[str, str]] = {
    "local-only": ("langgraph_cloudlocal.protocols.baselines", "create_local_only"),
    "cloud-only": ("langgraph_cloudlocal.protocols.baselines", "create_cloud_only"),
    "minion": ("langgraph_cloudlocal.protocols.minion", "create_minion"),
    "minions": ("langgraph_cloudlocal.protocols.minions", "create_minions"),
    "adaswitch": ("langgraph_cloudlocal.protocols.adaswitch", "create_adaswitch"),
}


class UnknownProtocolError(CloudLocalError, ValueError):
    """A protocol name that is not in the registry."""


def protocol_factory(name: str) -> Callable[..., Any]:
    """The ``create_*`` function of protocol ``name`` (e.g. ``"minions"``)."""
    key = name.strip().lower().replace("_", "-")
    if key not in PROTOCOL_FACTORIES:
        raise UnknownProtocolError(
            f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOL_FACTORIES)}"
        )
    module_name, attribute = PROTOCOL_FACTORIES[key]
    return getattr(importlib.import_module(module_name), attribute)
