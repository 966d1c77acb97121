"""Run plumbing shared by ``cloudlocal run``, ``cloudlocal eval``, ``cloudlocal serve-api``, the AdaSwitch
training loop (:mod:`langgraph_cloudlocal.trajectories`) and the ``graphs/`` modules: written once here.

* **Models** (:func:`run_models`): one fallback rule for a role given no model.
* **Settings** (:func:`parse_settings`, :func:`check_settings`): ``KEY=VALUE`` text to values, checked
  against the protocol's settings class before any model starts.
* **Durable JSONL** (:class:`JsonlWriter`, :func:`read_jsonl`): whole lines, fsynced, a torn last line cut.
* **Batches** (:func:`run_batch`): many items through one graph on LangGraph's own
  ``batch_as_completed`` with ``return_exceptions=True``; the one concurrency knob is LangGraph's
  ``max_concurrency``, which bounds the items at once and, inherited by each run, its parallel jobs.
* **Graphs from the environment** (:func:`graph_from_environment`): what ``langgraph.json`` loads.

Example:
    >>> from langgraph_cloudlocal.running import parse_settings
    >>> parse_settings(["max_rounds=2", "retrieval=false", "local_model=ollama:qwen2.5"])
    {'max_rounds': 2, 'retrieval': False, 'local_model': 'ollama:qwen2.5'}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.language_models import BaseChatModel

from langgraph_cloudlocal.models import ROLE_ENV_VARS, model_name_of
from langgraph_cloudlocal.protocols import ProtocolError, ProtocolInfo, get_protocol
from langgraph_cloudlocal.running_servers import EmbeddedModelError, running_server_url

ModelArg = str | BaseChatModel | None

# The embedded models a role falls back to (embedded.DEFAULT_LOCAL_MODEL / DEFAULT_CLOUD_MODEL; named here
# so that importing this module does not import the embedded runtime).
DEFAULT_EMBEDDED_LOCAL = "qwen2.5-coder-0.5b"
DEFAULT_EMBEDDED_CLOUD = "qwen2.5-coder-1.5b"
# A busy machine can take minutes to load a model, and a long prompt minutes to answer on 2 cores:
# wait rather than fail the run.
EMBEDDED_STARTUP_TIMEOUT_S = 600.0
EMBEDDED_REQUEST_TIMEOUT_S = 900.0


# --------------------------------------------------------------------------------------------------
# Models


class RunModels(NamedTuple):
    """The models of one run: what to pass to a protocol's factory, and their names for reports.

    Example:
        >>> models = RunModels("ollama:llama3.2:3b", "openai:gpt-4o", {"local": "ollama:llama3.2:3b"})
        >>> models.cloud
        'openai:gpt-4o'
    """

    local: ModelArg
    cloud: ModelArg
    names: dict[str, str]


def describe_model(model: ModelArg) -> str:
    """A stable name for a model argument (URLs dropped: embedded servers get a new port each run).

    Args:
        model: A spec string, a chat model, or None.

    Returns:
        ``"ollama:llama3.2:3b"``, ``"openai-compatible:qwen"``, a chat model's name, or ``"(none)"``.

    Example:
        >>> describe_model("openai-compatible:qwen@http://127.0.0.1:8080/v1")
        'openai-compatible:qwen'
    """
    if model is None:
        return "(none)"
    if isinstance(model, BaseChatModel):
        return model_name_of(model)
    spec = str(model).strip()
    kind, _, rest = spec.partition(":")
    if kind.lower() in ("openai-compatible", "openai_compatible"):
        return f"{kind}:{rest.rpartition('@')[0] or rest}"
    return spec


def _embedded_chat_model(url_or_server: Any, name: str) -> BaseChatModel:
    from langgraph_cloudlocal.models import resolve_model

    spec = f"openai-compatible:{name}@{url_or_server}"
    return resolve_model(spec, "local", temperature=0, timeout=EMBEDDED_REQUEST_TIMEOUT_S).model


@contextlib.contextmanager
def run_models(
    local: ModelArg,
    cloud: ModelArg,
    *,
    need_local: bool = True,
    need_cloud: bool = True,
    embedded_local: str = DEFAULT_EMBEDDED_LOCAL,
    embedded_cloud: str = DEFAULT_EMBEDDED_CLOUD,
    log: Callable[[str], None] | None = None,
) -> Iterator[RunModels]:
    """The models of a run, with the one fallback rule for a role given none.

    For each role, in order: the model given here; else the role's environment variable
    (``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL``); else, if the run needs the role, an
    embedded model: the server ``cloudlocal serve`` runs for it (reused), else one pulled and started
    here for the run's duration (stopped on exit). Embedded models answer at temperature 0, with a long
    request timeout. A role the run does not need is never started: a missing local model is replaced by
    the cloud one (never called), a missing cloud model stays None.

    Args:
        local: The local model (spec or chat model), or None.
        cloud: The cloud model, or None.
        need_local: Whether a protocol of the run calls the local model.
        need_cloud: Whether a protocol of the run calls the cloud model.
        embedded_local: The embedded model the local role falls back to.
        embedded_cloud: The embedded model the cloud role falls back to.
        log: Called with a line before a model server starts.

    Yields:
        ``RunModels(local, cloud, names)``; ``names`` are stable model names for reports.

    Raises:
        EmbeddedModelError: An embedded model cannot be pulled or started.

    Example:
        >>> with run_models("ollama:qwen2.5", None, need_cloud=False) as models:
        ...     models.local, models.names["cloud"]
        ('ollama:qwen2.5', '(none: local-only)')
    """
    given: dict[str, ModelArg] = {"local": local, "cloud": cloud}
    for role in ("local", "cloud"):
        if given[role] is None and os.environ.get(ROLE_ENV_VARS[role]):
            given[role] = os.environ[ROLE_ENV_VARS[role]]
    names = {role: describe_model(given[role]) for role in ("local", "cloud")}
    needed = {"local": need_local, "cloud": need_cloud}
    fallback = {"local": embedded_local, "cloud": embedded_cloud}
    with contextlib.ExitStack() as stack:
        for role in ("local", "cloud"):
            if given[role] is not None or not needed[role]:
                continue
            name = fallback[role]
            try:
                url = running_server_url(name)
            except EmbeddedModelError:
                from langgraph_cloudlocal import embedded

                embedded.pull(name)  # a no-op when the verified file is cached
                if log:
                    log(f"starting embedded {role} model {name} on loopback...")
                server = embedded.start_server(
                    name, role=role, register=False, startup_timeout=EMBEDDED_STARTUP_TIMEOUT_S
                )
                stack.callback(server.stop)
                url = server.base_url
            given[role] = _embedded_chat_model(url, name)
            names[role] = f"embedded:{name}"
        if given["local"] is None and given["cloud"] is not None:
            given["local"] = given["cloud"]  # cloud-only runs: the local role is never called
        if given["cloud"] is None and not need_cloud:
            names["cloud"] = "(none: local-only)"
        yield RunModels(given["local"], given["cloud"], names)


# --------------------------------------------------------------------------------------------------
# Settings


def parse_value(text: str) -> Any:
    """A setting's value from text: JSON where it parses (numbers, ``true``, ``null``...), else the text.

    Example:
        >>> parse_value("0.3"), parse_value("true"), parse_value("steps")
        (0.3, True, 'steps')

    Args:
        text: The value as typed.

    Returns:
        The parsed value.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_settings(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a settings dict (values read by :func:`parse_value`).

    Args:
        pairs: Strings such as ``"max_rounds=2"``.

    Returns:
        The settings, in the order given (a repeated key keeps its last value).

    Raises:
        ProtocolError: A string is not ``KEY=VALUE``.

    Example:
        >>> parse_settings(["threshold=0.3", "verifier=logprobs"])
        {'threshold': 0.3, 'verifier': 'logprobs'}
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ProtocolError(f"expected SETTING=VALUE, got {pair!r}")
        settings[key.strip()] = parse_value(value.strip())
    return settings


def check_settings(protocol: str | ProtocolInfo, settings: Mapping[str, Any], *, graph: Any = None) -> Any:
    """Check run settings against a protocol's settings class, before any model runs.

    Args:
        protocol: A protocol name or registry entry.
        settings: The run settings (the graph's ``context``).
        graph: The built graph; its ``context_schema`` is used when the protocol registers no settings class.

    Returns:
        The settings object, or None when the protocol has no settings class to check against.

    Raises:
        ProtocolError: An unknown setting, or a value of the wrong type or out of range.

    Example:
        >>> check_settings("adaswitch", {"threshold": 0.3}).threshold
        0.3
    """
    info = protocol if isinstance(protocol, ProtocolInfo) else get_protocol(protocol)
    schema = info.load_settings_class()
    if schema is None and graph is not None:
        schema = getattr(graph, "context_schema", None)
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    known = sorted(f.name for f in dataclasses.fields(schema))
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ProtocolError(
            f"unknown setting(s) {unknown}: protocol {info.name!r} has no setting by that name; "
            f"known: {', '.join(known)}"
        )
    from langgraph_cloudlocal.protocols.common import RunSettings, current_settings

    if not (isinstance(schema, type) and issubclass(schema, RunSettings)):
        return None
    try:
        return current_settings(dict(settings), schema)
    except ValueError as exc:  # InputError and BudgetError included
        raise ProtocolError(str(exc)) from exc


# --------------------------------------------------------------------------------------------------
# Durable JSONL


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete, decodable JSON object line of ``path``.

    A torn last line (no newline: the writer died mid-line) and damaged lines are skipped.

    Args:
        path: A JSONL file; a missing file yields nothing.

    Yields:
        Each line's object.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.jsonl"
        >>> _ = path.write_text('{"id": "a"}\\nnot json\\n{"id": "torn')
        >>> list(read_jsonl(path))
        [{'id': 'a'}]
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            text = line.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def append_line(fd: int, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line with a single ``write``, then ``fsync``.

    Args:
        fd: A file descriptor opened with ``O_APPEND``.
        record: A JSON-ready mapping (other values are written with ``str``).

    Raises:
        OSError: A short write (disk full); the partial line is cut by the next :class:`JsonlWriter`.

    Example:
        >>> import os, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.jsonl"
        >>> fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        >>> append_line(fd, {"id": "a"})
        >>> os.close(fd)
        >>> path.read_text()
        '{"id": "a"}\\n'
    """
    data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(f"short write: {written} of {len(data)} bytes")
    os.fsync(fd)


class JsonlWriter:
    """Appends JSON lines to a file from several threads, durably.

    Each line is one ``write`` of a whole line followed by ``fsync``, so a crash or Ctrl-C loses at most
    the line being written; a torn last line left by a killed writer is cut when the file is opened.

    Args:
        path: The file (and its folder) is created if needed.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
        >>> with JsonlWriter(path) as writer:
        ...     writer.write({"id": "a"})
        >>> list(read_jsonl(path))
        [{'id': 'a'}]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_line()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_torn_line(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if not data or data.endswith(b"\n"):
                return
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a line (thread-safe).

        Args:
            record: A JSON-ready mapping.

        Raises:
            ValueError: The writer is closed.
        """
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path}: writer is closed")
            append_line(self._fd, record)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# Batches


def run_batch(
    graph: Any,
    inputs: Sequence[Any],
    *,
    max_concurrency: int | None = None,
    configs: Sequence[Mapping[str, Any]] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """Run ``graph`` on every input, yielding ``(index, output or exception)`` as each finishes.

    Built on LangGraph's ``batch_as_completed(..., return_exceptions=True)``: one failing input never
    stops the others. ``max_concurrency`` is LangGraph's knob: at most that many inputs run at once, and
    each run inherits it (it also bounds a run's own parallel jobs, such as MinionS's fan-out). Closing
    the iterator early (Ctrl-C) cancels the inputs not started yet.

    Args:
        graph: A compiled graph (any ``Runnable``).
        inputs: The inputs.
        max_concurrency: Inputs run at once (None: LangChain's default thread pool).
        configs: One run config per input (run name, tags, metadata, ``thread_id``...), or None.
        context: The run settings of every input (the graph's ``context``), or None.

    Yields:
        ``(index, output)``, or ``(index, exception)`` for an input whose run raised.

    Raises:
        ValueError: ``max_concurrency`` is below 1, or ``configs`` does not match ``inputs``.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> double = RunnableLambda(lambda x: 2 * x)
        >>> sorted(run_batch(double, [1, 2, 3], max_concurrency=2))
        [(0, 2), (1, 4), (2, 6)]
    """
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    if configs is not None and len(configs) != len(inputs):
        raise ValueError(f"{len(configs)} configs for {len(inputs)} inputs")
    if not inputs:
        return
    config_list = [dict(c) for c in configs] if configs is not None else [{} for _ in inputs]
    if max_concurrency is not None:
        for config in config_list:
            config["max_concurrency"] = max_concurrency
    kwargs: dict[str, Any] = {}
    if context:
        kwargs["context"] = dict(context)
    yield from graph.batch_as_completed(list(inputs), config_list, return_exceptions=True, **kwargs)


# --------------------------------------------------------------------------------------------------
# Graphs from the environment (langgraph.json)


def graph_from_environment(protocol: str) -> Any:
    """Build a protocol from the environment, as the ``graphs/`` modules of ``langgraph.json`` do.

    Models come from ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL``; a protocol whose factory
    takes a ``chunk_store`` gets :func:`~langgraph_cloudlocal.store.open_chunk_store`'s
    (``CLOUDLOCAL_CHUNK_STORE``, else the user cache), opened only once the models resolve.

    Args:
        protocol: A registered protocol name.

    Returns:
        The compiled graph, named after the protocol (``"local_only"``).

    Raises:
        ModelSpecError: A model variable is missing or unreadable (the message says what to set).
        EmbeddedModelError: An ``embedded:NAME`` model is not being served.

    Example:
        >>> graph = graph_from_environment("minions")  # doctest: +SKIP
    """
    import inspect

    from langgraph_cloudlocal.models import ModelSpecError, resolve_model

    info = get_protocol(protocol)
    where = f"graphs/{info.graph_name}.py"
    try:  # a model that cannot be used fails here first, with its own message and how to fix it
        for role in info.roles:
            resolve_model(None, role)  # type: ignore[arg-type]
    except (ModelSpecError, EmbeddedModelError) as exc:
        raise type(exc)(
            f"{where}: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
            f"or in the shell before `langgraph dev`. {exc}"
        ) from exc
    factory = info.load_factory()
    kwargs: dict[str, Any] = {"name": info.graph_name}
    if "chunk_store" in inspect.signature(factory).parameters:
        from langgraph_cloudlocal.store import open_chunk_store

        kwargs["chunk_store"] = open_chunk_store()
    try:
        return factory(**kwargs)
    except (ModelSpecError, EmbeddedModelError) as exc:
        raise type(exc)(
            f"{where}: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL in .env (copy .env.example) "
            f"or in the shell before `langgraph dev`. {exc}"
        ) from exc


__all__ = [
    "DEFAULT_EMBEDDED_CLOUD",
    "DEFAULT_EMBEDDED_LOCAL",
    "JsonlWriter",
    "ModelArg",
    "RunModels",
    "append_line",
    "check_settings",
    "describe_model",
    "graph_from_environment",
    "parse_settings",
    "parse_value",
    "read_jsonl",
    "run_batch",
    "run_models",
]
