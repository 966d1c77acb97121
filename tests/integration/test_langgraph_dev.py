"""`langgraph dev` serves the graphs of langgraph.json; a langgraph_sdk client runs them and reads the
switching decisions on the streamed ``custom`` channel.

The server (langgraph-cli[inmem], a dev dependency) runs on loopback in a copy of langgraph.json and
graphs/ (so its ``.langgraph_api`` state stays out of the repository), with SmolLM2 for both roles.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langgraph_cloudlocal.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 90
DOCUMENT = (
    "Harborline Logistics, Q3 memo. Revenue was 41.7 million euros. "
    "The Eastern region shipped 12,400 containers and is led by Marta Kowalska."
)
# Small limits keep each run to seconds on SmolLM2-135M.
FAST = {"max_rounds": 1, "local_max_tokens": 48, "cloud_max_tokens": 96, "structured_retries": 0}


def _server_env(spec: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CLOUDLOCAL_LOCAL_MODEL=spec,
        CLOUDLOCAL_CLOUD_MODEL=spec,
        # Nothing may leave the machine: no analytics, no version check, no tracing.
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGGRAPH_NO_VERSION_CHECK="true",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
    )
    return env


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def langgraph_dev(spec: str, workdir: Path) -> Iterator[str]:
    """Start `langgraph dev` on a free loopback port; yield its URL; stop its whole process group."""
    shutil.copy(ROOT / "langgraph.json", workdir / "langgraph.json")
    shutil.copytree(ROOT / "graphs", workdir / "graphs", ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "langgraph-dev.log"
    cli = Path(sys.executable).with_name("langgraph")
    command = [str(cli), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_server_env(spec),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited with {process.returncode}:\n{_log_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"langgraph dev did not answer within {STARTUP_TIMEOUT_S}s:\n{_log_tail(log_path)}"
                )
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def server_url(smollm2_spec: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with langgraph_dev(smollm2_spec, tmp_path_factory.mktemp("langgraph-dev")) as url:
        yield url


def _stream(client: Any, graph_id: str, inputs: dict[str, Any], context: dict[str, Any]) -> tuple[list, dict]:
    thread = client.threads.create()
    custom: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    for part in client.runs.stream(
        thread["thread_id"],
        graph_id,
        input=inputs,
        stream_mode=["custom", "values"],
        context=context,
        config={"max_concurrency": 4},
    ):
        if part.event == "error":
            pytest.fail(f"run of {graph_id} failed: {json.dumps(part.data)[:2000]}")
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            final = part.data
    return custom, final


def test_serves_every_graph_with_its_settings(server_url: str) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server_url)
    config = json.loads((ROOT / "langgraph.json").read_text())
    assistants = {a["graph_id"]: a for a in client.assistants.search(limit=50)}
    assert set(config["graphs"]) <= set(assistants)
    schemas = client.assistants.get_schemas(assistants["minion"]["assistant_id"])
    context_fields = set(schemas["context_schema"]["properties"])
    assert {"max_rounds", "max_cloud_usd", "local_model", "cloud_model"} <= context_fields


@pytest.mark.parametrize(
    ("graph_id", "context"),
    [
        ("minion", FAST),
        ("minions", FAST | {"max_tasks_per_round": 1, "retrieval": "off", "chunk_size": 400}),
        ("adaswitch", {"threshold": 0.0, "max_steps": 2, "local_max_tokens": 48, "cloud_max_tokens": 64}),
    ],
)
def test_run_streams_decisions(server_url: str, graph_id: str, context: dict[str, Any]) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server_url)
    inputs = {"question": "Who leads the Eastern region?", "documents": [DOCUMENT]}
    custom, final = _stream(client, graph_id, inputs, context)

    decisions = [event for event in custom if event.get("type") == "cloudlocal.decision"]
    assert decisions, f"no decision on the custom stream: {custom}"
    assert all(d["protocol"] == graph_id for d in decisions)
    assert all({"node", "decision", "reason"} <= set(d) for d in decisions)
    # The same decisions reach the output.
    assert [d["decision"] for d in final["decisions"]] == [d["decision"] for d in decisions]
    assert isinstance(final["answer"], str)
    usage = final["usage"]
    assert usage["local"]["calls"] >= 1
    if graph_id != "adaswitch":  # AdaSwitch calls the cloud only for escalated steps
        assert usage["cloud"]["calls"] >= 1
    # measured from the cloud requests (the real worker may quote what it read): within the documents
    assert 0 <= usage["private_chars_to_cloud"] <= usage["document_chars"]
