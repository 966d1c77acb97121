"""Watch a protocol decide, live: every switch arrives on LangGraph's ``custom`` stream as it happens.

Each ``SwitchDecision`` (ask the local model, another round, escalate a step to the cloud, accept it,
answer, stop for budget...) is written to the ``custom`` stream the moment a node makes it, as
``{"type": "cloudlocal.decision", ...}``; progress (round, jobs done) comes as ``cloudlocal.progress``.
This prints both with the time since the start, then the final answer and cost. The same events reach a
``langgraph_sdk`` client (``client.runs.stream(..., stream_mode=["custom"])``) and Studio.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/stream_decisions.py                       # MinionS on the sample memo
    .venv/bin/python examples/stream_decisions.py --protocol minion
    .venv/bin/python examples/stream_decisions.py --protocol adaswitch --question "A shop sells 3 pens for $2. How much do 12 pens cost?"
    .venv/bin/python examples/stream_decisions.py --async               # the same with astream
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _demo import DATA, demo_models, print_usage, say, short

from langgraph_cloudlocal import load_document, protocol_factory

DEFAULT_QUESTION = "How many containers did the Eastern region ship, and who leads it?"


def show(event: dict[str, Any], started: float) -> None:
    at = f"[{time.perf_counter() - started:6.1f}s]"
    if event.get("type") == "cloudlocal.decision":
        step = "" if event.get("step") is None else f"step {event['step']} "
        score = ""
        if event.get("score") is not None:
            score = f" (score {event['score']:.2f}"
            score += f" vs threshold {event['threshold']:.2f})" if event.get("threshold") is not None else ")"
        say(f"{at} {step}{event['node']}: {event['decision'].upper()}{score} - {short(event['reason'], 80)}")
    elif event.get("type") == "cloudlocal.progress":
        fields = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("type", "protocol"))
        say(f"{at}   progress: {fields}")


def run_sync(graph: Any, inputs: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    started, final = time.perf_counter(), {}
    for mode, payload in graph.stream(
        inputs, context=context, stream_mode=["custom", "values"], config={"max_concurrency": 4}
    ):
        if mode == "custom":
            show(payload, started)
        else:
            final = payload
    return final


async def run_async(graph: Any, inputs: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    started, final = time.perf_counter(), {}
    async for mode, payload in graph.astream(
        inputs, context=context, stream_mode=["custom", "values"], config={"max_concurrency": 4}
    ):
        if mode == "custom":
            show(payload, started)
        else:
            final = payload
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="minions", help="minion | minions | adaswitch | cloud-only ...")
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--document", default=str(DATA / "quarterly_memo.md"), help="'' for none")
    parser.add_argument("--async", dest="use_async", action="store_true", help="use astream")
    parser.add_argument(
        "--quick", action="store_true", help="tiny limits for a smoke run (used by the tests)"
    )
    args = parser.parse_args()

    documents = [load_document(args.document).text] if args.document else []
    context: dict[str, Any] = {}
    if args.quick:
        context = {"local_max_tokens": 64, "cloud_max_tokens": 128, "structured_retries": 0}
        if args.protocol in ("minion", "minions"):
            context["max_rounds"] = 1
        if args.protocol == "minions":
            context["max_tasks_per_round"] = 1
        if args.protocol == "adaswitch":
            context["max_steps"] = 2

    with demo_models() as (local, cloud):
        graph = protocol_factory(args.protocol)(local, cloud)
        say(f"{args.protocol}: {args.question}\n")
        inputs = {"question": args.question, "documents": documents}
        final = (
            asyncio.run(run_async(graph, inputs, context))
            if args.use_async
            else run_sync(graph, inputs, context)
        )

    say(f"\nanswer: {final.get('answer')}")
    print_usage(final.get("usage", {}))


if __name__ == "__main__":
    main()
