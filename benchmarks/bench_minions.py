"""MinionS job throughput and graph overhead (a benchmark script, not a timed test).

1. Throughput: N MinionS jobs against the embedded SmolLM2 server (``n_parallel`` slots), run by the
   MinionS graph's ``Send`` fan-out (scripted, instant cloud: one task over N one-chunk documents),
   versus the same N local calls (same prompts, same JSON schema, same output limit) made with plain
   ``asyncio.gather`` on the same server. Goal: graph jobs/s >= 0.8 x plain jobs/s. The graph runs
   with a checkpointer (SQLite on a temporary file by default, ``--checkpointer memory`` for
   LangGraph's in-memory saver), a new thread per pass, and ``max_concurrency = 2 x slots`` (so jobs go
   in waves of that size, each ending in a checkpoint); and once more as a single wave
   (``job_wave_size=N``).
2. Overhead: the graph's own cost per job with instant scripted models (goal <= 2 ms), net of the
   cost of the call layer itself, with the same checkpointer.

Every pass checks that every job succeeded on every path (the graph's job rows; the plain calls'
replies parsed with the same schema): a path whose jobs fail would finish sooner and look faster, so
such a pass is reported and the script exits with status 1. Times are reported as min / median / max
over the passes; the ratios use the medians.

Usage::

    .venv/bin/python benchmarks/bench_minions.py [--jobs 32] [--slots 4] [--repeats 3] [--overhead-jobs 500]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.calls import bind_call_options, call_structured, parse_structured
from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.prompts import minions as prompts
from langgraph_cloudlocal.protocols.minions import build_minions
from langgraph_cloudlocal.testing import ScriptedChatModel

_threads = itertools.count(1)


@contextlib.contextmanager
def checkpointer(kind: str) -> Iterator[Any]:
    """The saver the graph runs with: SQLite on a temporary file, or LangGraph's in-memory saver."""
    if kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory() as folder:
        with SqliteSaver.from_conn_string(str(Path(folder) / "bench.sqlite")) as saver:
            yield saver


def spread(times: Sequence[float]) -> str:
    return f"{min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f} s"


class JobsFailed(RuntimeError):
    """A pass in which some job did not succeed: its time is not comparable."""


TASK = "What number does this note give, if any?"
PLAN = json.dumps({"tasks": [{"task": TASK, "query": "number", "advice": ""}]})
FINAL = json.dumps({"decision": "final", "answer": "done", "feedback": "", "scratchpad": "", "reason": ""})
NAMES = ["Ottoline", "Barnaby", "Ysolde", "Caspian", "Winifred", "Leopold", "Marisol", "Thaddeus"]


def make_documents(n: int) -> list[str]:
    """N short, distinct notes (one chunk each)."""
    return [
        f"Note {i}. {NAMES[i % len(NAMES)]} counted {100 + 7 * i} lanterns in storeroom {i % 5} "
        f"on day {i % 28 + 1}; the inventory was signed off by the night clerk."
        for i in range(n)
    ]


def scripted_cloud() -> ScriptedChatModel:
    return ScriptedChatModel(
        responder=lambda messages: PLAN if "Write at most" in str(messages[-1].content) else FINAL,
        model_name="gpt-4o",
    )


def graph_settings(n: int, max_tokens: int) -> dict[str, Any]:
    return {
        "retrieval": "off",
        "max_rounds": 1,
        "max_jobs_per_round": n,
        "chunk_size": 2000,
        "chunk_overlap": 0,
        "local_max_tokens": max_tokens,
        "structured_retries": 0,  # the plain calls do not retry either
    }


# --------------------------------------------------------------------------------------------------
# 1. Throughput against the embedded server


