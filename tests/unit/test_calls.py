from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from langgraph_cloudlocal.calls import (
    ModelCallError,
    call_structured,
    call_text,
    parse_json_object,
    parse_structured,
)
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.testing import ScriptedChatModel


class Verdict(BaseModel):
    answer: str
    confidence: float


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": "42", "confidence": 0.9}',
        'Sure! ```json\n{"answer": "42", "confidence": 0.9}\n```',
        'Here it is: {"answer": "42", "confidence": 0.9,} hope that helps',
        "{'answer': '42', 'confidence': 0.9}",
        '{"answer": "42", "confidence": 0.9',  # truncated at the token limit
        '{"answer": "42", "confidence": "0.9"}',  # number as string: pydantic coerces
    ],
)
def test_tolerant_parser_repairs_common_breakage(text: str) -> None:
    value, error = parse_structured(text, Verdict)
    assert error is None
    assert value == Verdict(answer="42", confidence=0.9)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("I think the answer is 42", "no JSON"),
        ('{"answer": "42"}', "confidence"),
        ('{"answer": "42", "confidence": "very"}', "confidence"),
    ],
)
def test_parser_reports_what_is_wrong(text: str, fragment: str) -> None:
    value, error = parse_structured(text, Verdict)
    assert value is None and error is not None and fragment in error


def test_truncated_nested_json_is_closed() -> None:
    assert parse_json_object('{"jobs": [{"task": "a"}, {"task": "b') == {
        "jobs": [{"task": "a"}, {"task": "b"}]
    }


def test_structured_call_retries_with_the_error_then_succeeds() -> None:
    fake = ScriptedChatModel(replies=["no idea", '{"answer": "7", "confidence": 0.5}'], model_name="m")
    result = call_structured(resolve_model(fake, "local"), [HumanMessage("q?")], Verdict, retries=2)
    assert result.ok and result.value.answer == "7" and result.attempts == 2
    assert "could not be used" in fake.calls[1]["prompt"]  # the retry told the model what was wrong
    assert result.usage["local"]["calls"] == 2 and result.usage["local"]["failed_calls"] == 0


def test_structured_call_gives_up_without_raising() -> None:
    fake = ScriptedChatModel(replies=["garbage"], model_name="m")
    result = call_structured(resolve_model(fake, "cloud"), [HumanMessage("q?")], Verdict, retries=1)
    assert not result.ok and result.raw == "garbage" and result.attempts == 2
    assert result.usage["cloud"]["calls"] == 2 and result.usage["cloud"]["failed_calls"] == 1
    assert result.raw_attempts == ["garbage", "garbage"]


def test_text_call_counts_usage_and_records_the_cloud_request() -> None:
    fake = ScriptedChatModel(replies=["abcdefgh"], model_name="gpt-4o")
    result = call_text(resolve_model(fake, "cloud"), [HumanMessage("x" * 400)])
    assert result.text == "abcdefgh"
    assert result.usage["cloud"]["input_tokens"] == 100 and result.usage["cloud"]["output_tokens"] == 2
    assert result.usage["cloud_requests"] == ["x" * 400]  # measured by the privacy report


def test_local_requests_are_not_recorded() -> None:
    fake = ScriptedChatModel(replies=["ok"], model_name="smol")
    result = call_text(resolve_model(fake, "local"), [HumanMessage("private text")])
    assert "cloud_requests" not in result.usage


def test_every_structured_attempt_is_recorded_with_all_its_messages() -> None:
    fake = ScriptedChatModel(replies=["garbage", '{"answer": "ok", "confidence": 1}'], model_name="gpt-4o")
    messages = [SystemMessage("system SECRET-A"), HumanMessage("user SECRET-B")]
    result = call_structured(resolve_model(fake, "cloud"), messages, Verdict, retries=1)
    assert result.ok and result.attempts == 2
    requests = result.usage["cloud_requests"]
    assert len(requests) == 2  # the first attempt and the repair retry
    assert all("SECRET-A" in r and "SECRET-B" in r for r in requests)
    assert "garbage" in requests[1] and "could not be used" in requests[1]


def test_connection_failure_names_model_url_and_fix() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    fake = ScriptedChatModel(error=openai.APIConnectionError(request=request), model_name="smollm2")
    resolved = resolve_model(fake, "local")
    with pytest.raises(ModelCallError) as info:
        call_text(resolved, [HumanMessage("hi")])
    assert "smollm2" in str(info.value) and "cloudlocal serve" in str(info.value)


def test_a_stream_that_fails_empty_is_resent_and_both_requests_are_counted() -> None:
    """The OpenAI client's structured stream fails on an empty response with a bare assertion; the call
    is sent again unstreamed, and the privacy report measures both requests (both reached the server)."""
    from langgraph_cloudlocal.models import resolve_model
    from langgraph_cloudlocal.testing import ScriptedChatModel

    class EmptyStream(ScriptedChatModel):
        def _stream(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError
            yield  # a generator

    cloud = resolve_model(EmptyStream(replies=["7,300 euros"], model_name="gpt-4o"), "cloud")
    seen: list[str] = []
    result = call_text(cloud, [HumanMessage("Budget?")], on_text=seen.append)
    assert result.text == "7,300 euros" and seen == ["7,300 euros"]
    assert result.usage["cloud"]["calls"] == 2 and result.usage["cloud"]["failed_calls"] == 1
    assert len(result.usage["cloud_requests"]) == 2
