"""Security: loopback only, no secret anywhere it could be read back, and the cloud never gets the documents.

* Every server the project or its tests start binds 127.0.0.1 only (the embedded llama.cpp server is
  checked in test_models_integration.py, the Postgres cluster in test_postgres.py, the Chroma server in
  test_scale_out.py).
* A sentinel API key (``OPENAI_API_KEY=sk-sentinel-...``) reaches the cloud server - so it was really
  used - and nowhere else: not the local model's server, not outputs, decisions, the custom stream, logs
  at DEBUG, LangSmith trace payloads, error messages and tracebacks, the CLI's ``--json`` output,
  AdaSwitch trajectory files or evaluation results.
* Minion and MinionS send the cloud the question and what the local model wrote, never the documents:
  ``private_chars_to_cloud`` is 0 and no document sentence appears in any cloud request.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from langchain_core.tracers import LangChainTracer
from langsmith import Client

from langgraph_cloudlocal.calls import ModelCallError
from langgraph_cloudlocal.protocols import protocol_factory
from tests.faults import tally
from tests.faults.fakes import FakeOpenAIServer, all_text, closed_port
from tests.integration.test_models_integration import _listening_addresses

SENTINEL = f"sk-sentinel-{uuid.uuid4().hex}"
DOC_SENTENCES = [
    "The Quillfeather project is led by Ottoline Varga from the Tromsø office.",
    "Its approved budget for the fiscal year 2025 is exactly 7,300 euros.",
    "The vault code for the archive room was changed to 4471-KESTREL in March.",
]
DOC = " ".join(DOC_SENTENCES)
QUESTION = "What is the budget of the Quillfeather project?"

# --------------------------------------------------------------------------------------------------
# Fake servers: the cloud answers every protocol's structured calls; the local model never quotes.


def cloud_reply(body: dict[str, Any]) -> str:
    text = all_text(body)
    if "Write your first question" in text:
        return json.dumps({"message": "What budget is approved for the project?"})
    if "You may ask" in text:
        return json.dumps({"decision": "answer", "message": "", "answer": "7,300 euros", "reason": "stated"})
    if "No more questions are allowed" in text:
        return json.dumps({"answer": "7,300 euros", "reason": "stated"})
    if "Write at most" in text:
        return json.dumps({"tasks": [{"task": "Find the approved budget", "query": "budget", "advice": ""}]})
    if "Worker findings" in text:
        return json.dumps(
            {
                "decision": "final",
                "answer": "7,300 euros",
                "feedback": "",
                "scratchpad": "",
                "reason": "found",
            }
        )
    # AdaSwitch's cloud step, the cloud-only yardstick
    return json.dumps({"step": "The budget is 7,300 euros.", "is_final": True, "final_answer": "7,300 euros"})


def local_reply(body: dict[str, Any]) -> str:
    return json.dumps(
        {
            # a job / a step / a verdict, in the local model's own words (no quotes from the document)
            "explanation": "the excerpt gives a sum",
            "citation": None,
            "answer": "seven thousand three hundred",
            "step": "The sum is seven thousand three hundred.",
            "is_final": True,
            "final_answer": "seven thousand three hundred",
            "verdict": "wrong",
            "confidence": 0.9,
            "reason": "unsure",
        }
    )


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    cloud = FakeOpenAIServer(cloud_reply, model="gpt-4o").start()
    local = FakeOpenAIServer(local_reply, model="smollm2").start()
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("OPENAI_BASE_URL", cloud.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "ls-not-the-sentinel")
    try:
        yield cloud, local
    finally:
        cloud.stop()
        local.stop()


class CapturingSession(requests.Session):
    """Stands in for LangSmith's HTTP endpoint: keeps every payload the client would have sent."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[str] = []
        self.lock = threading.Lock()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = kwargs.get("data") or kwargs.get("json")
        text = body.decode(errors="replace") if isinstance(body, bytes) else json.dumps(body, default=str)
        with self.lock:
            self.payloads.append(f"{url} {kwargs.get('headers')} {text}")
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        return response


def tracer() -> tuple[LangChainTracer, CapturingSession, Client]:
    session = CapturingSession()
    client = Client(
        api_url="http://langsmith.capture.invalid",
        api_key="ls-test",
        session=session,
        auto_batch_tracing=False,
    )
    return LangChainTracer(client=client, project_name="cloudlocal-security"), session, client