def bench_server(n_jobs: int, slots: int, repeats: int, max_tokens: int, saver_kind: str) -> dict[str, Any]:
    from langgraph_cloudlocal.embedded import pull, start_server

    pull("smollm2")
    server = start_server("smollm2", n_parallel=slots, n_ctx=1024 * slots)
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        saver = stack.enter_context(checkpointer(saver_kind))
        model = server.chat_model(temperature=0)
        documents = make_documents(n_jobs)
        message_lists = [prompts.job_messages(doc, TASK) for doc in documents]
        runnable = bind_call_options(
            model,
            max_tokens=max_tokens,
            json_schema=prompts.JobOutput.model_json_schema(),
            schema_name="JobOutput",
        )
        graph = build_minions(model, scripted_cloud(), **graph_settings(n_jobs, max_tokens)).compile(
            checkpointer=saver
        )
        inputs = {"question": "Which numbers do the notes give?", "documents": documents}
        max_concurrency = max(slots * 2, 8)

        failures: collections.Counter[str] = collections.Counter()  # "path: why" -> jobs
        # One event loop for every plain pass: the client's async connections belong to the loop that
        # opened them (a new asyncio.run per pass failed some calls at once with "Event loop is closed",
        # which made the plain path look faster than it was).
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)

        async def plain_once() -> float:
            started = time.perf_counter()
            replies = await asyncio.gather(
                *(runnable.ainvoke(messages) for messages in message_lists), return_exceptions=True
            )
            elapsed = time.perf_counter() - started
            for reply in replies:
                if isinstance(reply, BaseException):  # e.g. a reply cut off at the token limit
                    failures[f"plain: {type(reply).__name__} ({str(reply)[:80]})"] += 1
                elif parse_structured(str(reply.content), prompts.JobOutput)[0] is None:
                    failures["plain: unreadable reply"] += 1
            return elapsed

        def graph_once(context: dict[str, Any] | None = None) -> float:
            config = {
                "max_concurrency": max_concurrency,
                "configurable": {"thread_id": f"bench-{next(_threads)}"},
            }
            started = time.perf_counter()
            out = graph.invoke(inputs, config=config, context=context)
            elapsed = time.perf_counter() - started
            path = "graph one wave" if context else "graph"
            failures[f"{path}: missing job rows"] += n_jobs - len(out["jobs"])
            for job in out["jobs"]:
                if job["failed"]:
                    failures[f"{path}: {str(job['error']).split(':')[0]}"] += 1
            return elapsed

        one_wave = {"job_wave_size": n_jobs}
        # Warm up every path (model pages, prompt cache for the shared system prefix).
        print(
            f"  warm-up: plain {loop.run_until_complete(plain_once()):.2f} s, graph {graph_once():.2f} s, "
            f"graph one wave {graph_once(one_wave):.2f} s",
            flush=True,
        )
        plain_times, graph_times, one_wave_times = [], [], []
        for index in range(repeats):  # interleaved, so server noise hits all alike
            plain_times.append(loop.run_until_complete(plain_once()))
            graph_times.append(graph_once())
            one_wave_times.append(graph_once(one_wave))
            print(
                f"  pass {index + 1}: plain {plain_times[-1]:.2f} s, graph {graph_times[-1]:.2f} s, "
                f"graph one wave {one_wave_times[-1]:.2f} s",
                flush=True,
            )
        plain = n_jobs / statistics.median(plain_times)
        fanout = n_jobs / statistics.median(graph_times)
        single = n_jobs / statistics.median(one_wave_times)
        return {
            "plain_jobs_per_s": plain,
            "graph_jobs_per_s": fanout,
            "one_wave_jobs_per_s": single,
            "ratio": fanout / plain,
            "one_wave_ratio": single / plain,
            "plain_times": plain_times,
            "graph_times": graph_times,
            "one_wave_times": one_wave_times,
            "wave_size": max_concurrency,
            "failures": {why: n for why, n in failures.items() if n},
            "jobs_run": n_jobs * (repeats + 1),  # per path, warm-up included
        }


# --------------------------------------------------------------------------------------------------
# 2. Graph overhead per job with instant models


