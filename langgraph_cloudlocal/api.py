"""An OpenAI-compatible endpoint whose "model" is a local-cloud policy (``cloudlocal serve-api``).

``POST /v1/chat/completions`` (streamed as server-sent events or not) and ``GET /v1/models``, for code
outside Python and for any OpenAI client. Each model id names a policy of
:class:`~langgraph_cloudlocal.chat_model.CloudLocalChatModel`: ``cascade``, ``adaswitch`` (both with an
optional ``@THRESHOLD``, e.g. ``adaswitch@0.3``), ``minion``, ``minions``, ``local-only``, ``cloud-only``.

**Documents** reach the protocols as system messages (they go to the local model only; the cascade sends
the whole conversation to the cloud when it escalates), or in the request's extra ``documents`` field: a
list of texts or ``{"path": "..."}`` of files the server reads — only under the folder given as
``documents_dir`` (``--documents-dir``); without it, paths are refused.

**Extra request fields** (``extra_body`` in the ``openai`` client): ``documents``; ``settings`` (per-run
settings of the protocol, e.g. ``{"max_rounds": 2}``); ``budget`` (``max_cloud_tokens``,
``max_cloud_usd``, ``max_cloud_calls`` for this request). Sampling parameters (``temperature``,
``top_p``, ``max_tokens``...) are accepted and ignored: the policy's models have their own.

**Extra response fields.** ``usage`` keeps OpenAI's three counts (both roles together) and adds
``cloudlocal``: the usage report of the graphs (tokens, calls and dollars per role, the cloud-only
estimate, private characters sent to the cloud). ``cloudlocal`` at the top level has ``policy``,
``answered_by`` and ``decisions``. A stream ends with a chunk carrying them and a chunk with ``usage``
(``choices`` empty, as with OpenAI's ``stream_options={"include_usage": true}``), then ``[DONE]``. With
``stream_options={"include_decisions": true}`` each switching decision is also sent as it is made, as a
chunk with empty ``choices`` and ``cloudlocal: {"decision": {...}}``.

**Errors** use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 401 for a missing or
wrong API key, 400 for a body that cannot be used (checked before any model call), 404 for an unknown
model, 502 when a model server cannot be reached.

Needs the ``api`` extra (Starlette; uvicorn comes with ChromaDB): ``pip install 'langgraph-cloudlocal[api]'``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_cloudlocal.calls import ModelCallError
from langgraph_cloudlocal.chat_model import CloudLocalChatModel, check_messages, listening_to_decisions
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.ledger import Budget, BudgetError
from langgraph_cloudlocal.protocols.common import InputError

DEFAULT_MODELS: tuple[str, ...] = (
    "cascade",
    "cascade@0.3",
    "cascade@0.7",
    "adaswitch",
    "adaswitch@0.3",
    "adaswitch@0.7",
    "minion",
    "minions",
    "local-only",
    "cloud-only",
)
_THRESHOLD_POLICIES = ("cascade", "adaswitch")
_PROTOCOL_POLICIES = ("minion", "minions", "local-only", "cloud-only")
API_KEY_ENV = "CLOUDLOCAL_API_KEY"
# Characters of one request body; a larger one is refused before it is parsed.
MAX_BODY_BYTES = 32 * 1024 * 1024
_IGNORED_FIELDS = {
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "user",
    "logit_bias",
    "stream_options",
    "parallel_tool_calls",
    "response_format",
    "logprobs",
    "top_logprobs",
    "metadata",
    "store",
}
_KNOWN_FIELDS = {"model", "messages", "stream", "tools", "tool_choice", "documents", "settings", "budget"}


class RequestError(CloudLocalError):
    """A request the endpoint refuses, with its HTTP status and OpenAI error code."""

    def __init__(self, status: int, message: str, *, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def parse_model_id(model_id: Any) -> tuple[str, float | None]:
    """``"adaswitch@0.3"`` -> ``("adaswitch", 0.3)``; ``"minions"`` -> ``("minions", None)``.

    Args:
        model_id: The request's ``model``.

    Returns:
        ``(policy, threshold)``; the threshold is None when the id has no ``@THRESHOLD``.

    Raises:
        RequestError: 400 for an empty id or a bad threshold, 404 for an unknown policy.

    Example:
        >>> parse_model_id("AdaSwitch@0.3"), parse_model_id("minions")
        (('adaswitch', 0.3), ('minions', None))
    """
    if not isinstance(model_id, str) or not model_id.strip():
        raise RequestError(400, "model must be a non-empty string, e.g. 'cascade'", param="model")
    name, at, threshold_text = model_id.strip().lower().partition("@")
    if name not in (*_THRESHOLD_POLICIES, *_PROTOCOL_POLICIES):
        known = ", ".join(DEFAULT_MODELS)
        raise RequestError(
            404, f"unknown model {model_id!r}; served: {known}", code="model_not_found", param="model"
        )
    if not at:
        return name, None
    if name not in _THRESHOLD_POLICIES:
        raise RequestError(400, f"model {name!r} takes no @threshold", param="model")
    try:
        threshold = float(threshold_text)
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise RequestError(400, f"the threshold in {model_id!r} must be a number from 0 to 1", param="model")
    return name, threshold


# --------------------------------------------------------------------------------------------------
# Requests into messages


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise RequestError(400, f"{where}: only text content parts are supported", param="messages")
        return "".join(parts)
    raise RequestError(400, f"{where}: content must be a string or a list of text parts", param="messages")


def request_messages(raw: Any) -> list[BaseMessage]:
    """OpenAI chat messages -> LangChain messages; a clear 400 for anything else.

    Args:
        raw: The request's ``messages``.

    Returns:
        The LangChain messages (checked by :func:`~langgraph_cloudlocal.chat_model.check_messages`).

    Raises:
        RequestError: 400 for messages that cannot be read.

    Example:
        >>> messages = request_messages([{"role": "system", "content": "Memo"}, {"role": "user", "content": "Who?"}])
        >>> [m.type for m in messages]
        ['system', 'human']
    """
    if not isinstance(raw, list) or not raw:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    messages: list[BaseMessage] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, Mapping):
            raise RequestError(400, f"{where} must be an object with role and content", param="messages")
        role = item.get("role")
        text = _content_text(item.get("content"), where)
        if role in ("system", "developer"):
            messages.append(SystemMessage(text))
        elif role == "user":
            messages.append(HumanMessage(text))
        elif role == "assistant":
            calls = []
            for call in item.get("tool_calls") or []:
                try:
                    function = call["function"]
                    calls.append(
                        {
                            "name": function["name"],
                            "args": json.loads(function.get("arguments") or "{}"),
                            "id": call["id"],
                        }
                    )
                except (KeyError, TypeError, json.JSONDecodeError) as exc:
                    raise RequestError(
                        400, f"{where}: a tool call that cannot be read ({exc})", param="messages"
                    ) from exc
            messages.append(AIMessage(text, tool_calls=calls))
        elif role == "tool":
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str):
                raise RequestError(400, f"{where}: a tool message needs tool_call_id", param="messages")
            messages.append(ToolMessage(text, tool_call_id=call_id, name=item.get("name")))
        else:
            raise RequestError(
                400,
                f"{where}: role must be system, developer, user, assistant or tool, got {role!r}",
                param="messages",
            )
    try:
        return check_messages(messages)
    except InputError as exc:
        raise RequestError(400, str(exc), param="messages") from exc


def read_documents(raw: Any, documents_dir: Path | None) -> list[str]:
    """The request's ``documents``: texts, or ``{"path": ...}`` of files under ``documents_dir``.

    Args:
        raw: The request's ``documents`` (None: none).
        documents_dir: The only folder files are read from; None refuses paths.

    Returns:
        The documents' texts.

    Raises:
        RequestError: 400 for a bad item, a path without ``documents_dir``, a path outside it, or a file
            that is missing or cannot be read.

    Example:
        >>> read_documents(["Ann signed."], None)
        ['Ann signed.']
        >>> read_documents([{"path": "memo.txt"}], None)
        Traceback (most recent call last):
        ...
        langgraph_cloudlocal.api.RequestError: this server reads no document files (start it with --documents-dir)
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RequestError(
            400, 'documents must be a list of texts or {"path": ...} objects', param="documents"
        )
    texts = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            texts.append(item)
            continue
        path_text = item.get("path") if isinstance(item, Mapping) else None
        if not isinstance(path_text, str) or not path_text:
            raise RequestError(
                400, f'documents[{index}] must be a text or {{"path": ...}}', param="documents"
            )
        if documents_dir is None:
            raise RequestError(
                400, "this server reads no document files (start it with --documents-dir)", param="documents"
            )
        root = documents_dir.resolve()
        path = (root / path_text).resolve()
        if not path.is_relative_to(root):
            raise RequestError(
                400, f"documents[{index}]: {path_text!r} is outside the documents folder", param="documents"
            )
        if not path.is_file():
            raise RequestError(
                400, f"documents[{index}]: no file {path_text!r} in the documents folder", param="documents"
            )
        from langgraph_cloudlocal.documents import load_document

        try:
            texts.append(load_document(path).text)
        except (OSError, ValueError) as exc:
            raise RequestError(
                400, f"documents[{index}]: {path_text!r} cannot be read ({exc})", param="documents"
            ) from exc
    return texts


