"""Dead and slow model servers: a cloud that refuses connections, a local server that is slow or dies in
the middle of a MinionS fan-out, a cloud that dies between plan and synthesis of a checkpointed run.

Nothing of that may crash a run without a clear error (model, URL, how to start it), take unbounded
time, or lose finished work. Servers here are tiny OpenAI-compatible fakes on 127.0.0.1
(tests/faults/fakes.py); one test kills a real embedded SmolLM2 server.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import openai
import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_cloudlocal.calls import ModelCallError
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.protocols import protocol_factory
from langgraph_cloudlocal.protocols.common import MODEL_RETRY
from langgraph_cloudlocal.protocols.minion import create_minion
from langgraph_cloudlocal.protocols.minions import build_minions, create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults import tally
from tests.faults.fakes import FakeOpenAIServer, InFlightProxy, closed_port, last_user_text

DOC = "\n\n".join(
    f"Section {i}. The warehouse in district {i} stores {100 + i} crates of brass lenses." for i in range(6)
)
QUESTION = "How many crates does district 3 store?"
SMALL = {"chunk_size": 90, "chunk_overlap": 0}


def plan_reply(task: str = "How many crates are stored?") -> str:
    return json.dumps({"tasks": [{"task": task, "query": "crates", "advice": ""}]})


def synth_reply(answer: str = "103 crates") -> str:
    return json.dumps(
        {"decision": "final", "answer": answer, "feedback": "", "scratchpad": "", "reason": "ok"}
    )


def job_reply_for(text: str) -> str:
    """A job's reply, unique per call: a job run again answers differently, so it cannot pass as kept."""
    excerpt = text.split("Task:")[0]
    for i in range(6):
        if f"district {i} " in excerpt:
            answer = tally.unique(f"{100 + i} crates in {i}")
            return json.dumps({"explanation": "stated", "citation": None, "answer": answer})
    return json.dumps({"explanation": "", "citation": None, "answer": None})


def scripted_cloud() -> ScriptedChatModel:
    def respond(messages: list[BaseMessage]) -> str:
        text = str(messages[1].content)
        return plan_reply() if "Write at most" in text else synth_reply()

    return ScriptedChatModel(responder=respond, model_name="gpt-4o")


def chunk_of(body_or_text: dict[str, Any] | str) -> int | None:
    text = body_or_text if isinstance(body_or_text, str) else last_user_text(body_or_text)
    excerpt = text.split("Task:")[0]
    for i in range(6):
        if f"district {i} " in excerpt:
            return i
    return None


# --------------------------------------------------------------------------------------------------
# Clear errors, bounded time


def test_cloud_refusing_connections_is_a_clear_bounded_error() -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    local = ScriptedChatModel(replies=["The budget is 7,300 euros."], model_name="smol")
    graph = create_minion(local, f"openai-compatible:gpt-4o@{url}")
    tally.fault()
    started = time.perf_counter()
    with pytest.raises(ModelCallError) as info:
        graph.invoke({"question": "What is the budget?", "documents": ["The budget is 7,300 euros."]})
    elapsed = time.perf_counter() - started
    message = str(info.value)
    assert "gpt-4o" in message and url in message  # the model and the URL
    assert "cloudlocal serve" in message and "OPENAI_BASE_URL" in message  # how to fix it
    assert info.value.role == "cloud" and info.value.base_url == url
    assert not local.calls  # the supervisor's first call failed: the worker never ran
    assert elapsed < 20, f"refused connections took {elapsed:.1f}s"


def test_node_retry_policy_retries_with_backoff_then_raises() -> None:
    attempts: list[float] = []
    request = openai.APIConnectionError(request=__import__("httpx").Request("POST", "http://127.0.0.1:9/v1"))

    def dead(messages: list[BaseMessage]) -> str:
        attempts.append(time.perf_counter())
        tally.fault()
        raise request

    cloud = ScriptedChatModel(responder=dead, model_name="gpt-4o")
    local = ScriptedChatModel(replies=["x"], model_name="smol")
    with pytest.raises(ModelCallError, match="cannot reach cloud model 'gpt-4o'"):
        create_minion(local, cloud).invoke({"question": "q?", "documents": ["d"]})
    assert len(attempts) == MODEL_RETRY.max_attempts
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # exponential backoff from initial_interval (jitter adds up to 1s)
    assert gaps[0] >= MODEL_RETRY.initial_interval * 0.9
    assert gaps[1] >= MODEL_RETRY.initial_interval * MODEL_RETRY.backoff_factor * 0.9


def test_a_transient_failure_is_retried_and_the_run_completes() -> None:
    calls = {"n": 0}

    def flaky(messages: list[BaseMessage]) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            tally.fault()
            raise openai.APIConnectionError(request=__import__("httpx").Request("POST", "http://x/v1"))
        text = str(messages[1].content)
        if "Write your first question" in text:
            return json.dumps({"message": "What is the budget?"})
        return json.dumps({"answer": "7,300 euros", "reason": "said so"})

    cloud = ScriptedChatModel(responder=flaky, model_name="gpt-4o")
    local = ScriptedChatModel(replies=["7,300 euros."], model_name="smol")
    out = create_minion(local, cloud, max_rounds=1).invoke(
        {"question": "Budget?", "documents": ["7,300 euros"]}
    )
    assert out["answer"] == "7,300 euros"
    # the failed attempt left no usage behind: only the calls that returned are counted
    assert out["usage"]["cloud"]["calls"] == 2
    tally.run_completed()


def test_slow_local_server_times_out_with_a_clear_error() -> None:
    with FakeOpenAIServer(lambda body: "never in time", model="smollm2", delay=3.0) as server:
        local = resolve_model(server.spec(), "local", timeout=0.3).model
        cloud = ScriptedChatModel(
            replies=[json.dumps({"message": "What is the budget?"})], model_name="gpt-4o"
        )
        tally.fault()
        started = time.perf_counter()
        with pytest.raises(ModelCallError) as info:
            create_minion(local, cloud).invoke({"question": "Budget?", "documents": ["7,300 euros"]})
        elapsed = time.perf_counter() - started
    message = str(info.value)
    assert "did not answer in time" in message and "smollm2" in message and server.url in message
    assert "cloudlocal serve" in message or "ollama serve" in message
    # 3 node attempts x (2 client attempts x 0.3 s + client backoff) + node backoff: well under the 3 s x 6
    # the server would take to answer them all
    assert elapsed < 12, f"timeouts took {elapsed:.1f}s"


