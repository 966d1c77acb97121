"""Which embedded model makes the best MinionS worker? Extraction jobs from the long-document set, scored.

For the first ``--items`` items of ``datasets/filings.jsonl``, every gold fact (``meta.facts``: entity,
fact, value) becomes a MinionS task, run exactly as MinionS runs it: on every chunk (``chunking="auto"``:
one Markdown section a chunk) that names the entity, with MinionS's own job prompt and schema. Per worker:

* ``job acc``: jobs on the entity's own section whose answer holds the gold value;
* ``task acc``: tasks whose best-attributed majority value (what the supervisor is shown first) is the
  gold value: the figure that decides whether the cloud can answer;
* ``s/job`` and the whole model's wall time (the server started alone, all cores).

    .venv/bin/python benchmarks/bench_workers.py smollm2 gemma-3-270m qwen2.5-coder-0.5b qwen2.5-coder-1.5b

Each model runs alone on the machine, one after the other, in one run; values are scored with the evaluation's
own metrics (numeric for numbers, whole-word containment for names).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_cloudlocal import embedded  # noqa: E402
from langgraph_cloudlocal.calls import call_structured  # noqa: E402
from langgraph_cloudlocal.evaluation.datasets import load_dataset  # noqa: E402
from langgraph_cloudlocal.evaluation.metrics import score  # noqa: E402
from langgraph_cloudlocal.models import resolve_model  # noqa: E402
from langgraph_cloudlocal.prompts import minions as prompts  # noqa: E402
from langgraph_cloudlocal.protocols.minions import MinionsSettings, best_attributed, chunk_texts  # noqa: E402


def holds(answer: Any, gold: Any) -> bool:
    """The evaluation's own metric: numbers read with tolerance and separators, names as whole words."""
    if answer is None:
        return False
    return score(str(answer), gold, metric="numeric" if isinstance(gold, int) else "contains").correct


def tasks_of(items: list[Any]) -> list[dict[str, Any]]:
    settings = MinionsSettings()
    tasks = []
    for item in items:
        chunks = chunk_texts(list(item.documents), settings)
        for fact in item.meta["facts"]:
            entity = fact["entity"]
            named = [c for c in chunks if prompts.normalized(entity) in prompts.normalized(c["text"])]
            tasks.append({"item": item.id, **fact, "chunks": named})
    return tasks


def run_worker(name: str, tasks: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    embedded.pull(name)
    started = time.perf_counter()
    with embedded.embedded_server(name, n_ctx=8192, n_parallel=1) as server:
        model = resolve_model(server.spec, "local", temperature=0, timeout=600).model
        resolved = resolve_model(model, "local")
        job_seconds: list[float] = []
        own_right = own_total = task_right = failed = 0
        for task in tasks:
            rows = []
            for index, chunk in enumerate(task["chunks"]):
                messages = prompts.job_messages(chunk["text"], task["fact"], entity=task["entity"])
                t0 = time.perf_counter()
                result = call_structured(
                    resolved, messages, prompts.JobOutput, retries=1, max_tokens=max_tokens
                )
                job_seconds.append(time.perf_counter() - t0)
                value = result.value
                answer = None if value is None or prompts.is_null_answer(value.answer) else str(value.answer)
                failed += value is None
                citation = None if value is None else value.citation
                own = (chunk.get("section") or "").split(" > ")[-1] == task["entity"]
                if own:
                    own_total += 1
                    own_right += holds(answer, task["value"])
                if answer is not None:
                    rows.append(
                        {
                            "task_index": 0,
                            "answer": answer,
                            "attribution": prompts.attribute_finding(
                                task["entity"], citation, chunk.get("section")
                            ),
                            "chunk": index,
                        }
                    )
            kept, _ = best_attributed(rows)
            counts: dict[str, int] = {}
            for row in kept:
                key = prompts.normalized(row["answer"])
                counts[key] = counts.get(key, 0) + 1
            top = max(counts, key=lambda k: counts[k]) if counts else None
            task_right += holds(top, task["value"])
    wall = time.perf_counter() - started
    return {
        "model": name,
        "tasks": len(tasks),
        "jobs": len(job_seconds),
        "job_acc": own_right / max(1, own_total),
        "task_acc": task_right / max(1, len(tasks)),
        "task_right": task_right,
        "s_per_job": statistics.mean(job_seconds) if job_seconds else 0.0,
        "unreadable": failed,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+")
    parser.add_argument("--dataset", default=str(ROOT / "datasets" / "filings.jsonl"))
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()
    items = load_dataset(args.dataset)[: args.items]
    tasks = tasks_of(items)
    print(
        f"{len(items)} items, {len(tasks)} tasks, {sum(len(t['chunks']) for t in tasks)} jobs per worker "
        f"(machine: 2 cores; other work may share it)",
        flush=True,
    )
    print(
        f"{'worker':<22}{'task acc':>10}{'job acc':>9}{'s/job':>8}{'unreadable':>12}{'wall s':>9}", flush=True
    )
    for name in args.models:
        r = run_worker(name, tasks, args.max_tokens)
        print(
            f"{r['model']:<22}{r['task_right']:>4}/{r['tasks']:<3} {r['task_acc']:>4.0%}{r['job_acc']:>8.0%}"
            f"{r['s_per_job']:>8.1f}{r['unreadable']:>12}{r['wall_s']:>9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