# --------------------------------------------------------------------------------------------------
# The service (framework-free: the Starlette app below only moves bytes)


class ChatCompletions:
    """Answers chat-completion requests with one :class:`CloudLocalChatModel` per model id.

    Args:
        local: The local model (a chat model or a spec).
        cloud: The cloud model.
        models: The model ids served.
        documents_dir: The folder request ``documents`` may name files in; None refuses paths.
        protocol_settings: Per policy, default run settings of its graph.
        **chat_model_options: More :class:`CloudLocalChatModel` fields (``budget``, ``prices``...).

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> service = ChatCompletions(ScriptedChatModel(replies=["Paris"]), ScriptedChatModel(replies=["x"]))
        >>> body = service.complete({"model": "local-only", "messages": [{"role": "user", "content": "Capital?"}]})
        >>> body["choices"][0]["message"]["content"], body["cloudlocal"]["answered_by"]
        ('Paris', 'local-only')
    """

    def __init__(
        self,
        local: Any = None,
        cloud: Any = None,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        documents_dir: str | Path | None = None,
        protocol_settings: Mapping[str, Mapping[str, Any]] | None = None,
        **chat_model_options: Any,
    ) -> None:
        for model_id in models:
            parse_model_id(model_id)
        self.local = local
        self.cloud = cloud
        self.models = tuple(models)
        self.documents_dir = Path(documents_dir) if documents_dir is not None else None
        self.protocol_settings = {k: dict(v) for k, v in (protocol_settings or {}).items()}
        self.chat_model_options = chat_model_options
        self._chat_models: dict[str, CloudLocalChatModel] = {}

    def list_models(self) -> dict[str, Any]:
        """The ``GET /v1/models`` body: the served model ids."""
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "langgraph-cloudlocal"}
                for m in self.models
            ],
        }

    def chat_model(self, model_id: str) -> CloudLocalChatModel:
        """The chat model of a model id, made on first use and kept.

        Args:
            model_id: A model id such as ``"cascade@0.3"``.

        Returns:
            Its :class:`CloudLocalChatModel`.
        """
        policy, threshold = parse_model_id(model_id)
        key = f"{policy}@{threshold}" if threshold is not None else policy
        if key not in self._chat_models:
            options = dict(self.chat_model_options)
            if threshold is not None:
                options["threshold"] = threshold
            self._chat_models[key] = CloudLocalChatModel(
                local=self.local,
                cloud=self.cloud,
                policy=policy,  # type: ignore[arg-type]
                protocol_settings=self.protocol_settings.get(policy, {}),
                **options,
            )
        return self._chat_models[key]

    def prepare(self, body: Any) -> tuple[CloudLocalChatModel, list[BaseMessage], dict[str, Any], bool]:
        """Check a request body; (chat model, messages, call options, stream). Raises RequestError.

        Args:
            body: The decoded JSON body.

        Returns:
            ``(chat_model, messages, call_options, stream)``.

        Raises:
            RequestError: 400 for a body that cannot be used, 404 for a model not served.
        """
        if not isinstance(body, Mapping):
            raise RequestError(400, "the request body must be a JSON object")
        unknown = sorted(set(body) - _KNOWN_FIELDS - _IGNORED_FIELDS)
        if unknown:
            raise RequestError(400, f"unknown field(s) {unknown}", param=unknown[0])
        if "model" not in body:
            raise RequestError(400, "model is required, e.g. 'cascade'", param="model")
        model_id = body["model"]
        parse_model_id(model_id)
        if model_id not in self.models and str(model_id).partition("@")[0] not in _THRESHOLD_POLICIES:
            raise RequestError(
                404, f"model {model_id!r} is not served here; see /v1/models", code="model_not_found"
            )
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(400, "stream must be true or false", param="stream")
        stream_options = body.get("stream_options")
        if stream_options is not None and not isinstance(stream_options, Mapping):
            raise RequestError(400, "stream_options must be an object", param="stream_options")
        messages = request_messages(body.get("messages"))
        documents = read_documents(body.get("documents"), self.documents_dir)
        messages = [SystemMessage(text) for text in documents] + messages
        options: dict[str, Any] = {}
        settings = body.get("settings")
        if settings is not None:
            if not isinstance(settings, Mapping):
                raise RequestError(400, "settings must be an object of run settings", param="settings")
            options["context"] = dict(settings)
        budget = body.get("budget")
        if budget is not None:
            if not isinstance(budget, Mapping) or set(budget) - {
                "max_cloud_tokens",
                "max_cloud_usd",
                "max_cloud_calls",
            }:
                raise RequestError(
                    400, "budget takes max_cloud_tokens, max_cloud_usd, max_cloud_calls", param="budget"
                )
            try:
                options["budget"] = Budget(**budget)
            except BudgetError as exc:
                raise RequestError(400, str(exc), param="budget") from exc
        chat = self.chat_model(model_id)
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list) or not all(
                isinstance(t, Mapping) and t.get("type") == "function" for t in tools
            ):
                raise RequestError(400, 'tools must be a list of {"type": "function", ...}', param="tools")
            if chat.policy != "cascade":
                raise RequestError(
                    400, f"tools need a cascade model; {model_id!r} is {chat.policy}", param="tools"
                )
            options["tools"] = [dict(t) for t in tools]
            if body.get("tool_choice") is not None:
                options["tool_choice"] = body["tool_choice"]
        try:
            chat.check_call_options(**options)  # the same checks the model runs, before any model call
        except (InputError, ValueError) as exc:
            raise RequestError(400, str(exc)) from exc
        if chat.policy in _PROTOCOL_POLICIES + ("adaswitch",) and options.get("context"):
            _check_protocol_settings(chat, options["context"])
        return chat, messages, options, stream

    def complete(self, body: Any) -> dict[str, Any]:
        """Answer a request without streaming.

        Args:
            body: The decoded JSON body.

        Returns:
            The ``chat.completion`` body.
        """
        chat, messages, options, _ = self.prepare(body)
        message = _invoke(chat, messages, options)
        return completion_body(str(body["model"]), message)

    def stream(self, body: Any) -> Iterator[str]:
        """Server-sent events (already checked by :meth:`prepare`).

        Args:
            body: The decoded JSON body.

        Yields:
            Each ``data: ...`` event, ``[DONE]`` last.
        """
        chat, messages, options, _ = self.prepare(body)
        live_decisions = bool((body.get("stream_options") or {}).get("include_decisions"))
        model_id = str(body["model"])
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_id,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        total: AIMessageChunk | None = None
        try:
            for kind, item in _stream_with_decisions(chat, messages, options):
                if kind == "decision":
                    if live_decisions:
                        yield event([], cloudlocal={"decision": item})
                    continue
                total = item if total is None else total + item
                if item.content:
                    yield event([{"index": 0, "delta": {"content": item.content}, "finish_reason": None}])
        except Exception as exc:  # the status is sent already: report the error as an event
            error = _error_of(exc)
            yield f"data: {json.dumps({'error': _error_body(error)['error']})}\n\n"
            yield "data: [DONE]\n\n"
            return
        message = total if total is not None else AIMessageChunk(content="")
        delta: dict[str, Any] = {}
        if message.tool_calls:
            delta["tool_calls"] = _openai_tool_calls(message, with_index=True)
        finish = _finish(message)
        yield event([{"index": 0, "delta": delta, "finish_reason": finish}], cloudlocal=_report(message))
        yield event([], usage=_usage(message))
        yield "data: [DONE]\n\n"


