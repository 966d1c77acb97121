"""The privacy report: measured from recorded cloud request texts, by a documented rule."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.ledger import PriceTable, cloud_token_counter, estimate_cloud_only
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.privacy import VERBATIM_RUN_CHARS, measure_privacy, sensitive_values
from langgraph_cloudlocal.protocols.baselines import create_cloud_only, create_local_only
from langgraph_cloudlocal.protocols.common import usage_report
from langgraph_cloudlocal.protocols.minion import create_minion
from langgraph_cloudlocal.testing import ScriptedChatModel

DOC = (
    "The lighthouse keeper, Ottoline Varga, logs the weather every morning at six. "
    "The Quillfeather project has a budget of 7,300 euros, approved on 2025-03-14. "
    "Write to keeper@varga-lights.example or quote invoice INV-2024-0042."
)


def test_the_sensitive_value_rule() -> None:
    assert sensitive_values([DOC]) == {
        "Ottoline Varga",
        "7,300",
        "2025-03-14",
        "keeper@varga-lights.example",
        "INV-2024-0042",
    }
    # too common to tell a leak from chance: short numbers, single capitalised words
    assert sensitive_values(["In 42 days, Paris."]) == set()
    # a leading sentence word is not part of a name
    assert sensitive_values(["In Dublin City it rained."]) == {"Dublin City"}


def test_nothing_sent_nothing_measured() -> None:
    report = measure_privacy([], [DOC])
    assert (report.private_chars_to_cloud, report.quoted_chars_to_cloud) == (0, 0)
    assert report.sensitive_values_to_cloud == 0 and report.sensitive_values_total == 5


def test_a_verbatim_run_counts_from_the_run_length_up() -> None:
    run = VERBATIM_RUN_CHARS
    start = DOC.index("logs the weather")
    just_short = DOC[start : start + run - 1]
    exactly = DOC[start : start + run]
    assert measure_privacy([f"<{just_short}>"], [DOC]).private_chars_to_cloud == 0
    assert measure_privacy([f"<{exactly}>"], [DOC]).private_chars_to_cloud == run
    assert measure_privacy([f"<{exactly}> and <{exactly}>"], [DOC]).private_chars_to_cloud == run


def test_repeats_count_once_as_coverage_and_each_time_as_traffic() -> None:
    quote = DOC[:100]
    report = measure_privacy([f"[{quote}]", f"again: [{quote}]"], [DOC])
    assert report.private_chars_to_cloud == 100
    assert report.quoted_chars_to_cloud == 200
    assert report.cloud_requests == 2


def test_the_whole_document_is_the_reference() -> None:
    report = measure_privacy([f"Documents:\n{DOC}\n\nQuestion: q?"], [DOC])
    assert report.private_chars_to_cloud == len(DOC)
    assert report.sensitive_values_to_cloud == report.sensitive_values_total == 5


def test_values_match_whole_tokens_only() -> None:
    assert measure_privacy(["it costs 17,3001 euros"], [DOC]).sensitive_values_to_cloud == 0
    assert measure_privacy(["it costs 7,300."], [DOC]).sensitive_values_to_cloud == 1
    # a value split across two requests was not sent
    assert measure_privacy(["Ottoline", "Varga"], [DOC]).sensitive_values_to_cloud == 0


def test_a_short_document_counts_whole() -> None:
    report = measure_privacy(["the code: AX-77 ok"], ["AX-77"])
    assert report.private_chars_to_cloud == len("AX-77")


def test_the_report_holds_counts_not_text() -> None:
    usage = measure_privacy([DOC], [DOC]).as_usage()
    assert not any("Varga" in str(value) or "7,300" in str(value) for value in usage.values())


# --------------------------------------------------------------------------------------------------
# Through the protocols: measured where the cloud is called, whatever the protocol declares


def test_a_cloud_call_no_protocol_declared_is_still_measured() -> None:
    """A hand-made graph that puts the document in a cloud prompt: the report shows it."""
    cloud = resolve_model(ScriptedChatModel(replies=["ok"], model_name="gpt-4o"), "cloud")
    local = resolve_model(ScriptedChatModel(replies=["ok"], model_name="smol"), "local")

    def node(state: dict[str, Any]) -> dict[str, Any]:
        result = call_text(cloud, [HumanMessage(f"summarise: {state['documents'][0][:120]}")])
        return {
            "usage": usage_report(
                result.usage,
                local,
                cloud,
                PriceTable(),
                question="q",
                documents=state["documents"],
                answer=result.text,
            )
        }

    builder: StateGraph = StateGraph(dict)
    builder.add_node("leaky", node)
    builder.add_edge(START, "leaky")
    builder.add_edge("leaky", END)
    out = builder.compile().invoke({"documents": [DOC]})
    assert out["usage"]["private_chars_to_cloud"] == 120
    assert out["usage"]["sensitive_values_to_cloud"] == 1  # Ottoline Varga


def test_cloud_only_is_its_own_estimate_and_sends_everything() -> None:
    out = create_cloud_only(
        ScriptedChatModel(replies=["local"], model_name="smol"),
        ScriptedChatModel(replies=["The budget is 7,300 euros."], model_name="gpt-4o"),
    ).invoke({"question": "Budget?", "documents": [DOC]})
    usage = out["usage"]
    assert usage["cost_reduction"] == 1.0
    assert usage["cloud_only_cost_usd"] == usage["cloud_cost_usd"] > 0
    assert usage["cloud_only_input_tokens"] == usage["cloud"]["input_tokens"]
    assert usage["cloud_only_estimate_method"] == "measured (this run is cloud-only)"
    assert usage["private_chars_to_cloud"] == len(DOC)
    assert usage["sensitive_values_to_cloud"] == usage["sensitive_values_total"] == 5


def test_other_protocols_estimate_with_a_named_counter() -> None:
    out = create_local_only(ScriptedChatModel(replies=["7,300 euros"], model_name="smol"), None).invoke(
        {"question": "Budget?", "documents": [DOC]}
    )
    usage = out["usage"]
    assert usage["cloud_only_estimate_method"] == "chars/4"
    expected_in, expected_out = estimate_cloud_only(
        "Budget?", [DOC], "7,300 euros", lambda t: -(-len(t) // 4)
    )
    assert (usage["cloud_only_input_tokens"], usage["cloud_only_output_tokens"]) == (
        expected_in,
        expected_out,
    )
    assert usage["private_chars_to_cloud"] == 0 and usage["cloud_requests_measured"] == 0


def test_a_minion_worker_that_relays_a_value_is_caught() -> None:
    cloud = ScriptedChatModel(
        replies=['{"message": "What is the budget?"}', '{"answer": "7,300 euros", "reason": "said"}'],
        model_name="gpt-4o",
    )
    local = ScriptedChatModel(replies=["It is 7,300 euros."], model_name="smol")
    usage = create_minion(local, cloud, max_rounds=1).invoke({"question": "Budget?", "documents": [DOC]})[
        "usage"
    ]
    assert usage["private_chars_to_cloud"] == 0  # no 40-character quote
    assert usage["sensitive_values_to_cloud"] == 1  # but the sum went to the cloud


@pytest.mark.parametrize(
    ("base_url", "asked"),
    [
        (None, False),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5:8080/v1", False),
        ("http://127.0.0.1:9/v1", True),
    ],
)
def test_documents_are_never_sent_away_to_be_counted(
    base_url: str | None, asked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a loopback server is asked, and first only ``/props`` (no text): is it llama.cpp?"""
    import httpx

    gets: list[str] = []
    posts: list[str] = []

    def fake_get(url: str, **kwargs: Any) -> httpx.Response:
        gets.append(url)
        return httpx.Response(200, json={"object": "list", "data": []})  # an OpenAI server, not llama.cpp

    monkeypatch.setattr(httpx, "get", fake_get)
    monkeypatch.setattr(httpx, "post", lambda url, **kw: posts.append(url))
    counter, method = cloud_token_counter("my-cloud-model", base_url)
    assert method == "chars/4" and counter("abcdefgh") == 2
    assert gets == (["http://127.0.0.1:9/props"] if asked else [])
    assert posts == []


def test_a_llama_cpp_server_on_loopback_counts_the_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    def fake_get(url: str, **kwargs: Any) -> httpx.Response:
        return httpx.Response(200, json={"default_generation_settings": {}})

    def fake_post(url: str, json: dict[str, Any], **kwargs: Any) -> httpx.Response:
        assert url == "http://127.0.0.1:9/tokenize"
        request = httpx.Request("POST", url)
        return httpx.Response(200, json={"tokens": list(json["content"].split())}, request=request)

    monkeypatch.setattr(httpx, "get", fake_get)
    monkeypatch.setattr(httpx, "post", fake_post)
    counter, method = cloud_token_counter("qwen", "http://127.0.0.1:9/v1")
    assert method == "llama.cpp /tokenize" and counter("three words here") == 3
