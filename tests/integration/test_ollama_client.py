"""``ChatOllama`` (the default local client for real users) against a real SmolLM2, through the product's
own model layer. No Ollama server is installable here, so ``tests/ollama_shim.py`` serves Ollama's native
API in front of the embedded llama.cpp server; the official ``ollama`` client and ``langchain_ollama``
are the real ones."""

from __future__ import annotations

from typing import Any

import httpx
import ollama
import pytest
from langchain_core.messages import HumanMessage
from langchain_ollama import ChatOllama
from pydantic import BaseModel

from langgraph_cloudlocal.calls import call_structured, call_text
from langgraph_cloudlocal.models import resolve_model
from tests.ollama_shim import OllamaShim


@pytest.fixture
def ollama_host(ollama_shim_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OLLAMA_HOST", ollama_shim_url)
    return ollama_shim_url


def test_resolve_model_gives_chat_ollama_that_invokes_and_reports_usage(ollama_host: str) -> None:
    resolved = resolve_model("ollama:smollm2", "local", temperature=0)
    assert isinstance(resolved.model, ChatOllama)
    assert resolved.base_url == ollama_host
    result = call_text(resolved, [HumanMessage("Name one colour.")], max_tokens=16)
    assert result.text.strip()
    assert result.message is not None
    meta = result.message.usage_metadata
    assert meta is not None and meta["input_tokens"] > 0 and meta["output_tokens"] > 0
    assert 0 < result.usage["local"]["output_tokens"] <= 16
    assert result.message.response_metadata["done_reason"] in ("stop", "length")
    assert result.message.response_metadata["model_provider"] == "ollama"


def test_max_tokens_reaches_ollama_options_without_dropping_model_options(
    ollama_host: str, ollama_shim: OllamaShim
) -> None:
    resolved = resolve_model("ollama:smollm2", "local", temperature=0, seed=7)
    result = call_text(resolved, [HumanMessage("Write a long story about a dragon.")], max_tokens=5)
    assert result.usage["local"]["output_tokens"] <= 5
    assert result.message is not None and result.message.response_metadata["done_reason"] == "length"
    sent = ollama_shim.requests[-1]
    assert sent["options"] == {"num_predict": 5, "temperature": 0, "seed": 7}
    upstream = ollama_shim.upstream_requests[-1]
    assert upstream["max_tokens"] == 5 and upstream["temperature"] == 0 and upstream["seed"] == 7


def test_non_streaming_chat(ollama_host: str, ollama_shim: OllamaShim) -> None:
    model = resolve_model("ollama:smollm2", "local", temperature=0, num_predict=12).model
    reply = model.bind(stream=False).invoke([HumanMessage("Name one animal.")])
    assert ollama_shim.requests[-1]["stream"] is False
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0 and 0 < reply.usage_metadata["output_tokens"] <= 12
    for key in ("total_duration", "prompt_eval_duration", "eval_duration"):
        assert reply.response_metadata[key] > 0


def test_streamed_chunks_add_up_with_usage(ollama_host: str) -> None:
    model = resolve_model("ollama:smollm2", "local", temperature=0, num_predict=16).model
    chunks = list(model.stream("Count from one to five."))
    assert len(chunks) > 2
    total: Any = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content.strip()
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] > 0 and total.usage_metadata["output_tokens"] > 0
    # Only Ollama's last (done) object carries the counters.
    assert sum(1 for c in chunks if c.usage_metadata) == 1


class City(BaseModel):
    name: str
    country: str


def test_call_structured_through_chat_ollama_format(ollama_host: str, ollama_shim: OllamaShim) -> None:
    resolved = resolve_model("ollama:smollm2", "local", temperature=0)
    result = call_structured(
        resolved,
        [HumanMessage("What is the capital of France? Answer as JSON with fields name and country.")],
        City,
        max_tokens=64,
        retries=1,
    )
    assert result.attempts >= 1 and len(result.raw_attempts) == result.attempts
    assert result.usage["local"]["input_tokens"] > 0 and result.usage["local"]["output_tokens"] > 0
    if result.ok:
        assert isinstance(result.value, City)
    else:
        assert result.error and result.raw
    # The JSON schema went through ChatOllama's ``format`` and on to llama.cpp as a json_schema.
    sent = ollama_shim.requests[-1]
    assert sent["format"] == City.model_json_schema()
    assert sent["options"]["num_predict"] == 64
    upstream = ollama_shim.upstream_requests[-1]
    assert upstream["response_format"]["type"] == "json_schema"
    assert upstream["response_format"]["json_schema"]["schema"] == City.model_json_schema()
    assert upstream["max_tokens"] == 64


def test_call_text_returns_logprobs_from_chat_ollama(ollama_host: str, ollama_shim: OllamaShim) -> None:
    resolved = resolve_model("ollama:smollm2", "local", temperature=0)
    result = call_text(resolved, [HumanMessage("Say hi.")], max_tokens=8, logprobs=True)
    assert ollama_shim.requests[-1]["logprobs"] is True
    assert result.message is not None
    logprobs = result.message.response_metadata["logprobs"]
    # ChatOllama's shape: a list of ollama ``Logprob`` objects (subscriptable), one per output token,
    # not OpenAI's {"content": [...]}.
    assert isinstance(logprobs, list)
    assert len(logprobs) == result.usage["local"]["output_tokens"]
    assert "".join(entry["token"] for entry in logprobs) == result.text
    assert all(entry["logprob"] <= 0 for entry in logprobs)
    assert all(not entry.get("top_logprobs") for entry in logprobs)  # none asked for


def test_top_logprobs_and_streamed_logprobs(ollama_host: str) -> None:
    model = resolve_model(
        "ollama:smollm2", "local", temperature=0, num_predict=6, logprobs=True, top_logprobs=2
    ).model
    chunks = list(model.stream("Say hi."))
    per_chunk = [c.response_metadata["logprobs"] for c in chunks if c.response_metadata.get("logprobs")]
    assert per_chunk
    entries = [entry for chunk_logprobs in per_chunk for entry in chunk_logprobs]
    assert all(len(entry["top_logprobs"]) == 2 for entry in entries)
    total: Any = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata["output_tokens"] == len(entries)


def test_ollama_host_without_scheme(ollama_shim_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = ollama_shim_url.removeprefix("http://")
    monkeypatch.setenv("OLLAMA_HOST", bare)
    resolved = resolve_model("ollama:smollm2", "local", temperature=0)
    assert resolved.base_url == ollama_shim_url
    result = call_text(resolved, [HumanMessage("Name one fruit.")], max_tokens=8)
    assert result.text.strip() and result.usage["local"]["output_tokens"] > 0


def test_ollama_client_endpoints(ollama_shim_url: str) -> None:
    client = ollama.Client(host=ollama_shim_url)
    assert [m.model for m in client.list().models] == ["smollm2:latest"]
    shown = client.show("smollm2")
    assert shown.details is not None and shown.details.format == "gguf"
    assert shown.capabilities == ["completion"]
    assert httpx.get(f"{ollama_shim_url}/api/version").json()["version"]
    assert httpx.get(ollama_shim_url).text == "Ollama is running"
    # validate_model_on_init lists the models through /api/tags.
    ChatOllama(model="smollm2", base_url=ollama_shim_url, validate_model_on_init=True)
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="not-pulled", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 404
