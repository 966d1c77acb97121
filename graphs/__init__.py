"""The graphs that ``langgraph dev``, Studio and LangGraph Server load (see ``langgraph.json``).

Each module builds one protocol of the registry (``langgraph_cloudlocal.protocols.PROTOCOLS``) from the
environment with ``langgraph_cloudlocal.running.graph_from_environment`` and exposes it as ``graph``:

* models: ``CLOUDLOCAL_LOCAL_MODEL`` and ``CLOUDLOCAL_CLOUD_MODEL`` (specs such as ``ollama:llama3.2:3b``,
  ``openai:gpt-4o``, ``openai-compatible:NAME@URL`` or ``embedded:smollm2``; see ``.env.example``);
* per-run settings (rounds, thresholds, budgets, token limits, model overrides) are the graph's
  ``context_schema``: Studio shows them as the assistant's context, and ``langgraph_sdk`` clients pass
  ``context={...}`` to ``client.runs.stream`` / ``client.runs.wait``.

The modules import only ``langgraph_cloudlocal`` (``langgraph dev`` loads them by file path).
``python -m graphs.diagrams`` regenerates ``docs/diagrams`` from the real graphs.
"""
