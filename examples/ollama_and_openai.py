"""For real: a local model on Ollama and a cloud model on OpenAI, with a budget. Not run in CI (needs a key).

Prerequisites:

    ollama serve & ollama pull llama3.2:3b          # the local model (https://ollama.com)
    export OPENAI_API_KEY=sk-...                     # the cloud model
    .venv/bin/python examples/ollama_and_openai.py
    .venv/bin/python examples/ollama_and_openai.py --protocol minion --local ollama:qwen2.5:7b --cloud openai:gpt-4o

What it shows: model specs (``ollama:NAME``, ``openai:NAME``; ``OLLAMA_HOST`` and ``OPENAI_BASE_URL`` are
honoured), a per-run cloud budget (``max_cloud_usd``: past it, the protocol degrades by its own rule and
records a ``budget_stop`` decision), and the usage report with the real OpenAI price of the run against
sending the whole document to the cloud model. With ``LANGSMITH_TRACING=true`` and a LangSmith key, every
decision also appears as a run tagged ``cloudlocal:<decision>``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request

from _demo import DATA, fail, print_decisions, print_usage, say

from langgraph_cloudlocal import load_document, protocol_factory
from langgraph_cloudlocal.models import DEFAULT_OLLAMA_HOST


def check_ollama(model: str) -> None:
    """Fail with one clear line if Ollama is not running or does not have the model."""
    host = os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    try:
        with urllib.request.urlopen(f"{host}/api/tags", timeout=5) as response:
            names = {m.get("name") for m in json.load(response).get("models", [])}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(f"no Ollama server at {host} ({exc}). Start it with `ollama serve` (or set OLLAMA_HOST)")
    if model not in names and f"{model}:latest" not in names:
        fail(f"Ollama at {host} does not have {model!r}; run `ollama pull {model}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="minions", help="minion | minions | adaswitch")
    parser.add_argument("--local", default="ollama:llama3.2:3b", help="local model spec")
    parser.add_argument("--cloud", default="openai:gpt-4o-mini", help="cloud model spec")
    parser.add_argument("--document", default=str(DATA / "northwind_annual_report.pdf"))
    parser.add_argument("--question", default="Which clinic treated the fewest patients, and who leads it?")
    parser.add_argument("--max-cloud-usd", type=float, default=0.05, help="cloud budget for this run")
    args = parser.parse_args()

    if args.cloud.startswith("openai:") and not os.environ.get("OPENAI_API_KEY"):
        fail(
            "OPENAI_API_KEY is not set. This example calls OpenAI for real: export OPENAI_API_KEY=sk-... "
            "(or run the key-less examples, which use the embedded models)"
        )
    if args.local.startswith("ollama:"):
        check_ollama(args.local.split(":", 1)[1])

    graph = protocol_factory(args.protocol)(args.local, args.cloud)
    document = load_document(args.document).text
    say(f"{args.protocol}: local {args.local}, cloud {args.cloud}; budget ${args.max_cloud_usd}")
    say(f"question: {args.question}")
    out = graph.invoke(
        {"question": args.question, "documents": [document]},
        context={"max_cloud_usd": args.max_cloud_usd},
        config={"max_concurrency": 4},
    )
    say(f"\nanswer: {out['answer']}\n\ndecisions:")
    print_decisions(out["decisions"])
    say("\nusage:")
    print_usage(out["usage"])


if __name__ == "__main__":
    main()