def _stream_with_decisions(
    chat: CloudLocalChatModel, messages: list[BaseMessage], options: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    """("chunk", AIMessageChunk) and ("decision", dict) items in the order they happen: the model runs
    in its own thread, so a decision made while no token flows (a plan, an escalation) goes out at once."""
    import queue
    import threading

    items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def produce() -> None:
        try:
            with listening_to_decisions(lambda decision: items.put(("decision", decision))):
                for chunk in chat.stream(messages, **options):
                    items.put(("chunk", chunk))
            items.put(("end", None))
        except BaseException as exc:  # re-raised in the reader's thread
            items.put(("error", exc))

    threading.Thread(target=produce, name="cloudlocal-api-stream", daemon=True).start()
    while True:
        kind, item = items.get()
        if kind == "end":
            return
        if kind == "error":
            raise item
        yield kind, item


def _check_protocol_settings(chat: CloudLocalChatModel, settings: Mapping[str, Any]) -> None:
    graph = chat.protocol_graph()
    from langgraph_cloudlocal.protocols.common import current_settings

    try:
        current_settings(dict(settings), graph.builder.context_schema)
    except (InputError, ValueError, TypeError) as exc:
        raise RequestError(400, f"settings: {exc}", param="settings") from exc


def _invoke(chat: CloudLocalChatModel, messages: list[BaseMessage], options: dict[str, Any]) -> AIMessage:
    return chat.invoke(messages, **options)


def _openai_tool_calls(message: AIMessage, *, with_index: bool = False) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(message.tool_calls):
        item: dict[str, Any] = {
            "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"], ensure_ascii=False)},
        }
        if with_index:
            item["index"] = index
        calls.append(item)
    return calls


