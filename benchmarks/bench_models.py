"""Prefill and decode speed of the embedded models (a benchmark script, not a timed test).

For each model: start its llama.cpp server on 127.0.0.1 (all CPUs, one slot), warm it up, then send
``--repeats`` chat requests with a prompt of about ``--prompt-tokens`` tokens and a fixed output length
(``--output-tokens``, sampling on, end-of-text ignored so every request decodes the same count). The
speeds are the server's own timings (``timings.prompt_per_second`` / ``predicted_per_second`` in the
response), and the medians are printed with the wall time of one request and the load average, which
other processes on the machine inflate.

Usage::

    .venv/bin/python benchmarks/bench_models.py                          # smollm2
    .venv/bin/python benchmarks/bench_models.py smollm2 qwen2.5-coder-1.5b --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import httpx

from langgraph_cloudlocal.embedded import embedded_server

FILLER = (
    "The harbour office logs every ship that docks, the cargo it carries, the crew count and the hour "
    "of arrival, and it keeps the ledgers for seven years. "
)


def one_request(base_url: str, model: str, prompt: str, output_tokens: int) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": output_tokens,
        "temperature": 0.8,
        "ignore_eos": True,
        "cache_prompt": False,
    }
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/chat/completions", json=body, timeout=600)
    response.raise_for_status()
    data = response.json()
    timings = data.get("timings") or {}
    usage = data.get("usage") or {}
    return {
        "wall_s": time.perf_counter() - started,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "prefill_tok_s": timings.get("prompt_per_second"),
        "decode_tok_s": timings.get("predicted_per_second"),
    }


def bench(model: str, prompt_tokens: int, output_tokens: int, repeats: int) -> dict[str, Any]:
    # about 30 tokens per FILLER sentence; distinct prefixes so no prompt cache is reused
    sentences = max(1, prompt_tokens // 30)
    with embedded_server(model, n_ctx=4096, n_parallel=1) as server:
        one_request(server.base_url, model, "Say hello.", 8)  # warm-up
        runs = []
        for i in range(repeats):
            prompt = f"Request {i}. " + FILLER * sentences + "\nSummarise the text above in one sentence."
            runs.append(one_request(server.base_url, model, prompt, output_tokens))
        threads = server.threads
    return {
        "model": model,
        "threads": threads,
        "prompt_tokens": runs[0]["prompt_tokens"],
        "output_tokens": runs[0]["completion_tokens"],
        "prefill_tok_s": round(statistics.median(r["prefill_tok_s"] for r in runs), 1),
        "decode_tok_s": round(statistics.median(r["decode_tok_s"] for r in runs), 1),
        "request_wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["smollm2"])
    parser.add_argument("--prompt-tokens", type=int, default=500)
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object per model")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)", file=sys.stderr)
    for model in args.models:
        row = bench(model, args.prompt_tokens, args.output_tokens, args.repeats)
        row["load_average_after"] = round(os.getloadavg()[0], 2)
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['model']:<22} prefill {row['prefill_tok_s']:>7.1f} tok/s ({row['prompt_tokens']} tokens)"
                f"   decode {row['decode_tok_s']:>6.1f} tok/s ({row['output_tokens']} tokens)"
                f"   one request {row['request_wall_s']:.2f} s   threads {row['threads']}"
                f"   load {row['load_average_after']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
