"""Minion, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model, which never sees the documents, chats with the local model, which has read them.
Context (Studio): ``max_rounds``, retrieval, the cloud budgets, token limits and per-run model specs.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
Chunk store (the worker retrieves from it when documents are long): ``CLOUDLOCAL_CHUNK_STORE``, as for
``graphs/minions.py``.
"""

from langgraph_cloudlocal.running import graph_from_environment

graph = graph_from_environment("minion")
