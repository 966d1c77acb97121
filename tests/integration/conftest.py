"""Integration fixtures: one real SmolLM2 server per test session, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langgraph_cloudlocal.embedded import EmbeddedServer, pull, start_server


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[EmbeddedServer]:
    pull("smollm2")  # a no-op when the verified file is cached
    server = start_server("smollm2", n_ctx=8192, n_parallel=4)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smollm2_spec(smollm2_server: EmbeddedServer) -> str:
    """A model spec string for the running SmolLM2 server."""
    return smollm2_server.spec


# Appended: the Ollama-API shim for ChatOllama tests (kept at the end so existing fixtures stay as they are).
from tests.ollama_shim import OllamaShim  # noqa: E402


@pytest.fixture(scope="session")
def ollama_shim(smollm2_server: EmbeddedServer) -> Iterator[OllamaShim]:
    """Ollama's native API (tests/ollama_shim.py) in front of the SmolLM2 server, for ``ChatOllama``."""
    with OllamaShim(smollm2_server.base_url, smollm2_server.model) as shim:
        yield shim


@pytest.fixture(scope="session")
def ollama_shim_url(ollama_shim: OllamaShim) -> str:
    """``http://127.0.0.1:PORT`` of a running Ollama-API shim serving ``smollm2``: set ``OLLAMA_HOST`` to it."""
    return ollama_shim.url
