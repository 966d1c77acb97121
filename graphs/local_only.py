"""The local-only yardstick, built from the environment for ``langgraph dev`` (see ``langgraph.json``).

The local model alone answers from the whole documents (free, private, weak).
Only ``CLOUDLOCAL_LOCAL_MODEL`` is required; the cloud model, if set, only prices the cloud-only estimate.
Models: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` (see ``.env.example``).
"""

from langgraph_cloudlocal.embedded import EmbeddedModelError
from langgraph_cloudlocal.models import ModelSpecError
from langgraph_cloudlocal.protocols.baselines import create_local_only

try:
    graph = create_local_only()
except (ModelSpecError, EmbeddedModelError) as exc:
    raise type(exc)(
        "graphs/local_only.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
        f"or in the shell before `langgraph dev`. {exc}"
    ) from exc