@pytest.mark.parametrize("client", ["openai-compatible", "ollama"])
def test_a_hung_server_fails_within_the_default_request_timeout(
    client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spec strings get a request timeout (CLOUDLOCAL_REQUEST_TIMEOUT, 300 s by default): a server that
    accepts the connection and never answers cannot stall a run (the ollama client has no timeout)."""
    with FakeOpenAIServer(lambda body: "too late", model="smollm2", delay=20.0) as server:
        monkeypatch.setenv("CLOUDLOCAL_REQUEST_TIMEOUT", "0.3")
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{server.port}")
        spec = server.spec() if client == "openai-compatible" else "ollama:smollm2"
        graph = protocol_factory("local-only")(spec, None)
        tally.fault()
        started = time.perf_counter()
        with pytest.raises(ModelCallError, match="did not answer in time"):
            graph.invoke({"question": "Budget?", "documents": ["7,300 euros"]})
        elapsed = time.perf_counter() - started
    assert elapsed < 15, f"a hung {client} server took {elapsed:.1f}s to fail"
    assert len(server.requests) >= MODEL_RETRY.max_attempts  # each node attempt reached the server


def test_slow_local_jobs_fail_alone_and_the_run_completes() -> None:
    with FakeOpenAIServer(
        lambda body: job_reply_for(last_user_text(body)), model="smollm2", delay=2.0
    ) as server:
        local = resolve_model(server.spec(), "local", timeout=0.25, max_retries=0).model
        graph = create_minions(local, scripted_cloud(), max_rounds=1, job_retries=1, **SMALL)
        tally.fault()
        started = time.perf_counter()
        out = graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"max_concurrency": 6})
        elapsed = time.perf_counter() - started
    assert out["jobs"] and all(j["failed"] for j in out["jobs"])
    assert all("did not answer in time" in j["error"] and server.url in j["error"] for j in out["jobs"])
    assert [d["decision"] for d in out["decisions"]].count("job_failed") == 1
    assert out["usage"]["local"]["failed_calls"] == 2 * len(out["jobs"])  # each job: 2 attempts
    assert elapsed < 10
    tally.run_completed()


# --------------------------------------------------------------------------------------------------
# A local server that dies in the middle of the fan-out


def test_local_server_killed_mid_fan_out_keeps_finished_jobs() -> None:
    delivered: dict[str, int | None] = {}  # each answer the server gave (unique per call) -> its chunk
    found: dict[str, int | None] = {}
    lock = threading.Lock()
    server: FakeOpenAIServer

    def respond(body: dict[str, Any]) -> str:
        with lock:
            if len(delivered) >= 2:
                # the third request: the server dies while it is being handled
                threading.Thread(target=server.kill).start()
                time.sleep(0.5)
                return "never delivered"
            reply = job_reply_for(last_user_text(body))
            delivered[json.loads(reply)["answer"]] = chunk_of(body)
        return reply

    server = FakeOpenAIServer(respond, model="smollm2").start()
    with tally.compare_in_finally(delivered, found):
        try:
            graph = create_minions(server.spec(), scripted_cloud(), max_rounds=1, job_retries=1, **SMALL)
            out = graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"max_concurrency": 2})
        finally:
            server.stop()
        jobs = out["jobs"]
        ok = [j for j in jobs if not j["failed"]]
        found.update({j["answer"]: delivered.get(j["answer"]) for j in ok})
        failed = [j for j in jobs if j["failed"]]
        assert len(jobs) == 6
        # the jobs answered before the kill are all in the output, with the very answers delivered
        assert set(found) == set(delivered)
        assert len(ok) == 2 and len(failed) == 4
    for job in failed:
        assert "cannot reach local model 'smollm2'" in job["error"] and server.url in job["error"]
        assert "cloudlocal serve" in job["error"]
    kinds = [d["decision"] for d in out["decisions"]]
    assert "job_failed" in kinds and out["answer"]
    tally.run_completed()


# --------------------------------------------------------------------------------------------------
# A cloud that dies after the fan-out: finished jobs are checkpointed, not recomputed on resume


def test_cloud_dies_after_fan_out_and_resume_reuses_the_finished_jobs() -> None:
    delivered: dict[str, str] = {}  # every job answer the local server gave (unique per call)
    found: dict[str, str] = {}

    def local_respond(body: dict[str, Any]) -> str:
        reply = job_reply_for(last_user_text(body))
        answer = json.loads(reply)["answer"]
        if answer:
            delivered[answer] = answer
        return reply

    local_server = FakeOpenAIServer(local_respond, model="smollm2").start()
    cloud_state = {"dead": False}
    cloud_server: FakeOpenAIServer

    def cloud_respond(body: dict[str, Any]) -> str:
        text = last_user_text(body)
        if "Write at most" in text:
            return plan_reply()
        if not cloud_state["dead"]:
            cloud_state["dead"] = True
            threading.Thread(target=cloud_server.kill).start()
            time.sleep(0.5)
        return synth_reply()

    cloud_server = FakeOpenAIServer(cloud_respond, model="gpt-4o").start()
    # whatever happens below, every answer delivered before the cloud died must be in the final output
    with tally.compare_in_finally(delivered, found):
        try:
            graph = build_minions(local_server.spec(), cloud_server.spec(), max_rounds=1, **SMALL).compile(
                checkpointer=InMemorySaver()
            )
            config = {"configurable": {"thread_id": "cloud-dies"}, "max_concurrency": 3}
            with pytest.raises(ModelCallError, match="cannot reach cloud model 'gpt-4o'"):
                graph.invoke({"question": QUESTION, "documents": [DOC]}, config=config)
            jobs_before = local_server.answered
            assert jobs_before == 6
            state = graph.get_state(config)
            assert state.next == ("synthesize",)
            # the cloud is back (same URL); the thread resumes where it stopped
            cloud_server.start()
            out = graph.invoke(None, config=config)
        finally:
            local_server.stop()
            cloud_server.stop()
        found.update({j["answer"]: j["answer"] for j in out["jobs"] if j["answer"]})
        assert out["answer"] == "103 crates"
        assert local_server.answered == jobs_before  # no job ran twice
        assert set(found) == set(delivered)  # each job's one answer, none computed again
        plans = [b for b in cloud_server.requests if "Write at most" in last_user_text(b)]
        assert len(plans) == 1  # the plan was not asked for again
        usage = out["usage"]
        # the ledger counts each call that returned once: 6 jobs, 1 plan, 1 synthesis
        assert usage["local"]["calls"] == 6 and usage["cloud"]["calls"] == 2
    tally.run_completed()


# --------------------------------------------------------------------------------------------------
# The real thing: a SmolLM2 server (embedded llama.cpp) SIGKILLed while MinionS jobs run on it


def _job_key(row: dict[str, Any]) -> tuple[str, str]:
    return (str(row["chunk_id"]), str(row["task"]))


def test_real_local_server_killed_between_waves() -> None:
    """SIGKILL as soon as the first wave's jobs are in: the next wave finds the server dead."""
    from langgraph_cloudlocal.embedded import pull, start_server

    pull("smollm2")
    server = start_server("smollm2", n_ctx=2048, n_parallel=2, threads=1, register=False)
    # job rows finished before the kill; a row computed again differs (its seconds, at least)
    before: dict[tuple[str, str], dict[str, Any]] = {}
    after: dict[tuple[str, str], dict[str, Any]] = {}
    with tally.compare_in_finally(before, after):
        try:
            graph = create_minions(
                server.spec, scripted_cloud(), max_rounds=1, job_retries=1, local_max_tokens=48, **SMALL
            )
            final: dict[str, Any] = {}
            for mode, payload in graph.stream(
                {"question": QUESTION, "documents": [DOC]},
                stream_mode=["custom", "updates", "values"],
                config={"max_concurrency": 2},
            ):
                if mode == "updates" and "job" in payload and server.is_alive():
                    before.update({_job_key(j): j for j in payload["job"]["jobs"]})
                    if len(before) >= 2:
                        server.process.kill()  # SIGKILL, mid fan-out
                        server.process.wait(10)
                        tally.fault()
                elif mode == "values":
                    final = payload
        finally:
            server.stop()
        jobs = final["jobs"]
        after.update({_job_key(j): j for j in jobs})
        assert len(jobs) == 6 and len(before) >= 2
        # every job that finished before the kill is in the output, unchanged
        assert all(after.get(key) == row for key, row in before.items())
        failed = [j for j in jobs if j["failed"]]
        assert failed, "the server was killed with jobs left: some must have failed"
        assert all("smollm2" in j["error"] and server.base_url in j["error"] for j in failed)
        assert "job_failed" in [d["decision"] for d in final["decisions"]]
        assert isinstance(final["answer"], str)
    tally.run_completed()


def test_real_local_server_killed_with_requests_in_flight() -> None:
    """SIGKILL while the server is working on requests (not between waves): the requests in flight get
    no reply, their jobs fail with a clear error, and every job answered before the kill is kept.

    A proxy in front of the server sees each request start and end; a watcher kills the server (and the
    proxy with it, as one dead endpoint) once two jobs are answered and at least one request is in flight.
    """
    from langgraph_cloudlocal.embedded import pull, start_server

    pull("smollm2")
    server = start_server("smollm2", n_ctx=2048, n_parallel=2, threads=1, register=False)
    proxy = InFlightProxy(server.base_url.removesuffix("/v1")).start()
    killed = {"in_flight": 0, "answered": 0}
    stop_watching = threading.Event()

    def watch() -> None:
        while not stop_watching.is_set():
            with proxy.lock:
                ready = proxy.answered >= 2 and proxy.started > proxy.answered
            if ready:
                time.sleep(0.05)  # the server has the request: it is prefilling or decoding
                with proxy.lock:
                    proxy.dead = True  # from here on, nothing is passed on
                    killed.update(in_flight=proxy.started - proxy.answered, answered=proxy.answered)
                server.process.kill()
                server.process.wait(10)
                proxy.kill()
                tally.fault()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    answered_rows: dict[tuple[str, str], dict[str, Any]] = {}
    after: dict[tuple[str, str], dict[str, Any]] = {}
    with tally.compare_in_finally(answered_rows, after):
        try:
            graph = create_minions(
                proxy.spec("smollm2"),
                scripted_cloud(),
                max_rounds=1,
                job_retries=1,
                local_max_tokens=48,
                **SMALL,
            )
            watcher.start()
            final: dict[str, Any] = {}
            for mode, payload in graph.stream(
                {"question": QUESTION, "documents": [DOC]},
                stream_mode=["updates", "values"],
                config={"max_concurrency": 2},
            ):
                if mode == "updates" and "job" in payload:
                    for row in payload["job"]["jobs"]:
                        if not row["failed"]:
                            answered_rows[_job_key(row)] = row
                elif mode == "values":
                    final = payload
        finally:
            stop_watching.set()
            watcher.join(10)
            proxy.kill()
            server.stop()
        jobs = final["jobs"]
        after.update({_job_key(j): j for j in jobs})
        assert killed["in_flight"] >= 1, "the kill did not catch a request in flight"
        assert len(jobs) == 6
        # the jobs answered before the kill, and only those, succeeded: nothing in flight got through
        assert len(answered_rows) == killed["answered"]
        assert all(after.get(key) == row for key, row in answered_rows.items())
        failed = [j for j in jobs if j["failed"]]
        assert len(failed) == 6 - killed["answered"]
        assert all("smollm2" in j["error"] and proxy.url in j["error"] for j in failed)
        assert "job_failed" in [d["decision"] for d in final["decisions"]]
        assert isinstance(final["answer"], str)
    tally.run_completed()
