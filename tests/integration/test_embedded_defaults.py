"""The embedded server's defaults on a real llama.cpp server: the per-model table agrees with what the
model file says, the role's slots are what the server runs, and its threads sleep when idle."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_cloudlocal import embedded
from langgraph_cloudlocal.embedded import EmbeddedServer, pull, start_server

pytestmark = pytest.mark.integration


def _get(server: EmbeddedServer, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def default_server() -> Iterator[EmbeddedServer]:
    pull("smollm2")
    server = start_server("smollm2", register=False)  # every setting left to the defaults
    try:
        yield server
    finally:
        server.stop()


def test_the_table_matches_the_model_file(default_server: EmbeddedServer) -> None:
    (entry,) = _get(default_server, "/v1/models")["data"]
    assert entry["meta"]["n_ctx_train"] == embedded.get_model_info("smollm2").context_length


def test_the_server_runs_the_roles_slots(default_server: EmbeddedServer) -> None:
    expected = embedded.default_server_settings("smollm2", "local")
    assert (default_server.n_ctx, default_server.n_parallel) == (expected["n_ctx"], expected["n_parallel"])
    props = _get(default_server, "/props")
    assert props["total_slots"] == expected["n_parallel"]
    assert props["default_generation_settings"]["n_ctx"] == default_server.slot_context


def test_idle_threads_sleep_instead_of_spinning(default_server: EmbeddedServer) -> None:
    # llama.cpp's OpenMP pool reads this when the server process loads it
    environ = Path(f"/proc/{default_server.process.pid}/environ").read_bytes().split(b"\0")
    assert b"OMP_WAIT_POLICY=PASSIVE" in environ
    assert (default_server.threads, default_server.threads_batch) == (1, len(os.sched_getaffinity(0)))
