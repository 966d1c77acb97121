"""The cascade chat model against its yardsticks: accuracy, cloud dollars and share of calls escalated.

For each item of a labelled JSONL set (``question``, ``answer``, ``document``), the same two messages
(the document as the system message, the question with "work it out, then 'Answer: ...'") go to:

* ``local-only``: the local model, one call;
* ``cloud-only``: the cloud model, one call;
* ``cascade@T``: ``CloudLocalChatModel(policy="cascade", threshold=T)`` — the local model answers, the
  verifier scores it, above ``T`` the cloud answers — for each threshold given.

Scoring is the evaluation package's (``numeric`` for the arithmetic set). The models sample at the
server's default temperature and replies are cut at ``--max-tokens``: on a few items, a difference of one
item between rows is noise. Cloud dollars are the ledger's
(the embedded stand-in is priced as GPT-4o, as everywhere in this project). Figures are from whatever
machine runs it: with other processes on the same cores, the seconds are not comparable.

Usage::

    .venv/bin/python benchmarks/bench_cascade.py --dataset datasets/arithmetic.jsonl --limit 10 \
        --thresholds 0.3,0.7 [--verifier self_reflection] [--cloud-model qwen2.5-coder-1.5b]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from langgraph_cloudlocal import embedded
from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.chat_model import CloudLocalChatModel
from langgraph_cloudlocal.evaluation.metrics import score
from langgraph_cloudlocal.ledger import PriceTable, finalize_usage
from langgraph_cloudlocal.models import resolve_model

INSTRUCTION = (
    "Work it out step by step, one short line per step, then end with a last line 'Answer: <{kind}>'."
)


def messages_of(item: dict[str, Any]) -> list[Any]:
    kind = "number" if item.get("metric") == "numeric" else "answer"
    return [
        SystemMessage(f"Document:\n{item['document']}"),
        HumanMessage(f"{item['question']}\n{INSTRUCTION.format(kind=kind)}"),
    ]


def single_model_row(
    name: str, role: str, spec: str, items: list[dict[str, Any]], max_tokens: int
) -> dict[str, Any]:
    model = resolve_model(spec, role)  # type: ignore[arg-type]
    correct, dollars, seconds = 0, 0.0, 0.0
    for item in items:
        result = call_text(model, messages_of(item), max_tokens=max_tokens)
        report = finalize_usage(result.usage, local_model=model.model_name, cloud_model=model.model_name)
        dollars += report["cloud_cost_usd"]
        seconds += result.seconds
        correct += score(result.text, item["answer"], metric=item.get("metric", "auto")).correct
    share = 1.0 if role == "cloud" else 0.0
    return {
        "row": name,
        "accuracy": correct / len(items),
        "cloud_usd": dollars,
        "escalated": share,
        "seconds": seconds,
    }


def cascade_row(
    threshold: float, local: str, cloud: str, items: list[dict[str, Any]], max_tokens: int, verifier: str
) -> dict[str, Any]:
    chat = CloudLocalChatModel(
        local=local,
        cloud=cloud,
        threshold=threshold,
        verifier=verifier,  # type: ignore[arg-type]
        local_max_tokens=max_tokens,
        cloud_max_tokens=max_tokens,
        prices=PriceTable(),
    )
    correct, escalated, started = 0, 0, time.perf_counter()
    for item in items:
        reply = chat.invoke(messages_of(item))
        escalated += reply.response_metadata["answered_by"] == "cloud"
        correct += score(str(reply.content), item["answer"], metric=item.get("metric", "auto")).correct
    spent = chat.usage_so_far()
    return {
        "row": f"cascade@{threshold:g} ({verifier})",
        "accuracy": correct / len(items),
        "cloud_usd": spent["cloud_cost_usd"],
        "escalated": escalated / len(items),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("datasets/arithmetic.jsonl"))
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--thresholds", default="0.3,0.7")
    parser.add_argument(
        "--verifier", default="self_reflection", choices=["self_reflection", "logprobs", "arithmetic"]
    )
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--local-model", default=embedded.DEFAULT_LOCAL_MODEL)
    parser.add_argument("--cloud-model", default=embedded.DEFAULT_CLOUD_MODEL)
    parser.add_argument(
        "--local-context",
        type=int,
        default=None,
        help="one local slot of this many tokens (the long-document set needs ~12K; default: the role's)",
    )
    parser.add_argument(
        "--rows",
        default="local-only,cloud-only,cascade",
        help="which rows to run (e.g. 'cascade' to rerun only the cascade rows)",
    )
    args = parser.parse_args()
    items = [json.loads(line) for line in args.dataset.read_text().splitlines() if line.strip()][: args.limit]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print(
        f"# cascade benchmark: {len(items)} items of {args.dataset}, local {args.local_model}, cloud "
        f"{args.cloud_model} (priced as GPT-4o), verifier {args.verifier}, {os.cpu_count()} CPUs"
        " (shared with other processes: seconds are not comparable)",
        flush=True,
    )
    rows = []
    local_kwargs: dict[str, Any] = {"register": False}
    if args.local_context:
        local_kwargs |= {"n_ctx": args.local_context, "n_parallel": 1}
    with embedded.embedded_pair(
        args.local_model, args.cloud_model, local_kwargs=local_kwargs, cloud_kwargs={"register": False}
    ) as (local_server, cloud_server):
        local, cloud = local_server.spec, cloud_server.spec
        wanted = set(args.rows.split(","))
        runs = []
        if "local-only" in wanted:
            runs.append(lambda: single_model_row("local-only", "local", local, items, args.max_tokens))
        if "cloud-only" in wanted:
            runs.append(lambda: single_model_row("cloud-only", "cloud", cloud, items, args.max_tokens))
        if "cascade" in wanted:
            runs += [
                (lambda t=t: cascade_row(t, local, cloud, items, args.max_tokens, args.verifier))
                for t in thresholds
            ]
        for row in runs:
            rows.append(row())
            print(json.dumps(rows[-1]), flush=True)
    print("\n| policy | accuracy | cloud $ | escalated | seconds |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['row']} | {r['accuracy']:.0%} | {r['cloud_usd']:.5f} | {r['escalated']:.0%} | {r['seconds']:.0f} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
