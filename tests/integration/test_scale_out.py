"""The scale-out path, with LangGraph's own engines (no home-made scheduler): several local model servers
behind one spec (round-robin in the model layer, a dead replica skipped), ChromaDB in server mode shared by
separate clients, and the whole stack at once - Postgres checkpointer, Chroma server, two real SmolLM2
servers - with a second "worker" (a new connection and a new graph) reading and resuming the thread.

What LangGraph Server itself adds (Redis task queue, many worker processes) cannot run here (it needs a
license key and containers): see docs/scale-out.md.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.checkpoint.postgres import PostgresSaver

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.embedded import EmbeddedServer, pull, split_cpus, start_server
from langgraph_cloudlocal.models import RoundRobinChatModel, resolve_model
from langgraph_cloudlocal.privacy import measure_privacy
from langgraph_cloudlocal.protocols.minions import build_minions, create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults import tally
from tests.faults.fakes import CountingProxy, closed_port
from tests.faults.postgres_cluster import PostgresCluster, PostgresUnavailable
from tests.integration.test_models_integration import _listening_addresses

DOC = "\n\n".join(
    f"Section {i}. The depot in district {i} holds {200 + i} barrels of lamp oil." for i in range(6)
)
QUESTION = "How many barrels does the depot in district 4 hold?"


def scripted_cloud() -> ScriptedChatModel:
    def respond(messages: list[BaseMessage]) -> str:
        if "Write at most" in str(messages[1].content):
            # the query names district 4, as a planner reading the question would ("barrels" alone
            # matches every section equally: retrieval could not be checked)
            return json.dumps(
                {
                    "tasks": [
                        {"task": "How many barrels are held?", "query": "barrels in district 4", "advice": ""}
                    ]
                }
            )
        return json.dumps(
            {
                "decision": "final",
                "answer": "204 barrels",
                "feedback": "",
                "scratchpad": "",
                "reason": "found",
            }
        )

    return ScriptedChatModel(responder=respond, model_name="gpt-4o")


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[list[EmbeddedServer], list[CountingProxy]]]:
    """Two SmolLM2 servers on disjoint CPUs (1 thread, 2 slots each), each behind a counting proxy."""
    pull("smollm2")
    servers: list[EmbeddedServer] = []
    proxies: list[CountingProxy] = []
    try:
        for cpus in split_cpus(2):
            servers.append(
                start_server("smollm2", n_ctx=2048, n_parallel=2, threads=1, cpus=cpus, register=False)
            )
            proxies.append(CountingProxy(f"http://127.0.0.1:{servers[-1].port}").start())
        yield servers, proxies
    finally:
        for proxy in proxies:
            proxy.stop()
        for server in servers:
            server.stop()


def round_robin_spec(proxies: list[CountingProxy]) -> str:
    return "openai-compatible:smollm2@" + ",".join(p.url for p in proxies)


# --------------------------------------------------------------------------------------------------
# Several local model servers


def test_round_robin_spreads_calls_across_servers(
    replicas: tuple[list[EmbeddedServer], list[CountingProxy]],
) -> None:
    servers, proxies = replicas
    for port in [s.port for s in servers] + [p.port for p in proxies]:
        assert _listening_addresses(port) == {"0100007F"}
    resolved = resolve_model(round_robin_spec(proxies), "local", temperature=0)
    assert isinstance(resolved.model, RoundRobinChatModel)
    before = [p.calls for p in proxies]
    for i in range(6):
        result = call_text(resolved, [HumanMessage(f"Say the number {i}.")], max_tokens=4)
        assert result.text.strip() and result.usage["local"]["output_tokens"] > 0
    assert [p.calls - b for p, b in zip(proxies, before, strict=True)] == [3, 3]


def test_minions_jobs_run_on_both_servers(replicas: tuple[list[EmbeddedServer], list[CountingProxy]]) -> None:
    _, proxies = replicas
    before = [p.calls for p in proxies]
    graph = create_minions(
        round_robin_spec(proxies),
        scripted_cloud(),
        chunk_size=70,
        chunk_overlap=0,
        max_rounds=1,
        local_max_tokens=48,
    )
    out = graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"max_concurrency": 4})
    served = [p.calls - b for p, b in zip(proxies, before, strict=True)]
    assert len(out["jobs"]) == 6 and out["answer"]
    assert all(n >= 2 for n in served) and sum(served) == out["usage"]["local"]["calls"], served
    assert not any("ModelCallError" in str(j.get("error")) for j in out["jobs"])
    tally.run_completed()


class DeadEndpoint:
    """A port where a crashed server was: it accepts each connection and resets it at once (counting
    them), so the test can see how often the dead replica was tried. Binds 127.0.0.1 only."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # close() closed the listening socket: stop serving
                return
            self.connections += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST: the connection dies before any reply

    def close(self) -> None:
        self.sock.close()


def test_a_dead_replica_is_skipped(replicas: tuple[list[EmbeddedServer], list[CountingProxy]]) -> None:
    _, proxies = replicas
    dead = DeadEndpoint()
    try:
        spec = f"openai-compatible:smollm2@{dead.url},{proxies[0].url}"
        resolved = resolve_model(spec, "local", temperature=0)
        assert isinstance(resolved.model, RoundRobinChatModel)
        before = proxies[0].calls
        tally.fault()
        started = time.perf_counter()
        # the first call goes to the dead replica first (round-robin starts there) and moves on
        assert call_text(resolved, [HumanMessage("Say 0.")], max_tokens=4).text.strip()
        tried = dead.connections
        assert tried >= 1, "the dead replica was never tried: nothing was skipped"
        for i in range(1, 4):
            assert call_text(resolved, [HumanMessage(f"Say {i}.")], max_tokens=4).text.strip()
        elapsed = time.perf_counter() - started
    finally:
        dead.close()
    assert proxies[0].calls - before == 4  # every call answered by the live server
    # once found dead, it was skipped: calls 2-4 (two of them its turn) never connected to it
    assert dead.connections == tried
    assert elapsed < 30


