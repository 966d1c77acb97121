"""Which embedded model servers are running on this machine, and where the embedded runtime keeps files.

A small file (``<cache>/servers.json``) maps a model name to the URL and process id of the server that
``cloudlocal serve`` (or :func:`~langgraph_cloudlocal.embedded.start_server`) started for it. The model
resolver reads it for ``embedded:NAME`` specs, and ``cloudlocal run`` / ``cloudlocal eval`` reuse a server
found there instead of starting another.

This module sits below both :mod:`langgraph_cloudlocal.models` (which reads the registry) and
:mod:`langgraph_cloudlocal.embedded` (which starts servers and writes it), so neither imports the other
in a circle.

Example:
    >>> from langgraph_cloudlocal.running_servers import running_server_url
    >>> running_server_url("smollm2")  # doctest: +SKIP
    'http://127.0.0.1:41234/v1'
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.errors import CloudLocalError


class EmbeddedModelError(CloudLocalError, RuntimeError):
    """A model that is missing, corrupt, or a server that cannot start or is not running."""


def cache_dir() -> Path:
    """Where pulled weights, server logs and the server registry live.

    Returns:
        ``$CLOUDLOCAL_CACHE_DIR`` when set, else ``~/.cache/langgraph-cloudlocal``.
    """
    root = os.environ.get("CLOUDLOCAL_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "langgraph-cloudlocal"


def _registry_path() -> Path:
    return cache_dir() / "servers.json"


def _read_registry() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_registry_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_registry(data: dict[str, dict[str, Any]]) -> None:
    path = _registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 is sent, nothing is delivered).

    Args:
        pid: A process id.

    Returns:
        True if the process exists.
    """
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def health_ok(port: int) -> bool:
    """Whether a llama.cpp server on ``127.0.0.1:port`` answers its ``/health`` check.

    Args:
        port: The server's loopback port.

    Returns:
        True if ``/health`` answered 200 within a second.
    """
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def register_server(model: str, url: str, pid: int, port: int, aliases: Sequence[str] = ()) -> None:
    """Record a running server for ``model`` (replacing an older entry for it).

    Args:
        model: The embedded model's canonical name.
        url: Its OpenAI-compatible base URL.
        pid: The server process id (a dead process makes the entry stale).
        port: Its loopback port (for the health check).
        aliases: Other names ``embedded:NAME`` specs may use for the model.
    """
    data = _read_registry()
    data[model] = {"url": url, "pid": pid, "port": port, "aliases": list(aliases)}
    _write_registry(data)


def unregister_server(model: str, pid: int) -> None:
    """Drop ``model``'s entry if it still belongs to process ``pid``.

    Args:
        model: The model's canonical name.
        pid: The process the entry must belong to.
    """
    data = _read_registry()
    if data.get(model, {}).get("pid") == pid:
        del data[model]
        _write_registry(data)


def running_server_url(model: str) -> str:
    """The base URL of a running embedded server for ``model`` (started by this or another process).

    Args:
        model: An embedded model name or one of its aliases.

    Returns:
        The server's OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``).

    Raises:
        EmbeddedModelError: No live server for it is registered; the message says how to start one.
    """
    registry = _read_registry()
    name, entry = model, registry.get(model)
    if entry is None:
        name, entry = next(
            ((n, e) for n, e in registry.items() if model in (e.get("aliases") or [])), (model, None)
        )
    if entry and pid_alive(int(entry.get("pid", -1))) and health_ok(int(entry.get("port", 0))):
        return str(entry["url"])
    raise EmbeddedModelError(
        f"no embedded server for {name!r} is running. Start one with `cloudlocal serve {name}` "
        f"(after `cloudlocal pull {name}`), or use embedded_server({name!r}) in Python"
    )


__all__ = [
    "EmbeddedModelError",
    "cache_dir",
    "health_ok",
    "pid_alive",
    "register_server",
    "running_server_url",
    "unregister_server",
]
