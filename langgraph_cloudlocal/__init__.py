"""langgraph-cloudlocal: local-cloud LLM collaboration protocols as drop-in LangGraph subgraphs.

Everything public is importable from the package root. Names are imported lazily on first use, so
``import langgraph_cloudlocal`` stays cheap; type checkers and IDEs see every name through the
``TYPE_CHECKING`` imports below, which mirror ``_EXPORTS`` name for name (a unit test keeps them so).

Every error the library raises subclasses :class:`CloudLocalError`.

Example:
    >>> from langgraph_cloudlocal import ChunkStore, create_minions
    >>> graph = create_minions(  # doctest: +SKIP
    ...     local="ollama:llama3.2:3b",
    ...     cloud="openai:gpt-4o",
    ...     chunk_store=ChunkStore.persistent("./chunks"),
    ... )
    >>> out = graph.invoke({"question": "...", "documents": ["...long text..."]})  # doctest: +SKIP
    >>> out["answer"], out["usage"], out["decisions"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PROTOCOLS = "langgraph_cloudlocal.protocols"

_EXPORTS: dict[str, str] = {
    # protocols: create_* returns a compiled graph, build_* the StateGraph before compile
    "create_minion": f"{_PROTOCOLS}.minion",
    "build_minion": f"{_PROTOCOLS}.minion",
    "create_minions": f"{_PROTOCOLS}.minions",
    "build_minions": f"{_PROTOCOLS}.minions",
    "create_adaswitch": f"{_PROTOCOLS}.adaswitch",
    "build_adaswitch": f"{_PROTOCOLS}.adaswitch",
    "create_local_only": f"{_PROTOCOLS}.baselines",
    "build_local_only": f"{_PROTOCOLS}.baselines",
    "create_cloud_only": f"{_PROTOCOLS}.baselines",
    "build_cloud_only": f"{_PROTOCOLS}.baselines",
    "protocol_factory": _PROTOCOLS,
    # per-run settings (each protocol's context_schema)
    "RunSettings": f"{_PROTOCOLS}.common",
    "MinionSettings": f"{_PROTOCOLS}.minion",
    "MinionsSettings": f"{_PROTOCOLS}.minions",
    "AdaSwitchSettings": f"{_PROTOCOLS}.adaswitch",
    "BaselineSettings": f"{_PROTOCOLS}.baselines",
    # the chat-model entry point (the OpenAI-compatible endpoint is langgraph_cloudlocal.api)
    "CloudLocalChatModel": "langgraph_cloudlocal.chat_model",
    # documents and chunks
    "ChunkStore": "langgraph_cloudlocal.store",
    "load_document": "langgraph_cloudlocal.documents",
    "chunk_document": "langgraph_cloudlocal.documents",
    # models, usage, decisions
    "resolve_model": "langgraph_cloudlocal.models",
    "Budget": "langgraph_cloudlocal.ledger",
    "Price": "langgraph_cloudlocal.ledger",
    "PriceTable": "langgraph_cloudlocal.ledger",
    "SwitchDecision": "langgraph_cloudlocal.decisions",
    "embedded_server": "langgraph_cloudlocal.embedded",
    "embedded_pair": "langgraph_cloudlocal.embedded",
    # errors, all under CloudLocalError
    "CloudLocalError": "langgraph_cloudlocal.errors",
    "InputError": f"{_PROTOCOLS}.common",
    "UnknownProtocolError": _PROTOCOLS,
    "ModelSpecError": "langgraph_cloudlocal.models",
    "ModelCallError": "langgraph_cloudlocal.calls",
    "PromptTooLongError": "langgraph_cloudlocal.calls",
    "BudgetError": "langgraph_cloudlocal.ledger",
    "DocumentError": "langgraph_cloudlocal.documents",
    "EmptyDocumentError": "langgraph_cloudlocal.documents",
    "UnsupportedDocumentError": "langgraph_cloudlocal.documents",
    "PDFError": "langgraph_cloudlocal.documents",
    "EncryptedPDFError": "langgraph_cloudlocal.documents",
    "MissingLoaderError": "langgraph_cloudlocal.documents",
    "StoreError": "langgraph_cloudlocal.store",
    "EmbeddingMismatchError": "langgraph_cloudlocal.store",
    "EmbeddingModelError": "langgraph_cloudlocal.embeddings",
    "EmbeddedModelError": "langgraph_cloudlocal.running_servers",
    "ProtocolError": _PROTOCOLS,
    "RunStateError": f"{_PROTOCOLS}.common",
    "DatasetError": "langgraph_cloudlocal.evaluation.datasets",
    "EvaluationError": "langgraph_cloudlocal.evaluation.runner",
}

__all__ = [
    "AdaSwitchSettings",
    "BaselineSettings",
    "Budget",
    "BudgetError",
    "ChunkStore",
    "CloudLocalChatModel",
    "CloudLocalError",
    "DatasetError",
    "DocumentError",
    "EmbeddedModelError",
    "EmbeddingMismatchError",
    "EmbeddingModelError",
    "EmptyDocumentError",
    "EncryptedPDFError",
    "EvaluationError",
    "InputError",
    "MinionSettings",
    "MinionsSettings",
    "MissingLoaderError",
    "ModelCallError",
    "ModelSpecError",
    "PDFError",
    "Price",
    "PriceTable",
    "PromptTooLongError",
    "ProtocolError",
    "RunSettings",
    "RunStateError",
    "StoreError",
    "SwitchDecision",
    "UnknownProtocolError",
    "UnsupportedDocumentError",
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

if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs read; mirrors _EXPORTS
    from langgraph_cloudlocal.calls import ModelCallError, PromptTooLongError
    from langgraph_cloudlocal.chat_model import CloudLocalChatModel
    from langgraph_cloudlocal.decisions import SwitchDecision
    from langgraph_cloudlocal.documents import (
        DocumentError,
        EmptyDocumentError,
        EncryptedPDFError,
        MissingLoaderError,
        PDFError,
        UnsupportedDocumentError,
        chunk_document,
        load_document,
    )
    from langgraph_cloudlocal.embedded import embedded_pair, embedded_server
    from langgraph_cloudlocal.embeddings import EmbeddingModelError
    from langgraph_cloudlocal.errors import CloudLocalError
    from langgraph_cloudlocal.evaluation.datasets import DatasetError
    from langgraph_cloudlocal.evaluation.runner import EvaluationError
    from langgraph_cloudlocal.ledger import Budget, BudgetError, Price, PriceTable
    from langgraph_cloudlocal.models import ModelSpecError, resolve_model
    from langgraph_cloudlocal.protocols import ProtocolError, UnknownProtocolError, protocol_factory
    from langgraph_cloudlocal.protocols.adaswitch import AdaSwitchSettings, build_adaswitch, create_adaswitch
    from langgraph_cloudlocal.protocols.baselines import (
        BaselineSettings,
        build_cloud_only,
        build_local_only,
        create_cloud_only,
        create_local_only,
    )
    from langgraph_cloudlocal.protocols.common import InputError, RunSettings, RunStateError
    from langgraph_cloudlocal.protocols.minion import MinionSettings, build_minion, create_minion
    from langgraph_cloudlocal.protocols.minions import MinionsSettings, build_minions, create_minions
    from langgraph_cloudlocal.running_servers import EmbeddedModelError
    from langgraph_cloudlocal.store import ChunkStore, EmbeddingMismatchError, StoreError


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562), then cache it in the module.

    Args:
        name: The attribute asked for.

    Returns:
        The object ``name`` refers to, from the module ``_EXPORTS`` maps it to.

    Raises:
        AttributeError: ``name`` is not a public name of the package.
    """
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_cloudlocal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, for ``dir()`` and tab completion.

    Returns:
        A copy of :data:`__all__`.
    """
    return list(__all__)
