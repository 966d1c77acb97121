"""How two embedded llama.cpp servers share the machine's cores: a local worker (SmolLM2-135M) and a
cloud stand-in (Qwen2.5-Coder-1.5B), started the way :func:`embedded_pair` starts them.

For each CPU setting it measures, from the servers' own ``timings`` (prompt and predicted tokens and
milliseconds, as llama.cpp reports them):

(a) each server alone, the other idle: prefill and decode tokens per second;
(b) both busy at once: the cloud server answers one request while the local server answers requests
    back to back until it is done (the local request still running when the cloud one ends is dropped,
    so every figure in (b) was made under contention).

The servers of every setting are started first (idle ones sleep); then each repeat runs every setting in
turn (alone-local, alone-cloud, both), so a change in the load of a shared machine hits all settings
alike and shows as spread over the repeats. Every request starts with a fresh nonce, so no prompt cache helps.

    .venv/bin/python benchmarks/bench_cores.py                       # all settings, 3 repeats
    .venv/bin/python benchmarks/bench_cores.py --settings pinned default --repeats 2

Goals (issue 17): alone >= 1.8x the pinned speed; both busy >= 90% of the pinned combined throughput,
where combined throughput is the mean over the two servers of (tokens per second under contention with
this setting) / (the same with pinning), so a fast model cannot hide a starved one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_cloudlocal import embedded  # noqa: E402

LOCAL, CLOUD = "smollm2", "qwen2.5-coder-1.5b"

# Each setting: keyword arguments of start_server for (local, cloud), given the machine's CPUs.


def settings(cpus: list[int]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    half = max(1, len(cpus) // 2)
    left, right = cpus[:half], cpus[half:] or cpus[:half]
    n = len(cpus)
    return {
        # what embedded_pair did before issue 17: disjoint CPUs (one each here), spin-waiting threads
        "pinned": (
            {"threads": len(left), "threads_batch": len(left), "cpus": left, "spin_wait": True},
            {"threads": len(right), "threads_batch": len(right), "cpus": right, "spin_wait": True},
        ),
        # every thread on every core, OpenMP's default spin-then-sleep: two busy servers thrash
        "shared-spin": (
            {"threads": n, "threads_batch": n, "spin_wait": True},
            {"threads": n, "threads_batch": n, "spin_wait": True},
        ),
        # every thread on every core, idle threads sleep (OMP_WAIT_POLICY=PASSIVE)
        "shared-passive": ({"threads": n, "threads_batch": n}, {"threads": n, "threads_batch": n}),
        # what start_server does by default now: prompts on every core, one decoding thread, sleeping
        "default": ({}, {}),
    }


FILLER = (
    "The harbour committee met on a wet Tuesday to review the maintenance schedule of the northern "
    "bridge, the budget of the new library and the timetable of the night buses. "
)


def prompt(tokens_goal: int) -> str:
    # about 30 tokens per filler sentence; a fresh nonce first, so the prompt cache never helps
    body = FILLER * max(1, tokens_goal // 30)
    return f"Request {uuid.uuid4().hex}.\n{body}\nSummarise the text above in a long paragraph."


def ask(server: embedded.EmbeddedServer, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": prompt(prompt_tokens)}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # llama.cpp: always generate max_tokens, so every run does the same work
        "cache_prompt": False,
    }
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        reply = json.loads(response.read())
    timings = reply["timings"]
    return {
        "prompt_n": timings["prompt_n"],
        "prompt_ms": timings["prompt_ms"],
        "predicted_n": timings["predicted_n"],
        "predicted_ms": timings["predicted_ms"],
        "wall_s": time.perf_counter() - started,
    }


def rates(results: list[dict[str, Any]]) -> dict[str, float]:
    """Prefill, decode and overall tokens per second over a list of requests (token-weighted)."""
    prompt_n = sum(r["prompt_n"] for r in results)
    prompt_ms = sum(r["prompt_ms"] for r in results)
    predicted_n = sum(r["predicted_n"] for r in results)
    predicted_ms = sum(r["predicted_ms"] for r in results)
    return {
        "prefill": prompt_n / prompt_ms * 1000,
        "decode": predicted_n / predicted_ms * 1000,
        "overall": (prompt_n + predicted_n) / (prompt_ms + predicted_ms) * 1000,
        "requests": len(results),
    }


def both_busy(
    local: embedded.EmbeddedServer, cloud: embedded.EmbeddedServer, work: dict[str, tuple[int, int]]
) -> tuple[dict[str, float], dict[str, float]]:
    cloud_done = threading.Event()
    local_results: list[dict[str, Any]] = []

    def local_loop() -> None:
        while not cloud_done.is_set():
            result = ask(local, *work["local"])
            if not cloud_done.is_set():  # finished while the cloud was still busy
                local_results.append(result)

    thread = threading.Thread(target=local_loop)
    thread.start()
    time.sleep(0.2)  # let the local server start first, so the cloud request is overlapped from its start
    try:
        cloud_result = ask(cloud, *work["cloud"])
    finally:
        cloud_done.set()
        thread.join()
    if not local_results:
        raise RuntimeError("no local request completed while the cloud one ran; give the cloud more work")
    return rates(local_results), rates([cloud_result])


def start_pair(
    kwargs: tuple[dict[str, Any], dict[str, Any]],
) -> tuple[embedded.EmbeddedServer, embedded.EmbeddedServer]:
    local_kwargs, cloud_kwargs = kwargs
    common = {"n_ctx": 4096, "n_parallel": 1, "register": False}
    local = embedded.start_server(LOCAL, **{**common, **local_kwargs})
    try:
        cloud = embedded.start_server(CLOUD, **{**common, **cloud_kwargs})
    except BaseException:
        local.stop()
        raise
    ask(local, 32, 4)  # warm up (first-use allocations)
    ask(cloud, 32, 4)
    return local, cloud


def measure_once(
    local: embedded.EmbeddedServer, cloud: embedded.EmbeddedServer, repeat: int, work: Any
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "repeat": repeat,
        "load_before": os.getloadavg()[0],
        "local_alone": rates([ask(local, *work["local"])]),
        "cloud_alone": rates([ask(cloud, *work["cloud"])]),
    }
    run["local_both"], run["cloud_both"] = both_busy(local, cloud, work)
    return run


def summary_line(run: dict[str, Any]) -> str:
    def fmt(r: dict[str, float]) -> str:
        return f"{r['prefill']:.0f}/{r['decode']:.1f}"

    return (
        f"alone local {fmt(run['local_alone'])} cloud {fmt(run['cloud_alone'])} | "
        f"both local {fmt(run['local_both'])} cloud {fmt(run['cloud_both'])} "
        f"(prefill/decode tok/s; load {run['load_before']:.2f})"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def report(results: list[dict[str, Any]]) -> str:
    lines = []
    base = next((r for r in results if r["setting"] == "pinned"), None)

    def med(result: dict[str, Any], phase: str, key: str) -> float:
        return median([run[phase][key] for run in result["runs"]])

    lines.append(
        "setting | local alone prefill/decode | cloud alone prefill/decode | "
        "local both-busy | cloud both-busy | alone vs pinned (local, cloud; overall tok/s) | "
        "both-busy vs pinned (local, cloud -> combined)"
    )
    for result in results:
        cells = [result["setting"]]
        for phase in ("local_alone", "cloud_alone", "local_both", "cloud_both"):
            prefill = [run[phase]["prefill"] for run in result["runs"]]
            decode = [run[phase]["decode"] for run in result["runs"]]
            cells.append(f"{spread(prefill)} / {spread(decode)}")
        if base is not None:
            alone = [
                med(result, p, "overall") / med(base, p, "overall") for p in ("local_alone", "cloud_alone")
            ]
            both = [med(result, p, "overall") / med(base, p, "overall") for p in ("local_both", "cloud_both")]
            cells.append(f"{alone[0]:.2f}x, {alone[1]:.2f}x")
            cells.append(f"{both[0]:.2f}x, {both[1]:.2f}x -> {sum(both) / 2:.2f}x")
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", nargs="+", default=None, help="which settings (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--local-work", type=int, nargs=2, default=(400, 128), metavar=("PROMPT", "GEN"))
    parser.add_argument("--cloud-work", type=int, nargs=2, default=(300, 48), metavar=("PROMPT", "GEN"))
    parser.add_argument("--out", type=Path, default=None, help="also write the raw runs as JSON here")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    table = settings(cpus)
    chosen = args.settings or list(table)
    unknown = [s for s in chosen if s not in table]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; known: {', '.join(table)}")
    for model in (LOCAL, CLOUD):
        embedded.verify_model(model)
    work = {"local": tuple(args.local_work), "cloud": tuple(args.cloud_work)}
    print(
        f"bench_cores: {len(cpus)} CPUs {cpus}, local {LOCAL} work {work['local']} (prompt, generated tokens), "
        f"cloud {CLOUD} work {work['cloud']}; load average at start {os.getloadavg()}. "
        "This machine may be shared with other processes: see the spread over repeats.",
        flush=True,
    )
    # Every setting's pair runs from the start (idle servers sleep), so the settings take turns
    # within each repeat and a change in the machine's load hits them all alike.
    pairs: dict[str, tuple[embedded.EmbeddedServer, embedded.EmbeddedServer]] = {}
    collected: dict[str, dict[str, Any]] = {}
    try:
        for name in chosen:
            pairs[name] = start_pair(table[name])
            local, cloud = pairs[name]
            collected[name] = {
                "setting": name,
                "local": {**table[name][0], "threads": local.threads, "threads_batch": local.threads_batch},
                "cloud": {**table[name][1], "threads": cloud.threads, "threads_batch": cloud.threads_batch},
                "runs": [],
            }
        for repeat in range(args.repeats):
            for name in chosen:
                run = measure_once(*pairs[name], repeat, work)
                collected[name]["runs"].append(run)
                print(f"  {name} #{repeat}: {summary_line(run)}", flush=True)
    finally:
        for local, cloud in pairs.values():
            cloud.stop()
            local.stop()
    results = list(collected.values())
    print()
    print(report(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"cpus": cpus, "work": work, "results": results}, indent=1))


if __name__ == "__main__":
    main()
