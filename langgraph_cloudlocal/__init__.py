"""langgraph-cloudlocal: local-cloud LLM collaboration protocols as drop-in LangGraph subgraphs.

Public API (imported lazily, so ``import langgraph_cloudlocal`` stays cheap)::

    from langgraph_cloudlocal import create_minions, ChunkStore
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # protocols
    "create_minion": "langgraph_cloudlocal.protocols.minion",
    "build_minion": "langgraph_cloudlocal.protocols.minion",
    "create_minions": "langgraph_cloudlocal.protocols.minions",
    "build_minions": "langgraph_cloudlocal.protocols.minions",
    "create_adaswitch": "langgraph_cloudlocal.protocols.adaswitch",
    "build_adaswitch": "langgraph_cloudlocal.protocols.adaswitch",
    "create_local_only": "langgraph_cloudlocal.protocols.baselines",
    "build_local_only": "langgraph_cloudlocal.protocols.baselines",
    "create_cloud_only": "langgraph_cloudlocal.protocols.baselines",
    "build_cloud_only": "langgraph_cloudlocal.protocols.baselines",
    "protocol_factory": "langgraph_cloudlocal.protocols",
    # the chat-model entry point (the OpenAI-compatible endpoint is langgraph_cloudlocal.api)
    "CloudLocalChatModel": "langgraph_cloudlocal.chat_model",
    "RunSettings": "langgraph_cloudlocal.protocols.common",
    "CloudLocalError": "langgraph_cloudlocal.errors",
    "InputError": "langgraph_cloudlocal.protocols.common",
    # documents and chunks
    "ChunkStore": "langgraph_cloudlocal.store",
    "load_document": "langgraph_cloudlocal.documents",
    "chunk_document": "langgraph_cloudlocal.documents",
    # models, usage, decisions
    "resolve_model": "langgraph_cloudlocal.models",
    "ModelSpecError": "langgraph_cloudlocal.models",
    "Budget": "langgraph_cloudlocal.ledger",
    "Price": "langgraph_cloudlocal.ledger",
    "PriceTable": "langgraph_cloudlocal.ledger",
    "SwitchDecision": "langgraph_cloudlocal.decisions",
    "embedded_server": "langgraph_cloudlocal.embedded",
    "embedded_pair": "langgraph_cloudlocal.embedded",
}

__all__ = [
    "Budget",
    "ChunkStore",
    "CloudLocalChatModel",
    "CloudLocalError",
    "InputError",
    "ModelSpecError",
    "Price",
    "PriceTable",
    "RunSettings",
    "SwitchDecision",
    "build_adaswitch",
    "build_cloud_only",
    "build_local_only",
    "build_minion",
    "build_minions",
    "chunk_document",
    "create_adaswitch",
    "create_cloud_only",
    "create_local_only",
    "create_minion",
    "create_minions",
    "embedded_pair",
    "embedded_server",
    "load_document",
    "protocol_factory",
    "resolve_model",
]

if TYPE_CHECKING:  # pragma: no cover
    from langgraph_cloudlocal.chat_model import CloudLocalChatModel
    from langgraph_cloudlocal.decisions import SwitchDecision
    from langgraph_cloudlocal.embedded import embedded_pair, embedded_server
    from langgraph_cloudlocal.errors import CloudLocalError
    from langgraph_cloudlocal.ledger import Budget, Price, PriceTable
    from langgraph_cloudlocal.models import ModelSpecError, resolve_model
    from langgraph_cloudlocal.protocols import protocol_factory
    from langgraph_cloudlocal.protocols.baselines import (
        build_cloud_only,
        build_local_only,
        create_cloud_only,
        create_local_only,
    )
    from langgraph_cloudlocal.protocols.common import InputError, RunSettings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_cloudlocal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
