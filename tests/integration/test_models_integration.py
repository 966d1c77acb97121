"""The model layer against a real SmolLM2 served by the embedded llama.cpp server over HTTP."""

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from langgraph_cloudlocal.calls import call_structured, call_text
from langgraph_cloudlocal.embedded import EmbeddedModelError, EmbeddedServer, start_server
from langgraph_cloudlocal.models import resolve_model


def test_chat_openai_generates_text_and_reports_usage(smollm2_spec: str) -> None:
    resolved = resolve_model(smollm2_spec, "local", temperature=0)
    assert isinstance(resolved.model, ChatOpenAI)
    result = call_text(resolved, [HumanMessage("Name one colour.")], max_tokens=16)
    assert result.text.strip()  # real generated text
    assert result.usage["local"]["input_tokens"] > 0 and result.usage["local"]["output_tokens"] > 0
    assert 0 < result.usage["local"]["output_tokens"] <= 16


def test_streaming_reports_usage(smollm2_spec: str) -> None:
    model = resolve_model(smollm2_spec, "cloud", temperature=0, max_tokens=12).model
    chunks = list(model.stream("Count from one to five."))
    assert len(chunks) > 1
    total: Any = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content.strip()
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


class Colour(BaseModel):
    name: str


def test_json_schema_output_is_constrained(smollm2_spec: str) -> None:
    resolved = resolve_model(smollm2_spec, "local", temperature=0)
    result = call_structured(
        resolved, [HumanMessage("Give a colour as JSON.")], Colour, max_tokens=40, retries=1
    )
    # The server's grammar constrains the reply to the schema, so even a 135M model produces it.
    assert result.ok, result.raw
    assert isinstance(result.value.name, str) and result.attempts == 1


def test_logprobs_come_back(smollm2_spec: str) -> None:
    resolved = resolve_model(smollm2_spec, "local", temperature=0)
    result = call_text(resolved, [HumanMessage("Say yes.")], max_tokens=4, logprobs=True)
    content = result.message.response_metadata["logprobs"]["content"]
    assert content and all(entry["logprob"] <= 0 for entry in content)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of TCP sockets listening on ``port``, read from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _remote, state = line.split()[1:4]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_server_binds_loopback_only(smollm2_server: EmbeddedServer) -> None:
    addresses = _listening_addresses(smollm2_server.port)
    assert addresses == {"0100007F"}  # 127.0.0.1, and nothing on 0.0.0.0 or ::


def test_port_in_use_is_a_clear_error(smollm2_server: EmbeddedServer) -> None:
    with pytest.raises(EmbeddedModelError, match="already in use"):
        start_server("smollm2", port=smollm2_server.port)
