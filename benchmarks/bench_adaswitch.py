"""AdaSwitch on multi-step word problems (a benchmark script, not a timed test).

Two parts, each against real embedded models:

``verifiers``  How well does each verifier's score separate right from wrong steps? The local model
    solves dev problems step by step (AdaSwitch's own step prompt, nothing escalated); every step is
    scored by each verifier — self-reflection (a second local call), the step's token log-probabilities
    (``1 - exp(mean)`` and ``1 - exp(min)``) and the arithmetic check (no model call) — and labelled
    wrong or right by :func:`label_step` from the gold answer and worked solution. Reports AUROC per
    verifier (the chance that a wrong step scores above a right one; 0.5 is a coin).

``compare``  The target: on the test split, cloud-only with worked steps (the fair yardstick) against
    AdaSwitch at the threshold ``calibrate`` chose on the dev split (``--threshold`` to give one), in
    one run with the same embedded pair: accuracy, cloud tokens, cloud $, wall s/question.

Usage::

    python benchmarks/bench_adaswitch.py verifiers --local smollm2 --limit 30
    python benchmarks/bench_adaswitch.py compare --local smollm2 --dev-limit 12 --limit 15

Data: ``datasets/multistep_dev.jsonl`` and ``multistep_test.jsonl`` (``benchmarks/make_multistep_sets.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.calls import call_structured
from langgraph_cloudlocal.evaluation.datasets import EvalItem, load_dataset
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.prompts import adaswitch as prompts
from langgraph_cloudlocal.protocols.adaswitch import logprob_entries, logprob_score, step_logprobs
from langgraph_cloudlocal.protocols.step_checks import CONSTANTS, check_step, equations, numbers_in

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "datasets" / "multistep_dev.jsonl"
TEST = ROOT / "datasets" / "multistep_test.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
VERIFIER_NAMES = ("self_reflection", "logprobs_mean", "logprobs_min", "arithmetic")


# --------------------------------------------------------------------------------------------------
# Labels and AUROC


def _close(value: float, pool: set[float]) -> bool:
    return any(math.isclose(value, known, rel_tol=1e-6, abs_tol=1e-9) for known in pool)


def label_step(item: EvalItem, step: str, is_final: bool, final_answer: str) -> tuple[bool, str]:
    """(wrong, why) for one step, computed from the item's gold data, not from any verifier.

    A step is wrong when one of its equations is false, when it states a number that is on no correct
    path (not in the problem, the gold worked solution or the gold answer; common constants allowed),
    or when it is final and its answer does not match the gold answer. A correct step on another path
    than the gold solution's can be labelled wrong: the labels lean strict.
    """
    false = [e.text for e in equations(step) if not e.holds]
    if false:
        return True, f"false arithmetic: {false[0]}"
    if is_final and not item.score(final_answer or step).correct:
        return True, f"final answer {final_answer!r} is not {item.answer!r}"
    reference = set(CONSTANTS) | numbers_in(" ".join([item.question, *item.documents]))
    reference |= numbers_in(" ".join(str(s) for s in item.meta.get("solution") or []))
    reference |= numbers_in(str(item.answer))
    reference |= {100.0 * v for v in reference}
    off_path = sorted(v for v in numbers_in(f"{step} {final_answer}") if not _close(v, reference))
    if off_path:
        return True, "off the gold path: " + ", ".join(f"{v:g}" for v in off_path[:3])
    return False, "on the gold path"


def auroc(scores: Sequence[float], wrong: Sequence[bool]) -> float | None:
    """P(score of a wrong step > score of a right step), ties counted half (Mann-Whitney U)."""
    positives = [s for s, w in zip(scores, wrong, strict=True) if w]
    negatives = [s for s, w in zip(scores, wrong, strict=True) if not w]
    if not positives or not negatives:
        return None
    total = 0.0
    for p in positives:
        for n in negatives:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(positives) * len(negatives))


# --------------------------------------------------------------------------------------------------
# Part 1: verifiers


def roll_out(local: Any, item: EvalItem, max_steps: int) -> list[dict[str, Any]]:
    """The local model's steps on one problem (nothing escalated), each scored by every verifier."""
    steps: list[dict[str, Any]] = []
    documents = list(item.documents)
    for _ in range(max_steps):
        result = call_structured(
            local,
            prompts.local_step_messages(item.question, documents, steps),
            prompts.StepReply,
            max_tokens=128,
            logprobs=True,
        )
        value = result.value
        if value is None or not (value.step.strip() or value.final_answer.strip()):
            break
        text = value.step.strip() or value.final_answer.strip()
        final_answer = (value.final_answer.strip() or text) if value.is_final else ""
        record: dict[str, Any] = {
            "text": text,
            "is_final": bool(value.is_final),
            "final_answer": final_answer,
        }
        entries = logprob_entries(result.message)
        if entries:
            picked = step_logprobs(entries)
            record["logprobs_mean"] = logprob_score(picked, "mean")
            record["logprobs_min"] = logprob_score(picked, "min")
        verdict = call_structured(
            local,
            prompts.verifier_messages(
                item.question, documents, [s["text"] for s in steps], text, final_answer or None
            ),
            prompts.Verdict,
            max_tokens=64,
        )
        if verdict.value is not None:
            record["self_reflection"] = verdict.value.wrong_probability()
        check = check_step([item.question, *documents, *(s["text"] for s in steps)], text, final_answer)
        record["arithmetic"] = check.score
        record["arithmetic_reason"] = check.reason
        record["wrong"], record["label"] = label_step(item, text, record["is_final"], final_answer)
        steps.append(record)
        if record["is_final"]:
            break
    return steps


