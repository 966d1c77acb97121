"""Canaries: what each protocol really sends to the cloud, read from the HTTP requests the cloud received.

The documents carry unique canary strings. The cloud is a capturing OpenAI-compatible HTTP server on
127.0.0.1 (tests/faults/fakes.py: a real server, the real ``ChatOpenAI`` client); it answers every
structured call with a minimal reply built from the JSON schema in the request, so it follows whatever
prompts the protocols send. The local model is scripted (the worker's wording decides what can leak).

For each protocol: a worker that never quotes sends no canary; a worker that quotes one sends exactly that
one; cloud-only sends every canary. And the usage report agrees with the captured bodies: measuring the
bodies the server received gives the same figures as the report, request for request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.privacy import measure_privacy
from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
from langgraph_cloudlocal.protocols.baselines import create_cloud_only
from langgraph_cloudlocal.protocols.minion import create_minion
from langgraph_cloudlocal.protocols.minions import create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults.fakes import FakeOpenAIServer

CANARIES = ["CANARY-7Q2X-4821", "CANARY-K9VD-1375", "CANARY-M3TZ-9046"]
CANARY = re.compile(r"CANARY-[A-Z0-9]{4}-\d{4}")
# No other sensitive value (no 3+ digit number, no pair of capitalised words): the canaries are all of them.
DOCUMENTS = [
    f"the vault code is {CANARIES[0]} and it opens the north door of the old depot.\n\n"
    f"the spare key is kept under the blue crate; its tag reads {CANARIES[1]} in faded ink.",
    f"the night guard writes the alarm word {CANARIES[2]} on a card and burns it at dawn.",
]
QUESTION = "What is the vault code?"


# --------------------------------------------------------------------------------------------------
# The cloud: a minimal reply for any JSON schema


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def reply_for(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest value of ``schema`` that ends a protocol soonest (answer now, final, one task)."""
    schema = _resolve(schema, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        preferred = [v for v in schema["enum"] if v in ("answer", "final", "correct")]
        return (preferred or schema["enum"])[0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [_resolve(s, defs) for s in schema[key]]
            chosen = next((s for s in options if s.get("type") != "null"), options[0])
            return reply_for(chosen, defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: reply_for(sub, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [reply_for(schema.get("items") or {"type": "string"}, defs)]
    if kind == "boolean":
        return True
    if kind in ("number", "integer"):
        return 1
    return "the cloud's reply"


def cloud_responder(body: dict[str, Any]) -> str:
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if schema is None:
        return "The cloud's answer."
    return json.dumps(reply_for(schema, schema.get("$defs") or {}))


@pytest.fixture
def cloud() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(cloud_responder, model="gpt-4o") as server:
        yield server


# --------------------------------------------------------------------------------------------------
# The local worker: silent, or quoting one canary


def local_model(says: str) -> ScriptedChatModel:
    """One reply with every field the protocols' local calls read (job, step, free text)."""
    reply = json.dumps(
        {
            "explanation": says,
            "citation": None,
            "answer": says,
            "step": says,
            "is_final": False,
            "final_answer": "",
        }
    )
    return ScriptedChatModel(responder=lambda messages: reply, model_name="smol")


SILENT = "the excerpt gives a code for a door"
QUOTING = f"the code is {CANARIES[0]}"


def graph_for(protocol: str, local: ScriptedChatModel, cloud_spec: str) -> Any:
    if protocol == "minion":
        return create_minion(local, cloud_spec, max_rounds=1)
    if protocol == "minions":
        return create_minions(local, cloud_spec, max_rounds=1, chunk_size=100, chunk_overlap=0)
    if protocol == "adaswitch":
        # every step is doubtful: each one goes to the cloud with the local draft
        return create_adaswitch(local, cloud_spec, verifier_fn=lambda q, steps, step: 1.0, max_steps=2)
    return create_cloud_only(local, cloud_spec)


def request_texts(server: FakeOpenAIServer) -> list[str]:
    """The text of every chat request the server received, as the library records it (its messages)."""
    return [
        "\n".join(str(m.get("content") or "") for m in body.get("messages") or []) for body in server.requests
    ]


def canaries_in(server: FakeOpenAIServer) -> set[str]:
    found: set[str] = set()
    for body in server.requests:
        found.update(CANARY.findall(json.dumps(body)))  # the raw body, every field
    return found


def assert_report_agrees(usage: dict[str, Any], server: FakeOpenAIServer) -> None:
    measured = measure_privacy(request_texts(server), DOCUMENTS)
    assert usage["cloud_requests_measured"] == len(server.requests) == usage["cloud"]["calls"]
    assert usage["private_chars_to_cloud"] == measured.private_chars_to_cloud
    assert usage["quoted_chars_to_cloud"] == measured.quoted_chars_to_cloud
    assert usage["sensitive_values_to_cloud"] == measured.sensitive_values_to_cloud
    assert usage["sensitive_values_total"] == len(CANARIES)


PROTOCOLS = ["minion", "minions", "adaswitch"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_worker_that_never_quotes_sends_no_canary(protocol: str, cloud: FakeOpenAIServer) -> None:
    out = graph_for(protocol, local_model(SILENT), cloud.spec()).invoke(
        {"question": QUESTION, "documents": DOCUMENTS}
    )
    assert cloud.requests, "the cloud was never called: nothing was tested"
    assert canaries_in(cloud) == set()
    usage = out["usage"]
    assert usage["sensitive_values_to_cloud"] == 0 and usage["private_chars_to_cloud"] == 0
    assert_report_agrees(usage, cloud)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_worker_that_quotes_one_canary_sends_exactly_that_one(
    protocol: str, cloud: FakeOpenAIServer
) -> None:
    out = graph_for(protocol, local_model(QUOTING), cloud.spec()).invoke(
        {"question": QUESTION, "documents": DOCUMENTS}
    )
    assert canaries_in(cloud) == {CANARIES[0]}
    usage = out["usage"]
    assert usage["sensitive_values_to_cloud"] == 1
    assert usage["private_chars_to_cloud"] == 0  # a short quote: no 40-character run of a document
    assert_report_agrees(usage, cloud)


def test_cloud_only_sends_everything(cloud: FakeOpenAIServer) -> None:
    out = graph_for("cloud-only", local_model(SILENT), cloud.spec()).invoke(
        {"question": QUESTION, "documents": DOCUMENTS}
    )
    assert canaries_in(cloud) == set(CANARIES)
    usage = out["usage"]
    assert usage["private_chars_to_cloud"] == usage["document_chars"] == sum(len(d) for d in DOCUMENTS)
    assert usage["sensitive_values_to_cloud"] == usage["sensitive_values_total"] == len(CANARIES)
    assert_report_agrees(usage, cloud)
    # its own yardstick: the estimate is what it spent
    assert usage["cost_reduction"] == 1.0
    assert usage["cloud_only_estimate_method"].startswith("measured")


def test_a_quoted_sentence_is_counted_by_its_length(cloud: FakeOpenAIServer) -> None:
    sentence = "the spare key is kept under the blue crate"  # 42 characters of the first document
    out = graph_for("minion", local_model(f"it says: {sentence}!"), cloud.spec()).invoke(
        {"question": QUESTION, "documents": DOCUMENTS}
    )
    usage = out["usage"]
    assert usage["private_chars_to_cloud"] == len(sentence)
    assert usage["sensitive_values_to_cloud"] == 0
    assert_report_agrees(usage, cloud)


def test_messages_seen_by_the_scripted_worker_carry_the_documents(cloud: FakeOpenAIServer) -> None:
    """The canaries did reach the local side: their absence in the cloud requests means something."""
    seen: list[str] = []

    def respond(messages: list[BaseMessage]) -> str:
        seen.append("\n".join(str(m.content) for m in messages))
        return SILENT

    local = ScriptedChatModel(responder=respond, model_name="smol")
    create_minion(local, cloud.spec(), max_rounds=1).invoke({"question": QUESTION, "documents": DOCUMENTS})
    assert seen and all(c in "\n".join(seen) for c in CANARIES)
    assert canaries_in(cloud) == set()


def test_repair_retries_are_measured_too() -> None:
    """A cloud reply that cannot be parsed is asked again: the retry is a request like any other."""
    broken = {"left": 1}

    def first_broken(body: dict[str, Any]) -> str:
        if body.get("response_format") and broken["left"]:
            broken["left"] -= 1
            return "not json at all"
        return cloud_responder(body)

    with FakeOpenAIServer(first_broken, model="gpt-4o") as server:
        out = graph_for("minion", local_model(QUOTING), server.spec()).invoke(
            {"question": QUESTION, "documents": DOCUMENTS}
        )
    assert broken["left"] == 0 and len(server.requests) == 3  # first message twice, then the answer
    usage = out["usage"]
    assert usage["sensitive_values_to_cloud"] == 1
    assert_report_agrees(usage, server)


def test_the_estimate_counts_with_the_cloud_servers_own_tokenizer(smollm2_spec: str) -> None:
    """A llama.cpp server on loopback as the cloud (the embedded stand-in): its ``/tokenize`` counts."""
    import httpx

    from langgraph_cloudlocal.ledger import CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS
    from langgraph_cloudlocal.protocols.baselines import create_local_only

    local = ScriptedChatModel(replies=["the code is in the vault"], model_name="smol")
    usage = create_local_only(local, smollm2_spec).invoke({"question": QUESTION, "documents": DOCUMENTS})[
        "usage"
    ]
    assert usage["cloud_only_estimate_method"] == "llama.cpp /tokenize"
    root = smollm2_spec.split("@", 1)[1].removesuffix("/v1")
    text = "\n\n".join([QUESTION, *DOCUMENTS])
    tokens = httpx.post(f"{root}/tokenize", json={"content": text}, timeout=10).json()["tokens"]
    assert usage["cloud_only_input_tokens"] == len(tokens) + CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS
    assert len(tokens) != -(-len(text) // 4)  # not the chars/4 figure in disguise
