"""``python -m langgraph_cloudlocal.evaluation run|report|generate``: the evaluation without the
``cloudlocal`` CLI (which wires ``cloudlocal eval`` to the same functions)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from langgraph_cloudlocal.evaluation.datasets import DatasetError
from langgraph_cloudlocal.evaluation.runner import DEFAULT_MAX_CONCURRENCY, EvaluationError, run_evaluation
from langgraph_cloudlocal.evaluation.synthetic import DEFAULT_COUNT, DEFAULT_SEED, write_synthetic_datasets
from langgraph_cloudlocal.protocols import ProtocolError, protocol_names
from langgraph_cloudlocal.running import DEFAULT_EMBEDDED_CLOUD, DEFAULT_EMBEDDED_LOCAL


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m langgraph_cloudlocal.evaluation``.

    Returns:
        The parser, with the ``run``, ``report`` and ``generate`` commands.
    """
    parser = argparse.ArgumentParser(prog="python -m langgraph_cloudlocal.evaluation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run protocols on datasets (resumable) and write the report")
    run.add_argument(
        "--protocol",
        required=True,
        help=f"comma-separated: {', '.join(protocol_names())}; settings after '@' (adaswitch@0.3, minions@max_rounds=2)",
    )
    run.add_argument(
        "--dataset", required=True, action="append", help="JSONL file (repeat or comma-separate)"
    )
    run.add_argument("--out", required=True, type=Path, help="output folder (results.jsonl, report.md, plot)")
    run.add_argument("--local", default=None, help="local model spec (default: env, then embedded SmolLM2)")
    run.add_argument(
        "--cloud", default=None, help="cloud model spec (default: env, then embedded Qwen2.5-1.5B)"
    )
    run.add_argument("--limit", type=int, default=None, help="first N items of each dataset")
    run.add_argument(
        "--max-concurrency",
        "--concurrency",
        dest="max_concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help=f"items run at once, and each run's parallel jobs (default {DEFAULT_MAX_CONCURRENCY})",
    )
    run.add_argument("--embedded-local", default=DEFAULT_EMBEDDED_LOCAL)
    run.add_argument("--embedded-cloud", default=DEFAULT_EMBEDDED_CLOUD)
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--no-plot", action="store_true")

    report = sub.add_parser("report", help="(re)write report.md and the plot from OUT/results.jsonl")
    report.add_argument("out", type=Path)

    generate = sub.add_parser("generate", help="write the synthetic datasets (records, arithmetic)")
    generate.add_argument("--out", type=Path, default=Path("datasets"))
    generate.add_argument("--count", type=int, default=DEFAULT_COUNT)
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (130 when interrupted).

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0, 2 for bad input, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            for path in write_synthetic_datasets(args.out, count=args.count, seed=args.seed):
                print(path)
            return 0
        if args.command == "report":
            from langgraph_cloudlocal.evaluation.report import write_report

            report = write_report(args.out)
            print(report.report_path.read_text())
            return 0
        datasets = [d.strip() for part in args.dataset for d in part.split(",") if d.strip()]
        summary = run_evaluation(
            args.protocol,
            datasets,
            args.out,
            args.local,
            args.cloud,
            limit=args.limit,
            max_concurrency=args.max_concurrency,
            progress=not args.no_progress,
            embedded_local=args.embedded_local,
            embedded_cloud=args.embedded_cloud,
            plot=not args.no_plot,
            command="python -m langgraph_cloudlocal.evaluation "
            + shlex.join(sys.argv[1:] if argv is None else argv),
        )
        return 130 if summary.interrupted else 0
    except (DatasetError, ProtocolError, EvaluationError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
