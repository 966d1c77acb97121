"""AdaSwitch, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The local model solves the task step by step; a verifier scores each step (by default ``arithmetic``: its
equations recomputed and its numbers traced, no model call), and a step scored above ``threshold`` is escalated: the cloud model writes it, then the local model carries on.
Context (Studio): ``threshold``, ``max_steps``, ``verifier``, the cloud budgets, token limits and per-run
model specs.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.running import graph_from_environment

graph = graph_from_environment("adaswitch")
