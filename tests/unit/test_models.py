import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from langgraph_cloudlocal.models import (
    ModelSpecError,
    RoundRobinChatModel,
    resolve_model,
)
from langgraph_cloudlocal.testing import ScriptedChatModel


def test_instance_is_used_as_is() -> None:
    fake = ScriptedChatModel(replies=["x"], model_name="tiny")
    resolved = resolve_model(fake, "local")
    assert resolved.model is fake and resolved.model_name == "tiny" and resolved.role == "local"


def test_ollama_spec_uses_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:11434")
    resolved = resolve_model("ollama:llama3.2:3b", "local")
    assert isinstance(resolved.model, ChatOllama)
    assert resolved.model_name == "llama3.2:3b"
    assert resolved.model.base_url == "http://10.0.0.5:11434"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("myhost", "http://myhost:11434"),
        (":11500", "http://127.0.0.1:11500"),
        ("https://ollama.internal", "https://ollama.internal:443"),
    ],
)
def test_ollama_host_is_read_like_the_ollama_client(
    monkeypatch: pytest.MonkeyPatch, host: str, url: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    assert resolve_model("ollama:qwen", "local").base_url == url


def test_openai_compatible_spec_streams_usage() -> None:
    resolved = resolve_model("openai-compatible:qwen@http://127.0.0.1:8080/v1", "cloud")
    assert isinstance(resolved.model, ChatOpenAI)
    assert resolved.model.stream_usage is True
    assert resolved.model.openai_api_base == "http://127.0.0.1:8080/v1"
    assert resolved.base_url == "http://127.0.0.1:8080/v1"


def test_several_urls_make_a_round_robin() -> None:
    resolved = resolve_model("openai-compatible:smol@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", "local")
    assert isinstance(resolved.model, RoundRobinChatModel)
    assert [r.openai_api_base for r in resolved.model.replicas] == [
        "http://127.0.0.1:1/v1",
        "http://127.0.0.1:2/v1",
    ]


def test_round_robin_alternates_replicas() -> None:
    a = ScriptedChatModel(replies=["a"])
    b = ScriptedChatModel(replies=["b"])
    model = RoundRobinChatModel(replicas=[a, b], model_name="pair")
    assert [model.invoke("hi").content for _ in range(4)] == ["a", "b", "a", "b"]


def test_openai_spec_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelSpecError, match="OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o", "cloud")


def test_openai_spec_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-sentinel")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    resolved = resolve_model("openai:gpt-4o", "cloud")
    assert resolved.model_name == "gpt-4o" and resolved.base_url == "http://127.0.0.1:9/v1"
    assert "sk-test-sentinel" not in repr(resolved.model)


def test_environment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", "ollama:qwen2.5:0.5b")
    assert resolve_model(None, "local").model_name == "qwen2.5:0.5b"


@pytest.mark.parametrize(
    "spec",
    ["gpt-4o", "ollama:", "mystery:model", "openai-compatible:no-url", "openai-compatible:x@ftp://host/v1"],
)
def test_bad_specs_name_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        resolve_model(spec, "cloud")
    message = str(info.value)
    assert spec.split(":")[0] in message or "URL" in message
    assert "openai-compatible" in message


def test_missing_spec_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDLOCAL_CLOUD_MODEL", raising=False)
    with pytest.raises(ModelSpecError, match="CLOUDLOCAL_CLOUD_MODEL"):
        resolve_model(None, "cloud")