def _finish(message: AIMessage) -> str:
    if message.tool_calls:
        return "tool_calls"
    return "length" if message.response_metadata.get("finish_reason") == "length" else "stop"


def _usage(message: AIMessage) -> dict[str, Any]:
    counts = message.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": counts["input_tokens"],
        "completion_tokens": counts["output_tokens"],
        "total_tokens": counts["total_tokens"],
        "cloudlocal": message.response_metadata.get("usage", {}),
    }


def _report(message: AIMessage) -> dict[str, Any]:
    meta = message.response_metadata
    return {key: meta.get(key) for key in ("policy", "answered_by", "decisions")}


def completion_body(model_id: str, message: AIMessage) -> dict[str, Any]:
    """The ``chat.completion`` body of a reply, with the ``cloudlocal`` report.

    Args:
        model_id: The request's ``model``.
        message: The chat model's reply.

    Returns:
        The body, as OpenAI shapes it.

    Example:
        >>> completion_body("cascade", AIMessage("Paris"))["choices"][0]["message"]
        {'role': 'assistant', 'content': 'Paris'}
    """
    reply: dict[str, Any] = {"role": "assistant", "content": str(message.content)}
    if message.tool_calls:
        reply["tool_calls"] = _openai_tool_calls(message)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [{"index": 0, "message": reply, "finish_reason": _finish(message)}],
        "usage": _usage(message),
        "cloudlocal": _report(message),
    }