def assert_no_sentinel(where: str, text: str) -> None:
    assert SENTINEL not in text, f"the API key leaked into {where}"
    assert SENTINEL[len("sk-sentinel-") :] not in text, f"part of the API key leaked into {where}"


# --------------------------------------------------------------------------------------------------
# Loopback only


def test_fake_model_servers_bind_loopback_only(servers: tuple[FakeOpenAIServer, FakeOpenAIServer]) -> None:
    for server in servers:
        assert _listening_addresses(server.port) == {"0100007F"}


def test_ollama_shim_binds_loopback_only(servers: tuple[FakeOpenAIServer, FakeOpenAIServer]) -> None:
    from tests.ollama_shim import OllamaShim

    with OllamaShim(servers[1].url, "smollm2") as shim:
        port = int(shim.url.rsplit(":", 1)[1].split("/")[0])
        assert _listening_addresses(port) == {"0100007F"}


# --------------------------------------------------------------------------------------------------
# The sentinel key: used, and never written anywhere


@pytest.mark.parametrize("protocol", ["minion", "minions", "adaswitch", "cloud-only", "local-only"])
def test_api_key_is_never_logged_traced_or_returned(
    protocol: str,
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloud, local = servers
    graph = protocol_factory(protocol)(local.spec(), "openai:gpt-4o")
    callback, session, client = tracer()
    caplog.set_level(logging.DEBUG)
    events: list[Any] = []
    final: dict[str, Any] = {}
    for mode, payload in graph.stream(
        {"question": QUESTION, "documents": [DOC]},
        stream_mode=["custom", "values", "debug"],
        config={"callbacks": [callback], "max_concurrency": 4},
    ):
        events.append(payload)
        if mode == "values":
            final = payload
    callback.wait_for_futures()
    assert final.get("answer")
    if protocol != "local-only":
        # the key was really used: the cloud server got it, as a bearer token
        assert any(h.get("authorization") == f"Bearer {SENTINEL}" for h in cloud.headers)
    assert session.payloads, "the tracer sent nothing: the trace check would be empty"
    assert_no_sentinel("the output", json.dumps(final, default=str))
    assert_no_sentinel("the stream", json.dumps(events, default=str))
    assert_no_sentinel("the logs", caplog.text)
    assert_no_sentinel("the LangSmith payloads", "\n".join(session.payloads))
    tally.run_completed()


def test_local_model_server_never_gets_the_cloud_key(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    """OPENAI_API_KEY is the cloud's key: a local ``openai-compatible:`` server (another machine on the LAN,
    say) must not receive it."""
    cloud, local = servers
    out = protocol_factory("minions")(local.spec(), "openai:gpt-4o").invoke(
        {"question": QUESTION, "documents": [DOC]}
    )
    assert out["answer"] and local.headers and cloud.headers
    for headers in local.headers:
        assert_no_sentinel("the local model server's request headers", json.dumps(headers))


def test_api_key_is_not_in_errors_tracebacks_or_failed_traces(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    from langgraph_cloudlocal.testing import ScriptedChatModel

    graph = protocol_factory("cloud-only")(ScriptedChatModel(replies=["x"]), "openai:gpt-4o")
    callback, session, _ = tracer()
    caplog.set_level(logging.DEBUG)
    tally.fault()
    with pytest.raises(ModelCallError) as info:
        graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"callbacks": [callback]})
    callback.wait_for_futures()
    assert_no_sentinel("the error", str(info.value) + repr(info.value))
    assert_no_sentinel("the traceback", "".join(traceback.format_exception(info.value)))
    assert_no_sentinel("the logs", caplog.text)
    assert any('"error"' in p or "error" in p for p in session.payloads)
    assert_no_sentinel("the failed run's trace", "\n".join(session.payloads))


def test_api_key_is_not_in_the_cli_json_output(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from langgraph_cloudlocal import cli

    cloud, local = servers
    doc = tmp_path / "memo.md"
    doc.write_text(DOC)
    for protocol in ("minions", "minion"):
        argv = ["cloudlocal", "run", "--json", "-p", protocol, "-d", str(doc), "-q", QUESTION]
        monkeypatch.setattr(sys, "argv", [*argv, "--local", local.spec(), "--cloud", "openai:gpt-4o"])
        cli.main()
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        assert result["answer"] == "7,300 euros"
        assert_no_sentinel(f"`cloudlocal run --json -p {protocol}`", captured.out + captured.err)


def test_api_key_is_not_in_trajectories_or_evaluation_results(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path: Path
) -> None:
    from langgraph_cloudlocal.evaluation.datasets import EvalItem, save_dataset
    from langgraph_cloudlocal.evaluation.runner import run_evaluation
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
    from langgraph_cloudlocal.trajectories import collaborative_examination, export_finetuning

    cloud, local = servers
    items = [
        EvalItem(question=QUESTION, answer="7,300 euros", documents=(DOC,), id=f"item-{i}") for i in range(2)
    ]
    dataset = save_dataset(items, tmp_path / "items.jsonl")
    trajectories = tmp_path / "trajectories.jsonl"
    summary = collaborative_examination(
        lambda: create_adaswitch(local.spec(), "openai:gpt-4o"),
        dataset,
        trajectories,
        context={"threshold": 0.3},
    )
    assert summary.written == 2 if hasattr(summary, "written") else trajectories.read_text().strip()
    export_finetuning(trajectories, tmp_path / "export")
    run_evaluation(
        "minions,cloud-only",
        dataset,
        tmp_path / "eval",
        local.spec(),
        "openai:gpt-4o",
        progress=False,
        plot=False,
    )
    assert any(h.get("authorization") == f"Bearer {SENTINEL}" for h in cloud.headers)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != dataset]
    assert trajectories in files and any(p.name == "results.jsonl" for p in files)
    for path in files:
        assert_no_sentinel(str(path.relative_to(tmp_path)), path.read_bytes().decode(errors="replace"))


# --------------------------------------------------------------------------------------------------
# The cloud never gets the documents


@pytest.mark.parametrize("protocol", ["minion", "minions"])
def test_cloud_sees_questions_and_local_outputs_never_the_documents(
    protocol: str, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    cloud, local = servers
    graph = (
        protocol_factory(protocol)(local.spec(), "openai:gpt-4o", chunk_size=80, chunk_overlap=0)
        if (protocol == "minions")
        else protocol_factory(protocol)(local.spec(), "openai:gpt-4o")
    )
    out = graph.invoke({"question": QUESTION, "documents": [DOC]}, config={"max_concurrency": 4})
    assert out["usage"]["private_chars_to_cloud"] == 0
    assert out["usage"]["quoted_chars_to_cloud"] == 0
    cloud_text = "\n".join(all_text(body) for body in cloud.requests)
    assert cloud.requests and QUESTION in cloud_text  # the cloud got the question...
    assert "seven thousand three hundred" in cloud_text  # ...and what the local model wrote...
    for sentence in DOC_SENTENCES:  # ...and not one document sentence, nor its rare tokens
        assert sentence not in cloud_text
    for token in ("Ottoline", "Tromsø", "4471-KESTREL"):
        assert token not in cloud_text
    local_text = "\n".join(all_text(body) for body in local.requests)
    assert "4471-KESTREL" in local_text  # the local model did read the document
    tally.run_completed()


def test_quotes_relayed_by_the_local_model_are_measured(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    cloud, local = servers
    local.responder = lambda body: json.dumps(
        {"explanation": "quoted", "citation": DOC_SENTENCES[1], "answer": "7,300 euros"}
    )
    # By default MinionS shows the cloud the workers' values, not their quoted sentences.
    out = protocol_factory("minions")(local.spec(), "openai:gpt-4o", chunk_size=80, chunk_overlap=0).invoke(
        {"question": QUESTION, "documents": [DOC]}
    )
    assert out["usage"]["private_chars_to_cloud"] == 0
    out = protocol_factory("minions")(
        local.spec(), "openai:gpt-4o", chunk_size=80, chunk_overlap=0, quotes_to_cloud=True
    ).invoke({"question": QUESTION, "documents": [DOC]})
    usage = out["usage"]
    # measured from the cloud requests: the relayed citation (and at most the spaces around it, which the
    # prompt and the document share), nothing else of the document
    assert len(DOC_SENTENCES[1]) <= usage["private_chars_to_cloud"] <= len(DOC_SENTENCES[1]) + 2
    assert usage["quoted_chars_to_cloud"] >= len(DOC_SENTENCES[1])
    # DOC's values: Ottoline Varga, 2025, 7,300, 4471-KESTREL; the citation carries 2025 and 7,300
    assert (usage["sensitive_values_to_cloud"], usage["sensitive_values_total"]) == (2, 4)