def run_verifiers(args: argparse.Namespace) -> str:
    from langgraph_cloudlocal.embedded import embedded_server, pull

    pull(args.local)
    items = load_dataset(DEV, limit=args.limit)
    labelled: list[dict[str, Any]] = []
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    steps_path = RESULTS / f"adaswitch_steps_{args.local}.jsonl"
    # One thread: on a busy machine llama.cpp's spinning threads slow each other down.
    with (
        embedded_server(args.local, n_parallel=1, n_ctx=4096, threads=args.threads) as server,
        steps_path.open("w", encoding="utf-8") as handle,
    ):
        local = resolve_model(server.spec, "local", temperature=0)
        for number, item in enumerate(items, start=1):
            for step in roll_out(local, item, args.max_steps):
                labelled.append({"id": item.id, **step})
                handle.write(json.dumps(labelled[-1], ensure_ascii=False) + "\n")
                handle.flush()
            print(f"[{number}/{len(items)}] {item.id}: {len(labelled)} steps so far", flush=True)
            if len(labelled) >= args.max_labelled:
                break
    seconds = time.perf_counter() - started
    return verifier_report(labelled, args.local, seconds, steps_path)


def report_from_file(steps_path: Path, model: str) -> str:
    """The AUROC report again from a steps file (e.g. after a run was stopped early)."""
    rows = [json.loads(line) for line in steps_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rescore_arithmetic(rows)
    return verifier_report(rows, model, math.nan, steps_path)


def rescore_arithmetic(rows: list[dict[str, Any]]) -> None:
    """Score the stored steps again with the current arithmetic check (no model needed)."""
    items = {item.id: item for item in load_dataset(DEV)}
    earlier: dict[str, list[str]] = {}
    for row in rows:
        item = items[row["id"]]
        context = earlier.setdefault(row["id"], [])
        check = check_step([item.question, *item.documents, *context], row["text"], row["final_answer"])
        row["arithmetic"], row["arithmetic_reason"] = check.score, check.reason
        context.append(row["text"])


def verifier_report(labelled: list[dict[str, Any]], model: str, seconds: float, steps_path: Path) -> str:
    wrong_count = sum(1 for r in labelled if r["wrong"])
    lines = [
        f"Verifier AUROC on labelled steps: local model {model}, {len(labelled)} steps "
        f"({wrong_count} labelled wrong) from {len({r['id'] for r in labelled})} dev problems"
        + ("" if math.isnan(seconds) else f", {seconds:.0f} s"),
        f"(steps: {steps_path.relative_to(ROOT)})",
        "",
        f"{'verifier':<16} {'AUROC':>6} {'AUROC w/o false-arithmetic steps':>33} {'steps scored':>12}",
    ]
    for name in VERIFIER_NAMES:
        rows = [r for r in labelled if name in r]
        value = auroc([r[name] for r in rows], [r["wrong"] for r in rows])
        # Without the steps labelled wrong for false arithmetic: what remains is judged on the gold path
        # only, which the arithmetic check cannot see (its own parser is not the label there).
        rest = [r for r in rows if not r["label"].startswith("false arithmetic")]
        rest_value = auroc([r[name] for r in rest], [r["wrong"] for r in rest])
        shown = "-" if value is None else f"{value:.3f}"
        rest_shown = "-" if rest_value is None else f"{rest_value:.3f}"
        lines.append(f"{name:<16} {shown:>6} {rest_shown:>33} {len(rows):>12}")
    levels = sorted({r["arithmetic"] for r in labelled})
    lines += ["", "arithmetic score levels: share labelled wrong"]
    for level in levels:
        at = [r for r in labelled if r["arithmetic"] == level]
        lines.append(f"  {level:.1f}: {sum(r['wrong'] for r in at)}/{len(at)} wrong")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Part 2: cloud-only (worked steps) vs AdaSwitch at the calibrated threshold


def _per_item(
    graph: Any, items: Sequence[EvalItem], context: dict[str, Any], label: str, concurrency: int
) -> list[dict[str, Any]]:
    def one(item: EvalItem) -> dict[str, Any]:
        begun = time.perf_counter()
        out = graph.invoke(
            item.inputs(), {"configurable": {"thread_id": f"bench-{label}-{item.id}"}}, context=context
        )
        usage = out.get("usage") or {}
        cloud = usage.get("cloud") or {}
        row = {
            "id": item.id,
            "correct": bool(item.score(str(out.get("answer") or "")).correct),
            "answer": str(out.get("answer") or "")[:80],
            "cloud_in": int(cloud.get("input_tokens") or 0),
            "cloud_out": int(cloud.get("output_tokens") or 0),
            "cloud_usd": float(usage.get("cloud_cost_usd") or 0.0),
            "escalations": sum(1 for s in out.get("steps") or [] if s.get("author") == "cloud"),
            "seconds": time.perf_counter() - begun,
        }
        print(f"  {label} {item.id}: {row}", flush=True)
        return row

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, items))