def bench_overhead(n_jobs: int, repeats: int, saver_kind: str) -> dict[str, Any]:
    reply = json.dumps({"explanation": "it says so", "citation": "counted", "answer": "42"})
    documents = make_documents(n_jobs)

    def graph_once() -> float:
        local = ScriptedChatModel(responder=lambda messages: reply, model_name="instant")
        with checkpointer(saver_kind) as saver:
            graph = build_minions(local, scripted_cloud(), **graph_settings(n_jobs, 64)).compile(
                checkpointer=saver
            )
            config = {"configurable": {"thread_id": f"overhead-{next(_threads)}"}}
            started = time.perf_counter()
            out = graph.invoke({"question": "Which numbers?", "documents": documents}, config=config)
            elapsed = time.perf_counter() - started
        failed = sum(1 for job in out["jobs"] if job["failed"])
        if len(out["jobs"]) != n_jobs or failed:
            raise JobsFailed(f"overhead run: {len(out['jobs'])} rows for {n_jobs} jobs, {failed} failed")
        return elapsed

    def calls_once() -> float:
        local = resolve_model(ScriptedChatModel(responder=lambda messages: reply, model_name="x"), "local")
        started = time.perf_counter()
        for doc in documents:
            call_structured(local, prompts.job_messages(doc, TASK), prompts.JobOutput, max_tokens=64)
        return time.perf_counter() - started

    graph_once()
    calls_once()
    graph_times = [graph_once() for _ in range(repeats)]
    calls_times = [calls_once() for _ in range(repeats)]
    graph_s, calls_s = statistics.median(graph_times), statistics.median(calls_times)
    return {
        "graph_ms_per_job": 1000 * graph_s / n_jobs,
        "call_ms_per_job": 1000 * calls_s / n_jobs,
        "overhead_ms_per_job": 1000 * (graph_s - calls_s) / n_jobs,
        "graph_times": graph_times,
        "calls_times": calls_times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=32, help="jobs against the real server")
    parser.add_argument("--slots", type=int, default=4, help="n_parallel of the embedded server")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64, help="output limit per job")
    parser.add_argument("--overhead-jobs", type=int, default=500)
    parser.add_argument("--checkpointer", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--skip-server", action="store_true", help="only the overhead measurement")
    args = parser.parse_args(argv)

    try:
        over = bench_overhead(args.overhead_jobs, args.repeats, args.checkpointer)
    except JobsFailed as exc:
        print(f"FAILED: {exc}")
        return 1
    print(
        f"graph overhead, {args.overhead_jobs} jobs with instant scripted models, {args.checkpointer} "
        f"checkpointer (all jobs succeeded; min / median / max of {args.repeats}):"
    )
    print(f"  graph total      {over['graph_ms_per_job']:.3f} ms/job   ({spread(over['graph_times'])})")
    print(f"  call layer alone {over['call_ms_per_job']:.3f} ms/job   ({spread(over['calls_times'])})")
    print(f"  graph's own      {over['overhead_ms_per_job']:.3f} ms/job   (goal <= 2 ms)", flush=True)
    if args.skip_server:
        return 0
    res = bench_server(args.jobs, args.slots, args.repeats, args.max_tokens, args.checkpointer)
    failures = res["failures"]
    checked = "every job succeeded on every path" if not failures else "SOME JOBS FAILED, see below"
    print(
        f"throughput, {args.jobs} jobs on embedded SmolLM2-135M, n_parallel={args.slots}, "
        f"max_tokens={args.max_tokens}, {args.checkpointer} checkpointer ({checked}; "
        f"min / median / max of {args.repeats}; jobs/s and ratios from the medians):"
    )
    print(f"  plain asyncio.gather  {res['plain_jobs_per_s']:.2f} jobs/s  ({spread(res['plain_times'])})")
    print(
        f"  MinionS Send fan-out  {res['graph_jobs_per_s']:.2f} jobs/s  ({spread(res['graph_times'])})  "
        f"ratio {res['ratio']:.2f}   (waves of max_concurrency={res['wave_size']}; goal >= 0.8)"
    )
    print(
        f"  one wave of all jobs  {res['one_wave_jobs_per_s']:.2f} jobs/s  ({spread(res['one_wave_times'])})  "
        f"ratio {res['one_wave_ratio']:.2f}   (job_wave_size={args.jobs})"
    )
    if failures:
        detail = ", ".join(f"{why} x{n}" for why, n in sorted(failures.items()))
        print(
            f"FAILED: of {res['jobs_run']} jobs per path: {detail}. A path whose jobs fail does less "
            "work: its time is not comparable (replies cut at the token limit: raise --max-tokens)."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
