"""AdaSwitch, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The local model solves the task step by step; a verifier scores each step (by default ``arithmetic``: its
equations recomputed and its numbers traced, no model call), and a step scored above ``threshold`` is escalated: the cloud model writes it, then the local model carries on.
Context (Studio): ``threshold``, ``max_steps``, ``verifier``, the cloud budgets, token limits and per-run
model specs.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch

try:
    graph = create_adaswitch(name="adaswitch")
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/adaswitch.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc
