"""The cloud-only yardstick, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model alone reads the whole documents: the accuracy ceiling and the cost to beat.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.running import graph_from_environment

graph = graph_from_environment("cloud-only")
