"""The local-only yardstick, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The local model alone answers from the whole documents (free, private, weak).
Only ``CLOUDLOCAL_LOCAL_MODEL`` is required; the cloud model, if set, only prices the cloud-only estimate.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.running import graph_from_environment

graph = graph_from_environment("local-only")
