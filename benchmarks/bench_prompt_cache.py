"""How much of each prompt llama.cpp's prompt cache serves, as the ledger reports it (``cached_tokens``
of the role's usage): several questions on one document, asked one after the other.

- ``document first``: the cloud-only baseline as the library builds it (``create_cloud_only``: system,
  then the document, then the question), so the second question reuses the document's tokens;
- ``question first``: the same calls with the question put before the document (what the prompts must
  not do), sent through the same chat model and counted the same way (``usage_metadata``).

A benchmark to run by hand, not a test; the model plays the cloud role here (SmolLM2 by default,
because it is fast; ``--model qwen2.5-coder-1.5b`` for the cloud stand-in):

    .venv/bin/python benchmarks/bench_prompt_cache.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ingest import generate_text  # noqa: E402

from langgraph_cloudlocal import embedded  # noqa: E402
from langgraph_cloudlocal.prompts import baselines as prompts  # noqa: E402
from langgraph_cloudlocal.protocols.baselines import create_cloud_only  # noqa: E402

QUESTIONS = (
    "Which organisation reported the highest costs?",
    "What did the harbour master do?",
    "Which reference numbers are recorded?",
    "Who questioned the budget for the new public library?",
)


def document_first(server: embedded.EmbeddedServer, document: str) -> list[dict[str, Any]]:
    graph = create_cloud_only(cloud=server.spec, local=server.spec)
    rows = []
    for question in QUESTIONS:
        started = time.perf_counter()
        out = graph.invoke({"question": question, "documents": [document]})
        cloud = out["usage"]["cloud"]
        rows.append(
            {
                "input": cloud["input_tokens"],
                "cached": cloud["cached_tokens"],
                "seconds": time.perf_counter() - started,
            }
        )
    return rows


def question_first(server: embedded.EmbeddedServer, document: str) -> list[dict[str, Any]]:
    from langchain_core.messages import HumanMessage, SystemMessage

    model = server.chat_model(temperature=0, max_tokens=64)
    rows = []
    for question in QUESTIONS:
        started = time.perf_counter()
        reply = model.invoke(
            [
                SystemMessage(prompts.SYSTEM),
                HumanMessage(f"Question: {question}\n\nDocuments:\n{document}\n\nAnswer:"),
            ]
        )
        usage = reply.usage_metadata or {}
        rows.append(
            {
                "input": usage.get("input_tokens", 0),
                "cached": (usage.get("input_token_details") or {}).get("cache_read", 0),
                "seconds": time.perf_counter() - started,
            }
        )
    return rows


def summary(name: str, rows: list[dict[str, Any]]) -> str:
    total = sum(r["input"] for r in rows)
    cached = sum(r["cached"] for r in rows)
    after_first = rows[1:]
    later = sum(r["cached"] for r in after_first) / max(1, sum(r["input"] for r in after_first))
    per_question = ", ".join(f"{r['cached']}/{r['input']} in {r['seconds']:.1f} s" for r in rows)
    return (
        f"  {name}: cached/input tokens {cached:,}/{total:,} = {cached / max(total, 1):.0%} "
        f"(questions 2-{len(rows)}: {later:.0%}); wall {sum(r['seconds'] for r in rows):.1f} s\n"
        f"    per question (cached/input, wall): {per_question}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=embedded.DEFAULT_LOCAL_MODEL)
    parser.add_argument("--chars", type=int, default=6_000, help="length of the document")
    args = parser.parse_args()
    document = generate_text(args.chars, seed=1)
    with embedded.embedded_server(args.model, role="cloud", register=False) as server:
        print(
            f"bench_prompt_cache: {args.model} (n_ctx {server.n_ctx}, {server.n_parallel} slots), "
            f"a {len(document):,}-character document, {len(QUESTIONS)} questions one after the other; "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine)"
        )
        first = document_first(server, document)
    with embedded.embedded_server(args.model, role="cloud", register=False) as server:  # a cold cache
        second = question_first(server, document)
    print(summary("document first (create_cloud_only)", first))
    print(summary("question first (counterfactual)", second))


if __name__ == "__main__":
    main()