# --------------------------------------------------------------------------------------------------
# ChromaDB in server mode


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[str, int]]:
    port = closed_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = path / "chroma.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(chroma), "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chroma run exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not answer within 90 s") from None
                time.sleep(0.2)
        yield url, port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with chroma_server(tmp_path_factory.mktemp("chroma")) as server:
        yield server


@pytest.fixture(scope="module")
def minilm() -> Any:
    from langgraph_cloudlocal.embeddings import MiniLMEmbeddings, pull_embedding_model

    pull_embedding_model()
    return MiniLMEmbeddings(threads=1)


def test_chroma_server_binds_loopback_only(chroma: tuple[str, int]) -> None:
    assert _listening_addresses(chroma[1]) == {"0100007F"}


def test_minions_retrieves_from_a_shared_chroma_server(chroma: tuple[str, int], minilm: Any) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    url, _ = chroma
    # one client ingests (an ingestion worker), another one serves the run (a graph worker)
    ingest = ChunkStore.server(url, collection="scale-out", embedding=minilm)
    ids = ingest.add_documents([DOC], chunking="chars", chunk_size=70, overlap=0)
    jobs_seen: list[str] = []

    def local(messages: list[BaseMessage]) -> str:
        excerpt = str(messages[1].content).split("Task:")[0]
        jobs_seen.append(excerpt)
        found = "district 4 " in excerpt
        return json.dumps({"explanation": "", "citation": None, "answer": "204 barrels" if found else None})

    serving = ChunkStore.server(url, collection="scale-out", embedding=minilm)
    graph = create_minions(
        ScriptedChatModel(responder=local, model_name="smol"),
        scripted_cloud(),
        store=serving,
        retrieval="on",
        top_k=2,
        max_rounds=1,
    )
    out = graph.invoke({"question": QUESTION, "document_ids": list(ids)})
    assert [d["decision"] for d in out["decisions"]][0] == "retrieval"
    assert len(jobs_seen) == 2  # top_k chunks of the server's collection, not all six
    # retrieval found the chunk that answers (district 4), and its job found the answer there
    assert any("district 4 " in excerpt for excerpt in jobs_seen), jobs_seen
    assert "204 barrels" in [j["answer"] for j in out["jobs"]]
    assert out["answer"] == "204 barrels"
    tally.run_completed()


# --------------------------------------------------------------------------------------------------
# Everything at once: Postgres checkpointer + Chroma server + two real model servers


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster(closed_port()).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


def test_the_whole_scale_out_stack(
    replicas: tuple[list[EmbeddedServer], list[CountingProxy]],
    chroma: tuple[str, int],
    minilm: Any,
    postgres: PostgresCluster,
) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    _, proxies = replicas
    url, _ = chroma
    store = ChunkStore.server(url, collection="stack", embedding=minilm)
    ids = store.add_documents([DOC], chunking="chars", chunk_size=70, overlap=0)
    config: dict[str, Any] = {"configurable": {"thread_id": "stack-1"}, "max_concurrency": 4}

    cloud = scripted_cloud()

    def graph_on(saver: PostgresSaver) -> Any:
        return build_minions(
            round_robin_spec(proxies),
            cloud,
            store=ChunkStore.server(url, collection="stack", embedding=minilm),
            retrieval="on",
            top_k=3,
            max_rounds=1,
            local_max_tokens=48,
        ).compile(checkpointer=saver)

    before = [p.calls for p in proxies]
    with PostgresSaver.from_conn_string(postgres.url) as saver:
        saver.setup()
        out = graph_on(saver).invoke({"question": QUESTION, "document_ids": list(ids)}, config=config)
    served = [p.calls - b for p, b in zip(proxies, before, strict=True)]
    assert out["answer"] == "204 barrels" and len(out["jobs"]) == 3
    # retrieval (Chroma server, MiniLM) picked the chunk that answers among its 3
    answering = {c.id for c in store.get_chunks(list(ids)) if "district 4 " in c.text}
    assert answering and answering <= {j["chunk_id"] for j in out["jobs"]}
    assert all(n >= 1 for n in served), served  # both model servers did jobs
    # another worker (new connection, new graph object) sees the finished thread in Postgres
    with PostgresSaver.from_conn_string(postgres.url) as other:
        state = graph_on(other).get_state(config)
    assert state.next == () and state.values["answer"] == "204 barrels"
    assert state.values["usage"]["local"]["calls"] == sum(served)
    # the privacy report is measured from the cloud requests: the scripted cloud saw exactly those
    usage = state.values["usage"]
    # against the documents as the protocol rebuilt them from the store (a quote that crosses a chunk
    # boundary is one span of the document, not of two separate chunks)
    measured = measure_privacy([c["prompt"] for c in cloud.calls], list(state.values["doc_texts"]))
    assert usage["private_chars_to_cloud"] == measured.private_chars_to_cloud
    assert usage["sensitive_values_to_cloud"] == measured.sensitive_values_to_cloud
    tally.run_completed()
