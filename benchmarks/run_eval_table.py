"""The measured evaluation table: protocols on both shipped synthetic sets with the embedded models
(SmolLM2-135M local, Qwen2.5-Coder-1.5B as the cloud stand-in), one run, one report.

    .venv/bin/python benchmarks/run_eval_table.py                     # 10 items a set, all protocols
    .venv/bin/python benchmarks/run_eval_table.py --limit 5 --protocols local-only,cloud-only

Resumable like any evaluation (run it again after Ctrl-C). Prints report.md at the end, with the load
average before and after: on a shared 2-core machine the wall times depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_cloudlocal.evaluation import run_evaluation  # noqa: E402

DEFAULT_PROTOCOLS = "local-only,cloud-only,minion,minions,adaswitch@0.3,adaswitch@0.7"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocols", default=DEFAULT_PROTOCOLS)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "eval-table")
    parser.add_argument("--local", default=None, help="default: embedded smollm2")
    parser.add_argument("--cloud", default=None, help="default: embedded qwen2.5-coder-1.5b")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}", flush=True)
    summary = run_evaluation(
        args.protocols,
        [ROOT / "datasets" / "records.jsonl", ROOT / "datasets" / "arithmetic.jsonl"],
        args.out,
        args.local,
        args.cloud,
        limit=args.limit,
        max_concurrency=args.concurrency,
        command="python benchmarks/run_eval_table.py " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    print(f"load average after: {os.getloadavg()}", flush=True)
    if summary.report_path:
        print(summary.report_path.read_text())
    return 130 if summary.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
