"""Unit tests cannot reach the network: every socket is refused except Unix sockets (asyncio's
self-pipe). A test that needs loopback belongs in tests/integration."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket


@pytest.fixture(autouse=True)
def _no_network() -> None:
    disable_socket(allow_unix_socket=True)