def _error_of(exc: BaseException) -> RequestError:
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, ModelCallError):
        return RequestError(502, str(exc), code="model_unreachable")
    if isinstance(exc, InputError | BudgetError):
        return RequestError(400, str(exc))
    return RequestError(500, f"internal error ({type(exc).__name__})", code="internal_error")


def _error_body(error: RequestError) -> dict[str, Any]:
    kind = {401: "authentication_error", 404: "invalid_request_error"}.get(
        error.status, "invalid_request_error"
    )
    if error.status >= 500:
        kind = "server_error"
    return {"error": {"message": str(error), "type": kind, "param": error.param, "code": error.code}}


# --------------------------------------------------------------------------------------------------
# The HTTP app


def create_app(
    local: Any = None,
    cloud: Any = None,
    *,
    api_key: str | None = None,
    models: Sequence[str] = DEFAULT_MODELS,
    documents_dir: str | Path | None = None,
    protocol_settings: Mapping[str, Mapping[str, Any]] | None = None,
    **chat_model_options: Any,
) -> Any:
    """The Starlette app of the endpoint. ``api_key``: clients must send ``Authorization: Bearer KEY``.

    Args:
        local: The local model (a chat model or a spec).
        cloud: The cloud model.
        api_key: The key clients must send, or None for none.
        models: The model ids served.
        documents_dir: The folder request ``documents`` may name files in; None refuses paths.
        protocol_settings: Per policy, default run settings of its graph.
        **chat_model_options: More :class:`CloudLocalChatModel` fields.

    Returns:
        The Starlette app (serve it with uvicorn, or :func:`serve`).

    Raises:
        ImportError: Starlette is not installed (the ``api`` extra).

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> app = create_app(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"]), api_key="k")
        >>> "minions" in app.state.service.models
        True
    """
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the OpenAI-compatible endpoint needs Starlette: pip install 'langgraph-cloudlocal[api]'"
        ) from exc

    service = ChatCompletions(
        local,
        cloud,
        models=models,
        documents_dir=documents_dir,
        protocol_settings=protocol_settings,
        **chat_model_options,
    )

    def error_response(error: RequestError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(_error_body(error), status_code=error.status, headers=headers)

    def authorized(request: Request) -> bool:
        if not api_key:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), api_key.encode())

    async def models_endpoint(request: Request) -> Response:
        if not authorized(request):
            return error_response(RequestError(401, "missing or wrong API key", code="invalid_api_key"))
        return JSONResponse(service.list_models())

    async def completions_endpoint(request: Request) -> Response:
        if not authorized(request):
            return error_response(RequestError(401, "missing or wrong API key", code="invalid_api_key"))
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return error_response(RequestError(413, f"the body is larger than {MAX_BODY_BYTES} bytes"))
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error_response(RequestError(400, f"the body is not valid JSON ({exc})"))
        try:
            # Checks (and builds the policy's graph) off the event loop: no model call happens here.
            _, _, _, stream = await run_in_threadpool(service.prepare, body)
        except Exception as exc:
            return error_response(_error_of(exc))
        if stream:
            return StreamingResponse(
                iterate_in_threadpool(service.stream(body)),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        try:
            return JSONResponse(await run_in_threadpool(service.complete, body))
        except Exception as exc:
            return error_response(_error_of(exc))

    app = Starlette(
        routes=[
            Route("/v1/models", models_endpoint, methods=["GET"]),
            Route("/v1/chat/completions", completions_endpoint, methods=["POST"]),
        ]
    )
    app.state.service = service
    return app


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve beyond this machine without an API key.

    Args:
        host: The address to listen on.
        api_key: The API key, or None.

    Raises:
        InputError: A non-loopback host without an API key.

    Example:
        >>> check_bind("127.0.0.1", None)
        >>> check_bind("0.0.0.0", None)
        Traceback (most recent call last):
        ...
        langgraph_cloudlocal.protocols.common.InputError: serving on 0.0.0.0 (beyond this machine) needs an API key ...
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not api_key:
        raise InputError(
            f"serving on {host} (beyond this machine) needs an API key (--api-key or {API_KEY_ENV})"
        )


def serve(app: Any, host: str = "127.0.0.1", port: int = 8000) -> None:  # pragma: no cover - blocking
    """Serve ``app`` with uvicorn until stopped (blocks).

    Args:
        app: The app of :func:`create_app`.
        host: The address to listen on (check it with :func:`check_bind`).
        port: The port.

    Example:
        >>> serve(create_app("ollama:llama3.2:3b", "openai:gpt-4o"))  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MODELS",
    "ChatCompletions",
    "RequestError",
    "check_bind",
    "completion_body",
    "create_app",
    "parse_model_id",
    "read_documents",
    "request_messages",
    "serve",
]
