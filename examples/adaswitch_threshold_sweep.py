"""AdaSwitch on math word problems: sweep the threshold and watch accuracy trade against cloud cost.

The local model solves each problem step by step; after every step a self-reflection verifier scores
how likely the step is wrong, and a step scored above ``threshold`` is escalated: the cloud model writes
it instead. ``threshold=1.0`` never escalates (local only), ``0.0`` escalates every doubtful step. The
threshold is a run setting (LangGraph ``context``), so one compiled graph serves the whole sweep.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/adaswitch_threshold_sweep.py
    .venv/bin/python examples/adaswitch_threshold_sweep.py --thresholds 0 0.3 0.6 1 --problems 6

Problems: examples/data/word_problems.jsonl (GSM8K-style, answers are integers). Accuracy compares the
last number of the answer with the expected one. Small models are often wrong: the point is the shape of
the trade-off, which is clearer with the embedded Qwen2.5-Coder-1.5B (or a real cloud model) as the cloud.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from _demo import DATA, demo_models, say

from langgraph_cloudlocal import create_adaswitch

PROBLEMS = DATA / "word_problems.jsonl"


def last_number(text: str) -> float | None:
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text or "")
    if not numbers:
        return None
    try:
        return float(numbers[-1].replace(",", ""))
    except ValueError:
        return None


def run_threshold(
    graph: Any, problems: list[dict[str, Any]], threshold: float, context: dict[str, Any]
) -> dict:
    row = {"threshold": threshold, "correct": 0, "steps": 0, "escalated": 0, "cloud_calls": 0}
    row |= {"cloud_usd": 0.0, "cloud_only_usd": 0.0, "seconds": 0.0}
    started = time.perf_counter()
    for problem in problems:
        out = graph.invoke({"question": problem["question"]}, context=context | {"threshold": threshold})
        row["correct"] += last_number(out["answer"]) == float(problem["answer"])
        row["steps"] += len(out.get("steps", []))
        row["escalated"] += sum(1 for d in out["decisions"] if d["decision"] == "escalate")
        usage = out["usage"]
        row["cloud_calls"] += usage.get("cloud_calls", usage.get("cloud", {}).get("calls", 0))
        row["cloud_usd"] += usage.get("cloud_cost_usd", 0.0)
        row["cloud_only_usd"] += usage.get("cloud_only_cost_usd", 0.0)
    row["seconds"] = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--problems", type=int, default=4, help="how many problems from the file")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument(
        "--quick", action="store_true", help="tiny limits for a smoke run (used by the tests)"
    )
    args = parser.parse_args()

    problems = [json.loads(line) for line in PROBLEMS.read_text().splitlines() if line.strip()]
    context: dict[str, Any] = {"max_steps": args.max_steps}
    if args.quick:
        args.problems, args.thresholds = 1, [0.0, 1.0]
        context = {"max_steps": 2, "local_max_tokens": 64, "cloud_max_tokens": 64, "verifier_max_tokens": 32}
        context["structured_retries"] = 0
    problems = problems[: args.problems]

    with demo_models() as (local, cloud):
        graph = create_adaswitch(local, cloud)
        say(f"{len(problems)} problem(s), thresholds {args.thresholds}\n")
        header = f"{'threshold':>9} {'accuracy':>9} {'escalated':>10} {'cloud calls':>11} {'cloud $':>9} {'cloud-only $':>12} {'time':>6}"
        say(header)
        say("-" * len(header))
        for threshold in args.thresholds:
            r = run_threshold(graph, problems, threshold, context)
            say(
                f"{threshold:>9.2f} {r['correct']:>4}/{len(problems):<4} {r['escalated']:>4}/{r['steps']:<5} "
                f"{r['cloud_calls']:>11} {r['cloud_usd']:>9.5f} {r['cloud_only_usd']:>12.5f} {r['seconds']:>5.1f}s"
            )
    say("\nescalated = steps the cloud wrote / steps accepted; lower thresholds escalate more.")


if __name__ == "__main__":
    main()
