"""Minion, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model, which never sees the documents, chats with the local model, which has read them.
Context (Studio): ``max_rounds``, the cloud budgets, token limits and per-run model specs.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.minion import create_minion

try:
    graph = create_minion(name="minion")
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/minion.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc
