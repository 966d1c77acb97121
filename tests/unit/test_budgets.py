"""Budgets across protocols: a cap is checked before every cloud call, the run degrades by the
protocol's rule, and it never overspends by more than one call's output limit."""

from typing import Any

import pytest

from langgraph_cloudlocal.protocols.baselines import create_cloud_only
from langgraph_cloudlocal.testing import ScriptedChatModel

DOCUMENT = "The depot code name is BLUE HERON. " * 40  # ~1400 chars, ~350 tokens


def _cloud_only() -> Any:
    return create_cloud_only(
        ScriptedChatModel(replies=["local answer"], model_name="smol"),
        ScriptedChatModel(replies=["cloud answer " * 10], model_name="gpt-4o"),
    )


def test_cloud_only_degrades_to_local_when_the_prompt_would_break_the_cap() -> None:
    out = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_tokens": 100}
    )
    assert out["answer"] == "local answer"
    assert [d["decision"] for d in out["decisions"]] == ["budget_stop", "use_local"]
    assert "token cap" in out["decisions"][0]["reason"]
    assert out["usage"]["cloud_calls"] == 0 and out["usage"]["private_chars_to_cloud"] == 0


@pytest.mark.parametrize("cap", [400, 1000, 5000])
def test_cloud_only_never_overspends_by_more_than_one_output(cap: int) -> None:
    cloud_max_tokens = 64
    out = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]},
        context={"max_cloud_tokens": cap, "cloud_max_tokens": cloud_max_tokens},
    )
    assert out["usage"]["cloud_tokens"] <= cap + cloud_max_tokens


def test_zero_call_budget_means_no_cloud_call() -> None:
    out = _cloud_only().invoke(
        {"question": "Code name?", "documents": [DOCUMENT]}, context={"max_cloud_calls": 0}
    )
    assert out["usage"]["cloud_calls"] == 0
    assert out["decisions"][0]["decision"] == "budget_stop"
