"""The cloud-only yardstick, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The cloud model alone reads the whole documents: the accuracy ceiling and the cost to beat.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.baselines import create_cloud_only

try:
    graph = create_cloud_only()
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/cloud_only.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc
