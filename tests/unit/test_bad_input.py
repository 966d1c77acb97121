"""Bad input, for every protocol: a clear error before any model call, or a documented behaviour; never a
hang. Scripted models record every call, so "before any model call" is checked, not assumed.

Documented behaviours (see docs/scale-out.md, "Bad input"):

* empty or missing question, a question that is not text: ``InputError``;
* documents that are not a list of strings (bytes, a dict, numbers) or text with NUL bytes (binary data
  decoded as text): ``InputError``;
* no documents, or an empty document: ``InputError`` for Minion and MinionS (they need something to read);
  the yardsticks and AdaSwitch answer from the question alone;
* a 50 MB document: ``check_input`` takes well under a second; MinionS chunks it and runs at most
  ``max_jobs_per_round`` jobs (the round's ``unread_chunks`` and a ``jobs_capped`` decision list the chunks
  never read; use a ChunkStore for retrieval over big documents); protocols that put whole documents into one prompt (local-only,
  cloud-only, Minion's worker) raise ``PromptTooLongError`` before sending a prompt above
  ``PROMPT_TOKEN_CEILING`` tokens, and turn a server's "exceeds the context" reply into the same error
  (not retried); note that Ollama itself silently truncates prompts longer than ``num_ctx``;
* 10,000 tiny documents: checked and chunked in well under a second; MinionS caps the jobs as above;
* an unknown protocol name: ``UnknownProtocolError`` naming the choices (CLI: exit code 2);
* a negative or NaN budget: ``BudgetError``, at build time or in the first node of the run;
* a threshold outside [0, 1] (or NaN, or not a number): ``InputError``; a numeric setting given as a
  string: ``InputError``; an unknown setting: LangGraph's ``TypeError`` at ``invoke``. All before any
  model call.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import openai
import pytest
from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.calls import PROMPT_TOKEN_CEILING, ModelCallError, PromptTooLongError
from langgraph_cloudlocal.ledger import BudgetError
from langgraph_cloudlocal.protocols import UnknownProtocolError, protocol_factory
from langgraph_cloudlocal.protocols.common import MODEL_RETRY, InputError, check_input
from langgraph_cloudlocal.testing import ScriptedChatModel

PROTOCOLS = ["local-only", "cloud-only", "minion", "minions", "adaswitch"]
NEEDS_DOCUMENTS = {"minion", "minions"}
QUESTION = "What is the budget?"
DOC = "The Quillfeather project has a budget of 7,300 euros."

# One reply that every structured call of every protocol accepts (extra keys are ignored).
UNIVERSAL = json.dumps(
    {
        "message": "What is the budget?",
        "decision": "final",
        "answer": "7,300 euros",
        "reason": "stated",
        "tasks": [{"task": "Find the budget", "query": "budget", "advice": ""}],
        "explanation": "stated",
        "citation": None,
        "feedback": "",
        "scratchpad": "",
        "step": "The budget is 7,300 euros.",
        "is_final": True,
        "final_answer": "7,300 euros",
        "verdict": "correct",
        "confidence": 0.9,
    }
)


class Models:
    def __init__(self) -> None:
        self.local = ScriptedChatModel(responder=self._reply, model_name="smol")
        self.cloud = ScriptedChatModel(responder=self._reply, model_name="gpt-4o")

    @staticmethod
    def _reply(messages: list[BaseMessage]) -> str:
        return UNIVERSAL

    @property
    def calls(self) -> int:
        return len(self.local.calls) + len(self.cloud.calls)


def build(protocol: str, models: Models, **settings: Any) -> Any:
    return protocol_factory(protocol)(models.local, models.cloud, **settings)


def no_calls_then(protocol: str, error: type[Exception], inputs: dict[str, Any], **invoke: Any) -> Exception:
    models = Models()
    graph = build(protocol, models)
    started = time.perf_counter()
    with pytest.raises(error) as info:
        graph.invoke(inputs, **invoke)
    assert models.calls == 0, f"{protocol}: {models.calls} model call(s) before the error"
    assert time.perf_counter() - started < 10
    return info.value


# --------------------------------------------------------------------------------------------------
# Question and documents


@pytest.mark.parametrize("question", ["", "   \n", None, 42, ["What?"]])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_question_fails_before_any_model_call(protocol: str, question: Any) -> None:
    error = no_calls_then(protocol, InputError, {"question": question, "documents": [DOC]})
    assert "question" in str(error)


@pytest.mark.parametrize(
    "documents",
    [b"\x89PNG\r\n\x1a\n\x00\x00", [b"\x89PNG\r\n"], {"a": "b"}, [1, 2], [DOC, None], 3.14],
    ids=["bytes", "list-of-bytes", "dict", "numbers", "none-inside", "float"],
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_documents_that_are_not_text_fail_before_any_model_call(protocol: str, documents: Any) -> None:
    error = no_calls_then(protocol, InputError, {"question": QUESTION, "documents": documents})
    assert "documents must be a list of strings" in str(error)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_binary_data_decoded_as_text_fails_before_any_model_call(protocol: str) -> None:
    binary = bytes(range(256)).decode("latin-1") * 4  # what reading a PNG as Latin-1 gives
    error = no_calls_then(protocol, InputError, {"question": QUESTION, "documents": [DOC, binary]})
    assert "NUL" in str(error) and "document 1" in str(error)


@pytest.mark.parametrize(
    "documents", [None, [], [""], ["  \n\t "]], ids=["none", "no-list", "empty", "blank"]
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_or_empty_documents(protocol: str, documents: Any) -> None:
    inputs = {"question": QUESTION, "documents": documents}
    if protocol in NEEDS_DOCUMENTS:
        error = no_calls_then(protocol, InputError, inputs)
        assert "document" in str(error)
        return
    # documented: the yardsticks and AdaSwitch answer from the question alone
    models = Models()
    out = build(protocol, models).invoke(inputs)
    assert out["answer"] and models.calls >= 1


# --------------------------------------------------------------------------------------------------
# Big input: 50 MB, 10,000 tiny documents


@pytest.fixture(scope="module")
def fifty_mb() -> str:
    paragraph = "The depot in district nine holds two hundred barrels of lamp oil and forty crates. "
    return (paragraph * (50_000_000 // len(paragraph) + 1))[:50_000_000]


def test_check_input_on_50_mb_is_fast(fifty_mb: str) -> None:
    started = time.perf_counter()
    question, documents = check_input(QUESTION, [fifty_mb], documents_required=True)
    assert time.perf_counter() - started < 3
    assert len(documents[0]) == 50_000_000


def test_minions_chunks_50_mb_and_caps_the_jobs(fifty_mb: str) -> None:
    models = Models()
    graph = build("minions", models, max_rounds=1)
    started = time.perf_counter()
    out = graph.invoke({"question": QUESTION, "documents": [fifty_mb]}, config={"max_concurrency": 8})
    elapsed = time.perf_counter() - started
    assert len(out["jobs"]) == 64  # max_jobs_per_round
    capped = [d for d in out["decisions"] if d["decision"] == "jobs_capped"]
    unread = out["rounds"][0]["unread_chunks"]
    read = {j["chunk_id"] for j in out["jobs"]}
    assert len(unread) > 40_000 and not read & set(unread)  # every chunk never read is listed
    assert (
        capped
        and f"max_jobs_per_round=64 left {len(unread)} chunk(s) a task needed unread" in capped[0]["reason"]
    )
    assert out["usage"]["private_chars_to_cloud"] == 0
    assert out["usage"]["document_chars"] == 50_000_000
    assert elapsed < 120, f"50 MB took {elapsed:.0f}s"


@pytest.mark.parametrize("protocol", ["local-only", "cloud-only", "minion"])
def test_whole_document_prompts_above_the_ceiling_are_refused_before_sending(
    protocol: str, fifty_mb: str
) -> None:
    assert len(fifty_mb) // 4 > PROMPT_TOKEN_CEILING
    models = Models()
    started = time.perf_counter()
    with pytest.raises(PromptTooLongError) as info:
        build(protocol, models).invoke({"question": QUESTION, "documents": [fifty_mb]})
    assert time.perf_counter() - started < 30
    message = str(info.value)
    assert "does not fit the context window" in message and "MinionS" in message
    # nothing carrying the document was sent (Minion's cloud asked its first question: no document)
    assert all(len(call["prompt"]) < 10_000 for call in models.local.calls + models.cloud.calls)
    assert not info.value.retryable


def test_server_context_overflow_is_a_clear_error_and_not_retried() -> None:
    attempts = []

    def overflow(messages: list[BaseMessage]) -> str:
        attempts.append(1)
        # the body llama.cpp's server sends back (HTTP 400), as recorded from the embedded server
        body = {
            "code": 400,
            "message": "request (5034 tokens) exceeds the available context size (2048 tokens), try increasing it",
            "type": "exceed_context_size_error",
        }
        request = __import__("httpx").Request("POST", "http://127.0.0.1:8080/v1/chat/completions")
        response = __import__("httpx").Response(400, request=request, json={"error": body})
        raise openai.BadRequestError(f"Error code: 400 - {body['message']}", response=response, body=body)

    local = ScriptedChatModel(responder=overflow, model_name="smollm2")
    graph = protocol_factory("local-only")(local, None)
    with pytest.raises(PromptTooLongError) as info:
        graph.invoke({"question": QUESTION, "documents": ["word " * 5000]})
    assert len(attempts) == 1  # MODEL_RETRY does not retry it
    assert not MODEL_RETRY.retry_on(info.value)  # type: ignore[operator]
    assert isinstance(info.value, ModelCallError)  # MinionS jobs record it as a failed job
    assert "smollm2" in str(info.value) and "exceeds the available context size" in str(info.value)


def test_ten_thousand_tiny_documents(fifty_mb: str) -> None:
    tiny = [f"note {i}: item {i} costs {i} euros." for i in range(10_000)]
    started = time.perf_counter()
    check_input(QUESTION, tiny, documents_required=True)
    assert time.perf_counter() - started < 1
    models = Models()
    out = build("minions", models, max_rounds=1).invoke(
        {"question": QUESTION, "documents": tiny}, config={"max_concurrency": 8}
    )
    assert len(out["jobs"]) == 64  # max_jobs_per_round
    assert len(out["rounds"][0]["unread_chunks"]) == 10_000 - 64
    assert any(
        d["decision"] == "jobs_capped" and "left 9936 chunk(s)" in d["reason"] for d in out["decisions"]
    )
    # Minion puts them all in the worker's prompt (~400 KB): fine for a scripted model, documented
    out = build("minion", Models(), max_rounds=1).invoke({"question": QUESTION, "documents": tiny})
    assert out["answer"]
    assert time.perf_counter() - started < 60


# --------------------------------------------------------------------------------------------------
# Protocol names and settings


def test_unknown_protocol_name_names_the_choices() -> None:
    with pytest.raises(UnknownProtocolError) as info:
        protocol_factory("minionz")
    for name in PROTOCOLS:
        assert name in str(info.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "budget",
    [
        {"max_cloud_usd": -0.01},
        {"max_cloud_calls": -1},
        {"max_cloud_tokens": -5},
        {"max_cloud_usd": float("nan")},
    ],
)
def test_negative_or_nan_budget(protocol: str, budget: dict[str, Any]) -> None:
    with pytest.raises(BudgetError):
        build(protocol, Models(), **budget)  # at build time
    no_calls_then(
        protocol, BudgetError, {"question": QUESTION, "documents": [DOC]}, context=budget
    )  # per run


@pytest.mark.parametrize("threshold", [1.5, -0.1, float("nan"), "0.5", None])
def test_threshold_outside_zero_one(threshold: Any) -> None:
    with pytest.raises(InputError, match="threshold"):
        build("adaswitch", Models(), threshold=threshold)
    error = no_calls_then(
        "adaswitch", InputError, {"question": QUESTION, "documents": [DOC]}, context={"threshold": threshold}
    )
    assert "threshold" in str(error)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_setting_of_the_wrong_type(protocol: str) -> None:
    with pytest.raises(InputError, match="local_max_tokens must be a number"):
        build(protocol, Models(), local_max_tokens="256")
    no_calls_then(
        protocol, InputError, {"question": QUESTION, "documents": [DOC]}, context={"local_max_tokens": "256"}
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_setting(protocol: str) -> None:
    with pytest.raises(InputError, match="unknown setting"):
        build(protocol, Models(), max_roundz=2)
    no_calls_then(protocol, TypeError, {"question": QUESTION, "documents": [DOC]}, context={"max_roundz": 2})


# --------------------------------------------------------------------------------------------------
# The CLI: one line, the right exit code, before any model starts


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    from langgraph_cloudlocal import cli

    monkeypatch.setattr(sys, "argv", ["cloudlocal", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out + captured.err


DEAD = "openai-compatible:nothing@http://127.0.0.1:9/v1"  # never contacted: the errors come first


def test_cli_unknown_protocol(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_cli(monkeypatch, capsys, "run", "-q", QUESTION, "-p", "minionz", "--local", DEAD)
    assert code == 2 and "unknown protocol 'minionz'" in output and "Traceback" not in output


def test_cli_binary_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    code, output = run_cli(
        monkeypatch, capsys, "run", "-q", QUESTION, "-p", "local-only", "-d", str(binary), "--local", DEAD
    )
    assert code != 0 and "binary" in output and "Traceback" not in output
    assert output.startswith("error:")  # one message (the console may wrap it)


def test_cli_negative_budget(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_cli(
        monkeypatch,
        capsys,
        "run",
        "-q",
        QUESTION,
        "-p",
        "minion",
        "--local",
        DEAD,
        "--cloud",
        DEAD,
        "--set",
        "max_cloud_usd=-1",
    )
    assert code == 2 and "max_cloud_usd must be a non-negative number" in output and "Traceback" not in output


def test_cli_empty_question(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_cli(
        monkeypatch, capsys, "run", "-q", "  ", "-p", "minion", "--local", DEAD, "--cloud", DEAD
    )
    assert code == 2 and "question must be a non-empty string" in output
