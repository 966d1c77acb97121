"""Usage ledger and budgets: exact totals, concurrency, prices, caps."""

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.ledger import (
    Budget,
    BudgetError,
    Price,
    PriceTable,
    finalize_usage,
    merge_usage,
    usage_delta,
)
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.protocols.common import UsageField
from langgraph_cloudlocal.testing import ScriptedChatModel


def test_merge_adds_roles_and_keeps_every_cloud_request() -> None:
    total = merge_usage(
        usage_delta("local", input_tokens=10, output_tokens=2, seconds=0.5),
        usage_delta("cloud", input_tokens=100, output_tokens=20, cached_tokens=40, cloud_request="first"),
    )
    total = merge_usage(total, usage_delta("cloud", input_tokens=1, output_tokens=1, failed=True))
    assert total["local"] == {
        "input_tokens": 10,
        "output_tokens": 2,
        "cached_tokens": 0,
        "calls": 1,
        "failed_calls": 0,
        "seconds": 0.5,
    }
    assert total["cloud"]["input_tokens"] == 101 and total["cloud"]["calls"] == 2
    assert total["cloud"]["failed_calls"] == 1
    total = merge_usage(total, usage_delta("cloud", cloud_request="second"))
    assert total["cloud_requests"] == ["first", "second"]


def test_gpt4o_prices_from_the_paper() -> None:
    report = finalize_usage(
        usage_delta("cloud", input_tokens=1_000_000, output_tokens=100_000),
        local_model="smollm2",
        cloud_model="gpt-4o-2024-08-06",
        cloud_only_input_tokens=2_000_000,
        cloud_only_output_tokens=100_000,
    )
    assert report["cloud_cost_usd"] == pytest.approx(2.50 + 1.00)
    assert report["cloud_only_cost_usd"] == pytest.approx(5.00 + 1.00)
    assert report["cost_reduction"] == pytest.approx(6.0 / 3.5)
    assert report["local_cost_usd"] == 0.0


def test_cached_tokens_use_the_cached_rate_and_local_can_be_priced() -> None:
    prices = PriceTable(local=Price(0.01, 0.02)).with_overrides({"my-cloud": (1.0, 2.0)})
    raw = merge_usage(
        usage_delta("cloud", input_tokens=1_000_000, output_tokens=0, cached_tokens=500_000),
        usage_delta("local", input_tokens=1_000_000, output_tokens=1_000_000),
    )
    report = finalize_usage(raw, local_model="smol", cloud_model="my-cloud", prices=prices)
    assert report["cloud_cost_usd"] == pytest.approx(1.0)  # no cached rate given: cached costs as input
    assert report["local_cost_usd"] == pytest.approx(0.03)
    gpt = finalize_usage(raw, local_model="smol", cloud_model="gpt-4o")
    assert gpt["cloud_cost_usd"] == pytest.approx(0.5 * 2.5 + 0.5 * 1.25)


class FanOutState(TypedDict, total=False):
    prompts: list[str]
    ledger: UsageField
    answers: Annotated[list, operator.add]


def test_fifty_concurrent_workers_are_counted_exactly_once() -> None:
    # Each reply is 8 chars (2 tokens); each prompt is 40 chars (10 tokens): totals are known exactly.
    model = ScriptedChatModel(responder=lambda messages: "answer!!", model_name="smol")
    local = resolve_model(model, "local")

    def fan_out(state: FanOutState) -> list[Send]:
        return [Send("worker", {"prompts": [p]}) for p in state["prompts"]]

    def worker(state: FanOutState) -> dict[str, Any]:
        result = call_text(local, [HumanMessage(state["prompts"][0])])
        return {"ledger": result.usage, "answers": [result.text]}

    builder = StateGraph(FanOutState)
    builder.add_node("worker", worker)
    builder.add_conditional_edges(START, fan_out, ["worker"])
    builder.add_edge("worker", END)
    graph = builder.compile()
    prompts = [f"{i:04d}" + "x" * 36 for i in range(50)]
    out = graph.invoke({"prompts": prompts}, config={"max_concurrency": 16})
    assert len(out["answers"]) == 50 and len(model.calls) == 50
    assert out["ledger"]["local"]["calls"] == 50
    assert out["ledger"]["local"]["input_tokens"] == 50 * 10
    assert out["ledger"]["local"]["output_tokens"] == 50 * 2


@pytest.mark.parametrize(
    "kwargs", [{"max_cloud_tokens": -1}, {"max_cloud_usd": -0.5}, {"max_cloud_calls": "three"}]
)
def test_bad_budgets_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BudgetError):
        Budget(**kwargs)


def test_budget_refuses_before_the_cap_is_crossed() -> None:
    price = Price(2.5, 10.0)
    spent = usage_delta("cloud", input_tokens=900, output_tokens=50)
    assert Budget(max_cloud_tokens=1000).refusal(spent, next_input_tokens=40, cloud_price=price) is None
    assert "token cap" in Budget(max_cloud_tokens=1000).refusal(
        spent, next_input_tokens=60, cloud_price=price
    )
    assert "call cap" in Budget(max_cloud_calls=1).refusal(spent, next_input_tokens=1, cloud_price=price)
    assert "dollar cap" in Budget(max_cloud_usd=0.003).refusal(
        spent, next_input_tokens=400, cloud_price=price
    )


def test_stricter_budget_wins() -> None:
    merged = Budget(max_cloud_tokens=100, max_cloud_calls=5).merged_with(
        Budget(max_cloud_tokens=50, max_cloud_usd=1.0)
    )
    assert merged == Budget(max_cloud_tokens=50, max_cloud_usd=1.0, max_cloud_calls=5)
