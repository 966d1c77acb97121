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
