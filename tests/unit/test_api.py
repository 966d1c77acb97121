"""The OpenAI-compatible endpoint with scripted models, in process (Starlette's test client, no
sockets): auth, request checks, the response shape, SSE, documents and paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from langgraph_cloudlocal.api import DEFAULT_MODELS, RequestError, create_app, parse_model_id
from langgraph_cloudlocal.testing import ScriptedChatModel

KEY = "s3cret-key"


def verdict(kind: str, confidence: float) -> str:
    return json.dumps({"verdict": kind, "confidence": confidence, "reason": "checked"})


class Models:
    def __init__(self, doubt: float = 0.1) -> None:
        def respond(messages: list[Any]) -> str:
            last = str(messages[-1].content)
            if "Reply to check" in last:
                return verdict("wrong", doubt)
            return "local answer"

        self.local = ScriptedChatModel(responder=respond, model_name="local-scripted")
        self.cloud = ScriptedChatModel(replies=["cloud answer"], model_name="gpt-4o")


def client(models: Models, **kwargs: Any) -> TestClient:
    return TestClient(create_app(models.local, models.cloud, api_key=KEY, **kwargs))


AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "cascade", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


def test_models_lists_every_policy_and_preset() -> None:
    response = client(Models()).get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    ids = [m["id"] for m in response.json()["data"]]
    assert ids == list(DEFAULT_MODELS)
    assert {"cascade", "minions", "adaswitch@0.3", "cloud-only"} <= set(ids)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_a_missing_or_wrong_key_is_refused(headers: dict[str, str]) -> None:
    models = Models()
    api = client(models)
    for response in (
        api.get("/v1/models", headers=headers),
        api.post("/v1/chat/completions", json=BODY, headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert models.local.calls == []


def test_a_completion_carries_both_roles_usage_and_the_decisions() -> None:
    models = Models(doubt=0.9)  # "wrong" with confidence 0.9: escalate
    response = client(models).post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "cascade"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "cloud answer"}
    assert body["choices"][0]["finish_reason"] == "stop"
    report = body["usage"]["cloudlocal"]
    assert report["cloud"]["calls"] == 1 and report["local"]["calls"] == 2
    prompt = report["local"]["input_tokens"] + report["cloud"]["input_tokens"]
    assert body["usage"]["prompt_tokens"] == prompt
    assert body["usage"]["total_tokens"] == prompt + body["usage"]["completion_tokens"]
    assert body["cloudlocal"]["answered_by"] == "cloud"
    assert [d["decision"] for d in body["cloudlocal"]["decisions"]] == ["escalate"]


def test_the_threshold_in_the_model_id_is_used() -> None:
    models = Models(doubt=0.5)
    api = client(models)
    low = api.post("/v1/chat/completions", json=BODY | {"model": "cascade@0.3"}, headers=AUTH).json()
    high = api.post("/v1/chat/completions", json=BODY | {"model": "cascade@0.7"}, headers=AUTH).json()
    assert low["cloudlocal"]["answered_by"] == "cloud" and high["cloudlocal"]["answered_by"] == "local"
    assert low["cloudlocal"]["decisions"][-1]["threshold"] == 0.3


def test_streaming_sends_sse_chunks_then_the_report_and_usage() -> None:
    models = Models(doubt=0.9)
    with client(models).stream(
        "POST", "/v1/chat/completions", json=BODY | {"stream": True}, headers=AUTH
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "cloud answer"
    finish = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["cloudlocal"]["answered_by"] == "cloud"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["cloudlocal"]["cloud"]["calls"] == 1


def test_decisions_stream_as_they_are_made_when_asked() -> None:
    models = Models(doubt=0.9)
    body = BODY | {"stream": True, "stream_options": {"include_decisions": True}}
    with client(models).stream("POST", "/v1/chat/completions", json=body, headers=AUTH) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line and line != "data: [DONE]"]
    live = [
        e["cloudlocal"]["decision"]
        for e in events
        if not e["choices"] and "decision" in e.get("cloudlocal", {})
    ]
    final = next(e for e in events if e["choices"] and e["choices"][0]["finish_reason"])
    # every decision of the report went out live, in order, before the answer finished
    assert [d["decision"] for d in live] == [d["decision"] for d in final["cloudlocal"]["decisions"]]
    assert live and live[-1]["decision"] == "escalate"
    assert events.index(final) > max(
        i for i, e in enumerate(events) if not e["choices"] and "decision" in e.get("cloudlocal", {})
    )
    # without the option, no decision chunks
    with client(models).stream(
        "POST", "/v1/chat/completions", json=BODY | {"stream": True}, headers=AUTH
    ) as response:
        plain = [json.loads(line[6:]) for line in response.iter_lines() if line and line != "data: [DONE]"]
    assert not any("decision" in e.get("cloudlocal", {}) for e in plain)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "not valid JSON"),
        ([1, 2], 400, "JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model is required"),
        ({"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]}, 404, "unknown model"),
        ({"model": "cascade", "messages": []}, 400, "non-empty list"),
        ({"model": "cascade", "messages": [{"role": "robot", "content": "hi"}]}, 400, "role must be"),
        ({"model": "cascade", "messages": [{"role": "user", "content": 5}]}, 400, "content must be"),
        ({"model": "cascade", "messages": [{"role": "system", "content": "x"}]}, 400, "no user message"),
        (BODY | {"stream": "yes"}, 400, "stream must be"),
        (BODY | {"stream_options": "all"}, 400, "stream_options must be"),
        (BODY | {"budget": {"max_cloud_usd": -1}}, 400, "max_cloud_usd"),
        (BODY | {"frobnicate": 1}, 400, "unknown field"),
        (BODY | {"model": "cascade@2"}, 400, "from 0 to 1"),
        (BODY | {"model": "minion@0.3"}, 400, "no @threshold"),
        (BODY | {"model": "minion", "settings": {"max_roundz": 2}}, 400, "max_roundz"),
        (
            BODY | {"model": "minion", "tools": [{"type": "function", "function": {"name": "f"}}]},
            400,
            "cascade",
        ),
        (BODY | {"documents": [{"path": "memo.md"}]}, 400, "--documents-dir"),
    ],
)
def test_bad_bodies_get_a_400_with_a_clear_message_and_no_model_call(
    body: Any, status: int, message: str
) -> None:
    models = Models()
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client(models).post("/v1/chat/completions", content=raw, headers=AUTH)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert models.local.calls == [] and models.cloud.calls == []


def test_documents_by_path_are_read_only_under_the_documents_folder(tmp_path: Path) -> None:
    (tmp_path / "memo.md").write_text("The vault code is 4471.")
    (tmp_path.parent / "outside.md").write_text("secret outside")
    models = Models()
    api = client(models, documents_dir=tmp_path)
    body = BODY | {"model": "local-only", "documents": [{"path": "memo.md"}, "An inline note."]}
    response = api.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    prompt = models.local.calls[0]["prompt"]
    assert "The vault code is 4471." in prompt and "An inline note." in prompt
    assert response.json()["usage"]["cloudlocal"]["document_chars"] == len(
        "The vault code is 4471.An inline note."
    )
    escape = api.post(
        "/v1/chat/completions", json=BODY | {"documents": [{"path": "../outside.md"}]}, headers=AUTH
    )
    assert escape.status_code == 400 and "outside the documents folder" in escape.json()["error"]["message"]
    missing = api.post("/v1/chat/completions", json=BODY | {"documents": [{"path": "nope.md"}]}, headers=AUTH)
    assert missing.status_code == 400 and "no file" in missing.json()["error"]["message"]


def test_system_messages_are_the_documents_of_a_protocol_model() -> None:
    models = Models()
    body = {
        "model": "cloud-only",
        "messages": [
            {"role": "system", "content": "Memo: revenue was 12M."},
            {"role": "user", "content": "Revenue?"},
        ],
    }
    response = client(models).post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200
    assert "Memo: revenue was 12M." in models.cloud.calls[0]["prompt"]
    usage = response.json()["usage"]["cloudlocal"]
    assert usage["private_chars_to_cloud"] == len("Memo: revenue was 12M.")


def test_tools_come_back_as_openai_tool_calls() -> None:
    def respond(messages: list[Any]) -> str:
        if "Reply to check" in str(messages[-1].content):
            return verdict("correct", 0.9)
        return json.dumps({"action": "tool", "tool": "weather", "arguments": {"city": "Paris"}})

    models = Models()
    models.local = ScriptedChatModel(responder=respond)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    response = client(models).post("/v1/chat/completions", json=BODY | {"tools": tools}, headers=AUTH)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "weather" and json.loads(call["function"]["arguments"]) == {
        "city": "Paris"
    }


def test_a_dead_model_server_is_a_502_without_secrets() -> None:
    from langgraph_cloudlocal.calls import ModelCallError

    models = Models()
    models.local = ScriptedChatModel(
        error=ModelCallError("cannot reach local model", model="m", base_url=None, role="local")
    )
    response = client(models).post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert response.status_code == 502 and "cannot reach" in response.json()["error"]["message"]
    assert KEY not in response.text


def test_model_ids() -> None:
    assert parse_model_id("adaswitch@0.3") == ("adaswitch", 0.3)
    assert parse_model_id("minions") == ("minions", None)
    with pytest.raises(RequestError):
        parse_model_id("cascade@x")


def test_serving_beyond_loopback_needs_a_key() -> None:
    from langgraph_cloudlocal.api import check_bind
    from langgraph_cloudlocal.protocols.common import InputError

    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "key")
    with pytest.raises(InputError, match="API key"):
        check_bind("0.0.0.0", None)


def test_an_answer_cut_at_its_token_limit_finishes_with_length() -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    models = Models(doubt=0.9)
    models.cloud = GenericFakeChatModel(
        messages=iter([AIMessage("cut sho", response_metadata={"finish_reason": "length"})])
    )
    body = client(models).post("/v1/chat/completions", json=BODY, headers=AUTH).json()
    assert body["cloudlocal"]["answered_by"] == "cloud"
    assert body["choices"][0]["finish_reason"] == "length"
    kept = client(Models(doubt=0.1)).post("/v1/chat/completions", json=BODY, headers=AUTH).json()
    assert kept["choices"][0]["finish_reason"] == "stop"
