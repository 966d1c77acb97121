"""Model roles: turn a spec (string, chat model instance, or the environment) into a chat model.

Accepted specs:

* a ``BaseChatModel`` instance (used as is);
* ``"ollama:NAME"`` -> ``ChatOllama`` against ``OLLAMA_HOST`` (default ``http://127.0.0.1:11434``);
* ``"openai:NAME"`` -> ``ChatOpenAI`` against ``OPENAI_BASE_URL`` (default: OpenAI) with ``OPENAI_API_KEY``;
* ``"openai-compatible:NAME@URL"`` -> ``ChatOpenAI`` against any OpenAI-compatible server
  (llama.cpp, LM Studio, vLLM, Ollama's own ``/v1``), e.g. ``openai-compatible:qwen@http://127.0.0.1:8080/v1``;
  several URLs separated by ``,`` spread calls across servers (round-robin). Its API key: ``OPENAI_API_KEY``
  in the cloud role, ``CLOUDLOCAL_LOCAL_API_KEY`` in the local role (the cloud's key is never sent to a
  local server);
* ``"embedded:NAME"`` -> one of the project's embedded models (see :mod:`langgraph_cloudlocal.embedded`),
  which must already be running (``cloudlocal serve``) — its URL is read from the server registry.

With no spec, the role's environment variable is read: ``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.running_servers import running_server_url

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_OLLAMA_HOST",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "LOCAL_API_KEY_ENV",
    "ModelSpecError",
    "PLACEHOLDER_API_KEY",
    "REQUEST_TIMEOUT_ENV",
    "ROLE_ENV_VARS",
    "ResolvedModel",
    "Role",
    "RoundRobinChatModel",
    "base_url_of",
    "model_name_of",
    "request_timeout",
    "resolve_model",
]

Role = Literal["local", "cloud"]

ROLE_ENV_VARS: dict[str, str] = {"local": "CLOUDLOCAL_LOCAL_MODEL", "cloud": "CLOUDLOCAL_CLOUD_MODEL"}
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
# Servers that need no key still want a non-empty one from the OpenAI client.
PLACEHOLDER_API_KEY = "not-needed"
# The key of an 'openai-compatible:' server in the local role (OPENAI_API_KEY is for the cloud role only).
LOCAL_API_KEY_ENV = "CLOUDLOCAL_LOCAL_API_KEY"

ACCEPTED_FORMS = (
    "a BaseChatModel instance, 'ollama:NAME' (e.g. 'ollama:llama3.2:3b'), 'openai:NAME' (e.g. 'openai:gpt-4o'), "
    "'openai-compatible:NAME@URL' (e.g. 'openai-compatible:qwen@http://127.0.0.1:8080/v1'; several URLs "
    "separated by ','), or 'embedded:NAME' (e.g. 'embedded:smollm2', started with `cloudlocal serve`)"
)


class ModelSpecError(CloudLocalError, ValueError):
    """A model spec that cannot be understood; the message names the accepted forms."""


@dataclass(frozen=True)
class ResolvedModel:
    """A chat model bound to a role, with the facts the ledger and error messages need.

    Attributes:
        role: ``"local"`` or ``"cloud"``.
        model: The chat model.
        model_name: Its name, for pricing and messages.
        base_url: Its server URL, or None.
        spec: The spec string it was resolved from, or None for an instance.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> resolved = resolve_model(ScriptedChatModel(replies=["x"], model_name="tiny"), "local")
        >>> resolved.role, resolved.model_name, resolved.base_url
        ('local', 'tiny', None)
    """

    role: Role
    model: BaseChatModel
    model_name: str
    base_url: str | None = None
    spec: str | None = None


def model_name_of(model: BaseChatModel) -> str:
    """Best-effort model name of any chat model (used for pricing and messages).

    Args:
        model: Any chat model.

    Returns:
        Its ``model_name`` / ``model`` / ``model_id``, else its class name.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> model_name_of(ScriptedChatModel(replies=["x"], model_name="tiny"))
        'tiny'
    """
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def base_url_of(model: BaseChatModel) -> str | None:
    """Best-effort server URL of any chat model.

    Args:
        model: Any chat model.

    Returns:
        Its server URL (``openai_api_base`` / ``base_url``), or None.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> base_url_of(ScriptedChatModel(replies=["x"])) is None
        True
    """
    for attr in ("openai_api_base", "base_url"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


# Seconds one request to a model server may take before it fails with a clear error (ModelCallError,
# retried by the node). CLOUDLOCAL_REQUEST_TIMEOUT overrides it; resolve_model(..., timeout=) wins for one
# model. Without it a hung server stalls a run for good (the ollama client has no timeout) or for ten
# minutes per attempt (the openai client's default).
DEFAULT_REQUEST_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_ENV = "CLOUDLOCAL_REQUEST_TIMEOUT"


def request_timeout() -> float:
    """Seconds one request to a model server may take.

    Returns:
        ``$CLOUDLOCAL_REQUEST_TIMEOUT`` in seconds, else 300.

    Raises:
        ModelSpecError: The variable is not a number above 0.

    Example:
        >>> request_timeout() == float(os.environ.get(REQUEST_TIMEOUT_ENV) or DEFAULT_REQUEST_TIMEOUT_S)
        True
    """
    value = os.environ.get(REQUEST_TIMEOUT_ENV)
    if not value:
        return DEFAULT_REQUEST_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ModelSpecError(f"{REQUEST_TIMEOUT_ENV} must be a number of seconds > 0, got {value!r}")
    return seconds


def _openai_chat(name: str, base_url: str | None, api_key: str | None, **kwargs: Any) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    params: dict[str, Any] = {
        "model": name,
        "api_key": api_key or PLACEHOLDER_API_KEY,
        # Usage in streamed responses is off by default when base_url is set; the ledger needs it.
        "stream_usage": True,
        "max_retries": 1,
        "timeout": request_timeout(),
    }
    if base_url:
        params["base_url"] = base_url
    params.update(kwargs)
    return ChatOpenAI(**params)


def _ollama_chat(name: str, **kwargs: Any) -> BaseChatModel:
    from langchain_ollama import ChatOllama
    from ollama._client import _parse_host

    # Read OLLAMA_HOST exactly as the ollama client does ("host", "host:port", ":port", URLs; port 11434).
    host = _parse_host(os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST)
    timeout = kwargs.pop("timeout", None) or request_timeout()
    kwargs["client_kwargs"] = {"timeout": timeout, **(kwargs.get("client_kwargs") or {})}
    return ChatOllama(model=name, base_url=host, **kwargs)


def resolve_model(spec: str | BaseChatModel | None, role: Role, **model_kwargs: Any) -> ResolvedModel:
    """Build the chat model for ``role`` from ``spec`` (or from the environment when ``spec`` is None).

    ``model_kwargs`` are passed to the chat model's constructor (e.g. ``temperature=0``, ``timeout=60``).

    Args:
        spec: A chat model, a spec string (see the module docstring), or None for the role's variable.
        role: ``"local"`` or ``"cloud"`` (which API key an ``openai-compatible:`` server gets).
        **model_kwargs: Passed to the chat model's constructor.

    Returns:
        The :class:`ResolvedModel`: the chat model, its name and URL.

    Raises:
        ModelSpecError: The spec cannot be read, or a key or variable it needs is missing.
        EmbeddedModelError: An ``embedded:NAME`` model is not being served.

    Example:
        >>> resolve_model("ollama:llama3.2:3b", "local").model_name
        'llama3.2:3b'
    """
    if role not in ROLE_ENV_VARS:
        raise ModelSpecError(f"role must be 'local' or 'cloud', got {role!r}")
    if isinstance(spec, BaseChatModel):
        return ResolvedModel(role, spec, model_name_of(spec), base_url_of(spec))
    if spec is None:
        env_var = ROLE_ENV_VARS[role]
        spec = os.environ.get(env_var)
        if not spec:
            raise ModelSpecError(
                f"no {role} model given and {env_var} is not set. Pass {role}=... or set {env_var} to "
                + ACCEPTED_FORMS
            )
    if not isinstance(spec, str):
        raise ModelSpecError(f"{role} model spec must be a string or a chat model, got {type(spec).__name__}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ModelSpecError(f"cannot read {role} model spec {spec!r}: expected {ACCEPTED_FORMS}")
    kind = kind.lower()
    if kind == "ollama":
        model = _ollama_chat(rest, **model_kwargs)
        return ResolvedModel(role, model, rest, base_url_of(model), spec)
    if kind == "openai":
        base_url = os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key and not base_url:
            raise ModelSpecError(
                f"{role} model {spec!r} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server without keys)"
            )
        model = _openai_chat(rest, base_url, api_key, **model_kwargs)
        return ResolvedModel(role, model, rest, base_url, spec)
    if kind in ("openai-compatible", "openai_compatible"):
        name, at, urls = rest.rpartition("@")
        if not at or not name or not urls:
            raise ModelSpecError(
                f"cannot read {role} model spec {spec!r}: 'openai-compatible:' needs NAME@URL, "
                "e.g. 'openai-compatible:qwen@http://127.0.0.1:8080/v1'"
            )
        url_list = [u.strip() for u in urls.split(",") if u.strip()]
        for url in url_list:
            if not url.startswith(("http://", "https://")):
                raise ModelSpecError(
                    f"{role} model spec {spec!r}: URL {url!r} must start with http:// or https://"
                )
        # The cloud's key must not reach a local server (another machine on the LAN, say).
        api_key = os.environ.get("OPENAI_API_KEY" if role == "cloud" else LOCAL_API_KEY_ENV)
        if len(url_list) == 1:
            model = _openai_chat(name, url_list[0], api_key, **model_kwargs)
        else:
            model = RoundRobinChatModel(
                replicas=[_openai_chat(name, u, api_key, **model_kwargs) for u in url_list], model_name=name
            )
        return ResolvedModel(role, model, name, ",".join(url_list), spec)
    if kind == "embedded":
        url = running_server_url(rest)
        model = _openai_chat(rest, url, None, **model_kwargs)
        return ResolvedModel(role, model, rest, url, spec)
    raise ModelSpecError(
        f"unknown model kind {kind!r} in {role} model spec {spec!r}: expected {ACCEPTED_FORMS}"
    )


# Errors that mean "this server is not there" (nothing was generated): the next replica is tried.
_UNREACHABLE = frozenset({"APIConnectionError", "ConnectError", "ConnectionError", "ConnectionRefusedError"})


def _unreachable(exc: BaseException) -> bool:
    return any(cls.__name__ in _UNREACHABLE for cls in type(exc).__mro__) and not any(
        cls.__name__ == "APITimeoutError" for cls in type(exc).__mro__
    )


class RoundRobinChatModel(BaseChatModel):
    """Spreads calls over several replicas of the same model (one per server URL), in turn.

    The scale-out path for local models: run several model servers and list their URLs in one
    ``openai-compatible:NAME@URL1,URL2`` spec. Each call goes to the next replica. A replica that cannot
    be reached is skipped: the call goes on to the next one, and the dead replica is tried last for
    ``cooldown_s`` seconds; only when every replica is unreachable does the call fail.

    Attributes:
        replicas: The replicas, one chat model per server.
        model_name: The model name reported in usage and messages.
        cooldown_s: How long a replica that could not be reached is tried last.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> pair = RoundRobinChatModel(
        ...     replicas=[ScriptedChatModel(replies=["from a"]), ScriptedChatModel(replies=["from b"])]
        ... )
        >>> pair.invoke("hi").content, pair.invoke("hi").content
        ('from a', 'from b')
    """

    replicas: Sequence[BaseChatModel]
    model_name: str = "round-robin"
    cooldown_s: float = 30.0

    def model_post_init(self, __context: Any) -> None:
        """Check the replicas and set up the turn counter (pydantic calls this after validation).

        Args:
            __context: Pydantic's validation context (unused).

        Raises:
            ModelSpecError: No replicas.
        """
        if not self.replicas:
            raise ModelSpecError("RoundRobinChatModel needs at least one replica")
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._down_until: dict[int, float] = {}

    @property
    def _llm_type(self) -> str:
        return "cloudlocal-round-robin"

    def _order(self) -> list[int]:
        """Replica indexes for one call: the next in turn first, replicas that just failed last."""
        count = len(self.replicas)
        with self._lock:
            start = next(self._counter) % count
            now = time.monotonic()
            order = [(start + i) % count for i in range(count)]
            return sorted(order, key=lambda i: self._down_until.get(i, 0.0) > now)

    def _mark_down(self, index: int) -> None:
        with self._lock:
            self._down_until[index] = time.monotonic() + self.cooldown_s

    def _mark_up(self, index: int) -> None:
        if index in self._down_until:
            with self._lock:
                self._down_until.pop(index, None)

    def bind_tools(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used by the protocols
        """Not supported: the protocols do not call tools.

        Args:
            *args: Ignored.
            **kwargs: Ignored.

        Returns:
            Nothing: it always raises.

        Raises:
            NotImplementedError: Always.
        """
        raise NotImplementedError("tool calling is not used by the cloudlocal protocols")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        order = self._order()
        for attempt, index in enumerate(order):
            try:
                result = self.replicas[index]._generate(messages, stop=stop, **kwargs)
            except Exception as exc:
                if not _unreachable(exc) or attempt == len(order) - 1:
                    raise
                self._mark_down(index)
                continue
            self._mark_up(index)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        order = self._order()
        for attempt, index in enumerate(order):
            try:
                result = await self.replicas[index]._agenerate(messages, stop=stop, **kwargs)
            except Exception as exc:
                if not _unreachable(exc) or attempt == len(order) - 1:
                    raise
                self._mark_down(index)
                continue
            self._mark_up(index)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        order = self._order()
        for attempt, index in enumerate(order):
            started = False
            try:
                for chunk in self.replicas[index]._stream(messages, stop=stop, **kwargs):
                    started = True
                    yield chunk
            except Exception as exc:
                # Once text has come back, switching servers would repeat it: only fail over before.
                if started or not _unreachable(exc) or attempt == len(order) - 1:
                    raise
                self._mark_down(index)
                continue
            self._mark_up(index)
            return

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        order = self._order()
        for attempt, index in enumerate(order):
            started = False
            try:
                async for chunk in self.replicas[index]._astream(messages, stop=stop, **kwargs):
                    started = True
                    yield chunk
            except Exception as exc:
                if started or not _unreachable(exc) or attempt == len(order) - 1:
                    raise
                self._mark_down(index)
                continue
            self._mark_up(index)
            return
