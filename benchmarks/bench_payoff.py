"""Does collaboration pay off? MinionS and Minion against cloud-only on the long-document set, one run.

    .venv/bin/python benchmarks/bench_payoff.py                       # first 8 items of filings.jsonl
    .venv/bin/python benchmarks/bench_payoff.py --limit 24 --worker qwen2.5-coder-0.5b

Runs ``cloudlocal eval`` (resumable: run it again after Ctrl-C) for each protocol in turn on the same
items, then prints each protocol against cloud-only: accuracy (and
its share of cloud-only's), cloud dollars and the reduction, wall seconds a question, and accuracy per
question kind, next to the issue's targets (MinionS >= 90% of cloud-only's accuracy at >= 5x lower cloud
dollars; Minion >= 70% at >= 10x). Cloud dollars are the cloud stand-in's tokens priced as GPT-4o
($2.50 / $10 per million input / output tokens). The machine's load average is printed before and after:
wall times on a shared 2-core machine depend on what else runs; tokens and dollars do not.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_cloudlocal.evaluation import run_evaluation  # noqa: E402
from langgraph_cloudlocal.evaluation.results import latest_rows  # noqa: E402

TARGETS = {"minions": (0.9, 5.0), "minion": (0.7, 10.0)}


def payoff_table(results: Path, protocols: list[str]) -> str:
    rows = [r for r in latest_rows(results).values() if r.get("status") == "ok"]
    by_protocol: dict[str, list[dict]] = {p: [r for r in rows if r["protocol"] == p] for p in protocols}
    items = set.intersection(*({r["item_id"] for r in rs} for rs in by_protocol.values() if rs))
    kinds = sorted({(r.get("meta") or {}).get("category", "?") for r in rows})
    base = [r for r in by_protocol.get("cloud-only", []) if r["item_id"] in items]
    base_acc = sum(r["correct"] for r in base) / max(1, len(base))
    base_usd = sum((r["usage"] or {}).get("cloud_cost_usd", 0.0) for r in base)
    lines = [
        f"{len(items)} items, each run by every protocol below.",
        "",
        "| protocol | accuracy | of cloud-only | cloud $ / question | cheaper than cloud-only | cloud tokens in / out "
        "a question | wall s / question | " + " | ".join(kinds) + " | target |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(kinds) + "---|",
    ]
    for protocol in protocols:
        done = [r for r in by_protocol.get(protocol, []) if r["item_id"] in items]
        if not done:
            continue
        n = len(done)
        acc = sum(r["correct"] for r in done) / n
        usd = sum((r["usage"] or {}).get("cloud_cost_usd", 0.0) for r in done)
        tin = sum(((r["usage"] or {}).get("cloud") or {}).get("input_tokens", 0) for r in done) / n
        tout = sum(((r["usage"] or {}).get("cloud") or {}).get("output_tokens", 0) for r in done) / n
        wall = sum(r.get("wall_seconds", 0.0) for r in done) / n
        share = acc / base_acc if base_acc else float("nan")
        cheaper = base_usd / usd if usd else float("inf")
        per_kind = []
        for kind in kinds:
            of_kind = [r for r in done if (r.get("meta") or {}).get("category") == kind]
            per_kind.append(f"{sum(r['correct'] for r in of_kind)}/{len(of_kind)}")
        target = ""
        if protocol in TARGETS:
            want_acc, want_cheaper = TARGETS[protocol]
            met = share >= want_acc and cheaper >= want_cheaper
            target = f"{'met' if met else 'missed'} (>= {want_acc:.0%} at >= {want_cheaper:.0f}x)"
        lines.append(
            f"| {protocol} | {acc:.0%} | {share:.0%} | ${usd / n:.4f} | {cheaper:.1f}x | {tin:,.0f} / {tout:,.0f} "
            f"| {wall:.0f} | " + " | ".join(per_kind) + f" | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocols", default="cloud-only,minions,minion")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--worker", default=None, help="embedded local model (default: eval's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "payoff")
    parser.add_argument(
        "--store", default="memory", help="chunk store (default: in memory, for a cold start)"
    )
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}", flush=True)
    extra = {"embedded_local": args.worker} if args.worker else {}
    protocols = [p.strip() for p in args.protocols.split(",")]
    # One protocol over all items, then the next (same items, same output folder): cloud-only's questions
    # on one document then follow each other, so the server's prompt cache holds the document (as it
    # would for a user asking several questions); interleaving protocols would evict it every item.
    for protocol in protocols:
        summary = run_evaluation(
            protocol,
            ROOT / "datasets" / "filings.jsonl",
            args.out,
            limit=args.limit,
            progress=False,
            store=args.store,
            command="python benchmarks/bench_payoff.py " + shlex.join(sys.argv[1:] if argv is None else argv),
            **extra,
        )
        print(
            f"{protocol}: {summary.ran} ran, {summary.errors} errors, {summary.wall_seconds:.0f} s",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()}", flush=True)
    print(f"models: {json.dumps(summary.models)}", flush=True)
    print(payoff_table(summary.results_path, protocols), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
