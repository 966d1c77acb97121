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

from langgraph_cloudlocal.running import graph_from_environment

graph = graph_from_environment("minions")
