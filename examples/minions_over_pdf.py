"""MinionS over a PDF: ingest it into a chunk store once, then ask questions; the cloud never reads it.

The PDF is loaded and chunked by ``ChunkStore.add_documents`` (ChromaDB with the offline MiniLM
embeddings), and MinionS runs on the stored ``document_ids``: each round the cloud model plans a few small
tasks, each task's jobs run on the chunks that best match its search query (retrieval), the local model
does every job, and the cloud model reads only the filtered job outputs. The output shows the answer, the
job table, the switching decisions and the cost against sending the whole PDF to the cloud.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/minions_over_pdf.py
    .venv/bin/python examples/minions_over_pdf.py --pdf my.pdf --question "..." --store ./chunks

Needs ``cloudlocal pull embeddings`` (done by scripts/setup.sh). ``--store DIR`` keeps the chunks on disk
(re-running skips the embedding); the default is an in-memory store.
"""

from __future__ import annotations

import argparse
import time

from _demo import DATA, demo_models, print_decisions, print_usage, say, short

from langgraph_cloudlocal import ChunkStore, create_minions

DEFAULT_PDF = DATA / "northwind_annual_report.pdf"
DEFAULT_QUESTION = (
    "How many patients did the Riverside clinic treat in 2025, and who is its medical director?"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pdf", default=str(DEFAULT_PDF), help="the PDF (or text/markdown file) to ask about"
    )
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument(
        "--store", default=None, help="folder for a persistent chunk store (default: in memory)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="max MinionS rounds")
    parser.add_argument(
        "--quick", action="store_true", help="tiny limits for a smoke run (used by the tests)"
    )
    args = parser.parse_args()

    store = ChunkStore.persistent(args.store) if args.store else ChunkStore.in_memory()
    started = time.perf_counter()
    document_ids = store.add_documents(args.pdf, chunk_size=400, overlap=50)
    say(
        f"stored {args.pdf}: {store.count(document_ids)} chunks in {store.location} "
        f"({time.perf_counter() - started:.1f}s)"
    )

    context = {"max_rounds": args.rounds, "retrieval": "on", "top_k": 2, "max_tasks_per_round": 3}
    if args.quick:
        context |= {"max_rounds": 1, "max_tasks_per_round": 1, "top_k": 1}
        context |= {"local_max_tokens": 64, "cloud_max_tokens": 128, "structured_retries": 0}

    with demo_models() as (local, cloud):
        graph = create_minions(local, cloud, store=store)
        say(f"question: {args.question}")
        started = time.perf_counter()
        out = graph.invoke(
            {"question": args.question, "document_ids": document_ids},
            context=context,
            config={"max_concurrency": 4},
        )
    store.close()

    say(f"\nanswer ({time.perf_counter() - started:.1f}s): {out['answer']}")
    jobs = out.get("jobs", [])
    say(f"\njobs ({len(jobs)}, run by the local model on single chunks):")
    for job in jobs:
        status = "failed" if job.get("failed") else short(job.get("answer"), 60) or "-"
        say(f"  round {job.get('round')} {job.get('chunk_id')}: {short(job.get('task'), 50)} -> {status}")
    say("\ndecisions:")
    print_decisions(out["decisions"])
    say("\nusage:")
    print_usage(out["usage"])


if __name__ == "__main__":
    main()
