"""Minion, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model, which never sees the documents, chats with the local model, which has read them.
Context (Studio): ``max_rounds``, retrieval, the cloud budgets, token limits and per-run model specs.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
Chunk store (the worker retrieves from it when documents are long): ``CLOUDLOCAL_CHUNK_STORE``, as for
``graphs/minions.py``.
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.minion import create_minion
from langgraph_cloudlocal.store import open_chunk_store

try:
    create_minion(name="minion")  # a model that cannot be used fails here first, with its own message
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/minion.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc

graph = create_minion(chunk_store=open_chunk_store(), name="minion")  # CLOUDLOCAL_CHUNK_STORE, else the cache
