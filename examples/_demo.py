"""Helpers shared by the example scripts (not part of the library).

``demo_models()`` gives the (local, cloud) model specs an example runs with:

* ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL`` when set (any spec: ``ollama:...``,
  ``openai:...``, ``openai-compatible:NAME@URL``, ``embedded:NAME``);
* otherwise the embedded models, started here on 127.0.0.1 and stopped at the end: SmolLM2-135M as the
  local model and Qwen2.5-Coder-1.5B standing in for the cloud (``cloudlocal pull smollm2
  qwen2.5-coder-1.5b``). Without the Qwen weights, SmolLM2 plays both roles.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def say(text: str = "") -> None:
    print(text, flush=True)


@contextlib.contextmanager
def demo_models(*, need_cloud: bool = True) -> Iterator[tuple[str, str]]:
    """Yield (local_spec, cloud_spec): from the environment, or embedded servers started for the run."""
    from langgraph_cloudlocal import embedded

    local = os.environ.get("CLOUDLOCAL_LOCAL_MODEL")
    cloud = os.environ.get("CLOUDLOCAL_CLOUD_MODEL")
    if local and (cloud or not need_cloud):
        yield local, cloud or local
        return
    with contextlib.ExitStack() as stack:
        cloud_name = embedded.DEFAULT_CLOUD_MODEL
        try:
            embedded.verify_model(cloud_name)
        except embedded.EmbeddedModelError:
            cloud_name = embedded.TEST_MODEL
        if local is None:
            embedded.pull(embedded.TEST_MODEL)  # a no-op when cached (98 MB otherwise)
        if need_cloud and cloud is None and local is None and cloud_name != embedded.TEST_MODEL:
            say(f"starting embedded models: {embedded.TEST_MODEL} (local), {cloud_name} (cloud)...")
            local_server, cloud_server = stack.enter_context(
                embedded.embedded_pair(
                    embedded.TEST_MODEL,
                    cloud_name,
                    local_kwargs={"register": False},
                    cloud_kwargs={"register": False},
                )
            )
            yield local_server.spec, cloud_server.spec
            return
        if local is None:
            say(f"starting embedded model {embedded.TEST_MODEL}...")
            server = stack.enter_context(embedded.embedded_server(embedded.TEST_MODEL, register=False))
            local = server.spec
        if cloud is None:
            if need_cloud and cloud_name == embedded.TEST_MODEL:
                say(
                    "note: Qwen2.5-Coder-1.5B is not pulled (`cloudlocal pull qwen2.5-coder-1.5b`); "
                    "SmolLM2 plays the cloud model too"
                )
            cloud = local
        yield local, cloud


def short(text: Any, width: int = 100) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def print_usage(usage: dict[str, Any]) -> None:
    """The cost lines of a protocol's ``usage`` report."""
    for role in ("local", "cloud"):
        row = usage.get(role, {})
        say(
            f"  {role:5} {row.get('model', '?'):>22}: {row.get('calls', 0):3} calls, "
            f"{row.get('input_tokens', 0):6} in / {row.get('output_tokens', 0):5} out tokens, "
            f"${row.get('cost_usd', 0):.5f}"
        )
    reduction = usage.get("cost_reduction")
    say(
        f"  cloud ${usage.get('cloud_cost_usd', 0):.5f} vs cloud-only ${usage.get('cloud_only_cost_usd', 0):.5f}"
        + _ratio(reduction)
        + f"; private chars sent to the cloud: {usage.get('private_chars_to_cloud', 0)}"
    )


def _ratio(reduction: float | None) -> str:
    if not reduction:
        return " (no cloud spend)"
    if reduction >= 1.05:
        return f" ({reduction:.1f}x cheaper)"
    if reduction > 0.95:
        return " (about the same)"
    return f" ({1 / reduction:.1f}x dearer: small models make long chats)"


def print_decisions(decisions: list[dict[str, Any]]) -> None:
    for d in decisions:
        step = "" if d.get("step") is None else f"#{d['step']} "
        score = "" if d.get("score") is None else f" score={d['score']:.2f}"
        say(f"  {step}{d['node']:>11}: {d['decision']:<14}{score} {short(d.get('reason'), 80)}")


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