def _summary(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {
        "protocol": name,
        "items": n,
        "correct": sum(r["correct"] for r in rows),
        "cloud_in": sum(r["cloud_in"] for r in rows) / n,
        "cloud_out": sum(r["cloud_out"] for r in rows) / n,
        "cloud_tokens": sum(r["cloud_in"] + r["cloud_out"] for r in rows) / n,
        "cloud_usd": sum(r["cloud_usd"] for r in rows) / n,
        "escalations": sum(r["escalations"] for r in rows) / n,
        "seconds": sum(r["seconds"] for r in rows) / n,
    }


def run_compare(args: argparse.Namespace) -> str:
    from langgraph_cloudlocal.embedded import embedded_pair, pull
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
    from langgraph_cloudlocal.protocols.baselines import create_cloud_only
    from langgraph_cloudlocal.trajectories import calibrate

    pull(args.local)
    pull(args.cloud)
    dev = load_dataset(DEV, limit=args.dev_limit)
    test = load_dataset(TEST, limit=args.limit)
    overlap = {i.question for i in dev} & {i.question for i in test}
    if overlap:
        raise SystemExit(f"{len(overlap)} test problems are in the dev split")
    settings = {"verifier": args.verifier, "max_steps": args.max_steps}
    started = time.perf_counter()
    lines: list[str] = []
    # Two slots each (4096 tokens a slot: a worked cloud-only answer may take 1024), one CPU each.
    servers = {"n_ctx": 8192, "n_parallel": 2}
    with embedded_pair(args.local, args.cloud, local_kwargs=servers, cloud_kwargs=servers) as (
        local_server,
        cloud_server,
    ):
        local, cloud = local_server.spec, cloud_server.spec
        adaswitch = create_adaswitch(local, cloud, **settings)
        yardstick = create_cloud_only(local, cloud, reasoning="steps")
        threshold = args.threshold
        if threshold is None:
            print(f"calibrating on {len(dev)} dev problems ({args.target})", flush=True)
            result = calibrate(
                dev,
                graph=adaswitch,
                baseline=yardstick,
                thresholds="auto",
                target=args.target,
                max_auto_thresholds=args.max_thresholds,
                max_concurrency=args.concurrency,
                progress=lambda m: print("  " + m, flush=True),
            )
            lines += [
                f"Calibration on dev ({len(dev)} problems, none in the test split):",
                result.render(),
                "",
            ]
            threshold = result.chosen if result.chosen is not None else result.closest
        print(f"test split: {len(test)} problems, AdaSwitch threshold {threshold}", flush=True)
        test_started = time.perf_counter()
        base_rows = _per_item(yardstick, test, {}, "cloud-only", args.concurrency)
        ada_rows = _per_item(adaswitch, test, {"threshold": threshold}, "adaswitch", args.concurrency)
        test_seconds = time.perf_counter() - test_started
    seconds = time.perf_counter() - started
    base, ada = (
        _summary("cloud-only@reasoning=steps", base_rows),
        _summary(f"adaswitch@{threshold:g}", ada_rows),
    )
    header = (
        "| Protocol | Items | Accuracy | Cloud in tok | Cloud out tok | Cloud tok | Cloud $ | Escalations | "
        "Wall s/question |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    table = [header]
    for row in (base, ada):
        table.append(
            f"| `{row['protocol']}` | {row['items']} | {row['correct'] / row['items']:.0%} "
            f"({row['correct']}/{row['items']}) | {row['cloud_in']:.0f} | {row['cloud_out']:.0f} | "
            f"{row['cloud_tokens']:.0f} | ${row['cloud_usd']:.5f} | {row['escalations']:.1f} | {row['seconds']:.1f} |"
        )
    accuracy_share = (ada["correct"] / base["correct"]) if base["correct"] else math.inf
    token_share = ada["cloud_tokens"] / base["cloud_tokens"] if base["cloud_tokens"] else math.inf
    meets = accuracy_share >= 0.8 and token_share <= 0.5
    lines += [
        f"Test split: {len(test)} problems ({TEST.relative_to(ROOT)}), local {args.local}, cloud stand-in "
        f"{args.cloud} (priced as gpt-4o), verifier {args.verifier}, threshold {threshold:g}, "
        f"max_steps {args.max_steps}",
        "",
        *table,
        "",
        f"AdaSwitch: {accuracy_share:.0%} of cloud-only's accuracy at {token_share:.0%} of its cloud tokens "
        f"(target: >= 80% at <= 50%): {'met' if meets else 'missed'}.",
        f"Wall time {seconds / 60:.1f} min in all ({test_seconds / 60:.1f} min on the test split); "
        f"{args.concurrency} questions at a time (wall s/question is each question's own time); machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, shared with other sessions' jobs (load average "
        f"{os.getloadavg()[0]:.0f} at the end; wall times are pessimistic).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "adaswitch_items.jsonl").open("w", encoding="utf-8") as handle:
        for name, rows in (("cloud-only", base_rows), ("adaswitch", ada_rows)):
            for row in rows:
                handle.write(json.dumps({"protocol": name, **row}) + "\n")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    verifiers = sub.add_parser("verifiers", help="AUROC of each verifier on labelled dev steps")
    verifiers.add_argument("--local", default="smollm2")
    verifiers.add_argument("--limit", type=int, default=30, help="dev problems")
    verifiers.add_argument("--max-steps", type=int, default=6)
    verifiers.add_argument("--max-labelled", type=int, default=200, help="stop after this many steps")
    verifiers.add_argument("--threads", type=int, default=1, help="llama.cpp threads of the local server")
    compare = sub.add_parser("compare", help="cloud-only (worked steps) vs calibrated AdaSwitch on test")
    compare.add_argument("--local", default="smollm2")
    compare.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    compare.add_argument("--verifier", default="arithmetic")
    compare.add_argument("--threshold", type=float, default=None, help="skip calibration, use this")
    compare.add_argument("--target", default="accuracy>=0.8")
    compare.add_argument("--dev-limit", type=int, default=12)
    compare.add_argument("--limit", type=int, default=15, help="test problems")
    compare.add_argument("--max-steps", type=int, default=5)
    compare.add_argument("--max-thresholds", type=int, default=3, help="auto thresholds at most")
    compare.add_argument("--concurrency", type=int, default=2)
    compare.add_argument("--out", type=Path, default=None, help="also write the report here")
    again = sub.add_parser("report", help="the verifier report again from a stored steps file")
    again.add_argument("--local", default="smollm2")
    args = parser.parse_args()
    if args.part == "report":
        report = report_from_file(RESULTS / f"adaswitch_steps_{args.local}.jsonl", args.local)
    else:
        report = run_verifiers(args) if args.part == "verifiers" else run_compare(args)
    print(report)
    out = args.out if args.part == "compare" else RESULTS / f"adaswitch_verifiers_{args.local}.txt"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
