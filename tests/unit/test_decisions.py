"""Switching decisions reach the output, the custom stream, and LangSmith (captured, no network)."""

import json
import threading
from typing import Any

import requests
from langchain_core.tracers import LangChainTracer
from langsmith import Client

from langgraph_cloudlocal.decisions import DECISION_EVENT, summarize_decisions
from langgraph_cloudlocal.protocols.baselines import create_cloud_only
from langgraph_cloudlocal.testing import ScriptedChatModel


class CapturingSession(requests.Session):
    """Stands in for LangSmith's HTTP endpoint: records what the client would have sent."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[Any] = []
        self.lock = threading.Lock()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = kwargs.get("data") or kwargs.get("json")
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError:
                pass
        with self.lock:
            self.bodies.append({"method": method, "url": url, "body": body})
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        return response


def _graph() -> Any:
    return create_cloud_only(
        ScriptedChatModel(replies=["local"], model_name="smol"),
        ScriptedChatModel(replies=["Paris"], model_name="gpt-4o"),
    )


def test_decisions_in_output_and_custom_stream() -> None:
    events = list(
        _graph().stream(
            {"question": "Capital?", "documents": ["Paris is the capital."]}, stream_mode=["custom", "values"]
        )
    )
    custom = [payload for mode, payload in events if mode == "custom" and payload["type"] == DECISION_EVENT]
    final = [payload for mode, payload in events if mode == "values"][-1]
    assert [c["decision"] for c in custom] == ["use_cloud"]
    assert final["decisions"][0]["decision"] == "use_cloud"
    assert summarize_decisions(final["decisions"]) == {"use_cloud": 1}


def test_decisions_reach_langsmith_as_tags_and_metadata() -> None:
    session = CapturingSession()
    client = Client(
        api_url="http://langsmith.capture.invalid",
        api_key="ls-test",
        session=session,
        auto_batch_tracing=False,
    )
    tracer = LangChainTracer(client=client, project_name="cloudlocal-test")
    _graph().invoke({"question": "Capital?", "documents": ["Paris."]}, config={"callbacks": [tracer]})
    tracer.wait_for_futures()
    client.flush() if hasattr(client, "flush") else None
    runs = [b["body"] for b in session.bodies if isinstance(b["body"], dict) and "name" in b["body"]]
    decision_runs = [r for r in runs if r["name"] == "cloudlocal:use_cloud"]
    assert decision_runs, [r.get("name") for r in runs]
    run = decision_runs[0]
    assert "cloudlocal:use_cloud" in run["tags"] and "cloudlocal:cloud-only" in run["tags"]
    metadata = run["extra"]["metadata"]
    assert metadata["cloudlocal_decision"] == "use_cloud"
    assert metadata["cloudlocal_protocol"] == "cloud-only"
