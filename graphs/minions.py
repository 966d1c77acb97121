"""MinionS, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model plans small single-chunk tasks, the local model runs them in parallel over the chunks,
and the cloud model reads only the filtered job outputs, then answers or starts another round.
Context (Studio): ``max_rounds``, ``max_tasks_per_round``, ``max_jobs_per_round``, retrieval and chunking,
the cloud budgets, token limits and per-run model specs. Set ``max_concurrency`` in the run config.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
Chunk store: ``CLOUDLOCAL_CHUNK_STORE``, a folder (embedded ChromaDB), ``http://HOST:PORT`` (a ``chroma run``
server), ``memory`` or ``none``; by default a persistent store in the user cache, the same rule as
``cloudlocal run`` and ``cloudlocal eval`` (``langgraph_cloudlocal.store.open_chunk_store``). With it, runs
retrieve the chunks each task needs and accept ``document_ids`` of documents ingested before
(``ChunkStore.add_documents``); with ``none``, documents are chunked per run.
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.minions import create_minions


def chunk_store_from_environment():
    from langgraph_cloudlocal.store import open_chunk_store

    return open_chunk_store()  # CLOUDLOCAL_CHUNK_STORE, else the user cache


try:
    create_minions(name="minions")  # a model that cannot be used fails here first, with its own message
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/minions.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc

graph = create_minions(chunk_store=chunk_store_from_environment(), name="minions")
