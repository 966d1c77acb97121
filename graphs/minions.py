"""MinionS, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model plans small single-chunk tasks, the local model runs them in parallel over the chunks,
and the cloud model reads only the filtered job outputs, then answers or starts another round.
Context (Studio): ``max_rounds``, ``max_tasks_per_round``, ``max_jobs_per_round``, retrieval and chunking,
the cloud budgets, token limits and per-run model specs. Set ``max_concurrency`` in the run config.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
Chunk store (optional): ``CLOUDLOCAL_CHUNK_STORE``, a folder (embedded ChromaDB) or ``http://HOST:PORT``
(a ``chroma run`` server). With it, runs retrieve the best chunks per task and accept ``document_ids``
of documents ingested before (``ChunkStore.add_documents``); without it, documents are chunked per run.
"""

import os

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.minions import create_minions


def chunk_store_from_environment():
    location = os.environ.get("CLOUDLOCAL_CHUNK_STORE", "").strip()
    if not location:
        return None
    from langgraph_cloudlocal import ChunkStore

    if location.startswith(("http://", "https://")):
        return ChunkStore.server(location)
    return ChunkStore.persistent(location)


try:
    graph = create_minions(store=chunk_store_from_environment(), name="minions")
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/minions.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc
