"""One model call, measured: text or structured output, with usage, timing and clear errors.

Small models break JSON. :func:`call_structured` asks for JSON-schema constrained output where the
client supports it (``ChatOpenAI`` against llama.cpp, vLLM or OpenAI; ``ChatOllama``'s ``format``),
parses tolerantly (code fences, trailing commas, Python literals, truncation), validates with
pydantic, and on failure asks again with the error, a bounded number of times. A call that still fails
comes back as a failure carrying the raw text; it never raises for bad output.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.ledger import RawUsage, approx_tokens, merge_usage, usage_delta
from langgraph_cloudlocal.models import ResolvedModel
from langgraph_cloudlocal.timing import busy

__all__ = [
    "CallResult",
    "ModelCallError",
    "PROMPT_TOKEN_CEILING",
    "PromptTooLongError",
    "RAW_EXCERPT_CHARS",
    "RetryRefusal",
    "StructuredResult",
    "bind_call_options",
    "call_structured",
    "call_text",
    "parse_json_object",
    "parse_structured",
    "prompt_too_long",
    "usage_of",
]

SchemaT = TypeVar("SchemaT", bound=BaseModel)
# (usage of the attempts so far, text of the next attempt) -> why it must not be sent, or None
RetryRefusal = Callable[[RawUsage, str], "str | None"]


class ModelCallError(CloudLocalError, RuntimeError):
    """A model server that cannot be reached or did not answer in time (after the client's retries)."""

    # Worth trying again later (the node retry policy, a job's own retries); see PromptTooLongError.
    retryable = True

    def __init__(self, message: str, *, model: str, base_url: str | None, role: str) -> None:
        super().__init__(message)
        self.model = model
        self.base_url = base_url
        self.role = role


class PromptTooLongError(ModelCallError):
    """A prompt that does not fit the model's context window. Not retried: it would fail again."""

    retryable = False


# No chat model takes a prompt longer than this (the largest context windows are 1-2M tokens): a longer
# one is refused before it is sent, instead of being uploaded and tokenized only to be rejected.
PROMPT_TOKEN_CEILING = 2_000_000


@dataclass
class CallResult:
    """What one plain call returned, and what it cost.

    Attributes:
        text: The reply's text.
        message: The reply as the client returned it (None when there was no reply).
        usage: Raw usage counters of the call (the ledger's form).
        seconds: The call's wall time.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langgraph_cloudlocal.models import resolve_model
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> result = call_text(resolve_model(ScriptedChatModel(replies=["Paris"]), "local"), [HumanMessage("Capital?")])
        >>> result.text, result.tokens
        ('Paris', 3)
    """

    text: str
    message: AIMessage | None
    usage: RawUsage
    seconds: float

    @property
    def tokens(self) -> int:
        """Input plus output tokens of the call's role."""
        role = next(iter(k for k in self.usage if k in ("local", "cloud")), None)
        if role is None:
            return 0
        counters = self.usage[role]  # type: ignore[literal-required]
        return int(counters["input_tokens"] + counters["output_tokens"])


@dataclass
class StructuredResult(Generic[SchemaT]):
    """What a structured call returned: the parsed object, or why there is none.

    Attributes:
        value: The parsed object, or None when every attempt failed.
        raw: The last reply's text.
        error: Why the last attempt failed, or None.
        usage: Raw usage counters of every attempt together.
        attempts: How many requests were sent.
        raw_attempts: Each attempt's reply text, in order.
        message: The last reply as the client returned it.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langgraph_cloudlocal.models import resolve_model
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> class Reply(BaseModel):
        ...     answer: str
        >>> local = resolve_model(ScriptedChatModel(replies=['{"answer": "Paris"}']), "local")
        >>> result = call_structured(local, [HumanMessage("Capital?")], Reply)
        >>> result.ok, result.value.answer, result.attempts
        (True, 'Paris', 1)
    """

    value: SchemaT | None
    raw: str
    error: str | None
    usage: RawUsage
    attempts: int
    raw_attempts: list[str] = field(default_factory=list)
    # The last reply as the client returned it (log-probabilities, when asked for, are in its
    # ``response_metadata["logprobs"]``).
    message: AIMessage | None = None

    @property
    def ok(self) -> bool:
        """Whether a value was parsed."""
        return self.value is not None

    @property
    def tokens(self) -> int:
        """Input plus output tokens of every attempt, both roles."""
        total = 0
        for role in ("local", "cloud"):
            counters = self.usage.get(role)  # type: ignore[call-overload]
            if counters:
                total += counters["input_tokens"] + counters["output_tokens"]
        return total


# --------------------------------------------------------------------------------------------------
# Client-specific knobs


def _client_kind(model: BaseChatModel) -> str:
    from langgraph_cloudlocal.models import RoundRobinChatModel

    if isinstance(model, RoundRobinChatModel):
        return _client_kind(model.replicas[0])
    name = type(model).__name__
    if name in ("ChatOpenAI", "AzureChatOpenAI"):
        return "openai"
    if name == "ChatOllama":
        return "ollama"
    return "other"


# ChatOllama's fields that it sends as Ollama's per-request ``options`` (langchain-ollama 1.1).
_OLLAMA_OPTION_FIELDS = (
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "num_predict",
    "repeat_last_n",
    "repeat_penalty",
    "temperature",
    "seed",
    "stop",
    "tfs_z",
    "top_k",
    "top_p",
)


def _ollama_options(model: BaseChatModel, *, num_predict: int) -> dict[str, Any]:
    """``options`` for one ChatOllama call with an output limit.

    ChatOllama has no per-call ``num_predict``: unknown call kwargs reach ``ollama.Client.chat()``, which
    rejects them (TypeError). A per-call ``options`` dict works but replaces the model's own options
    wholesale, so the model's temperature, seed, stop, ... are carried over.
    """
    replicas = getattr(model, "replicas", None)
    source = replicas[0] if replicas else model
    options = {name: getattr(source, name, None) for name in _OLLAMA_OPTION_FIELDS}
    options = {name: value for name, value in options.items() if value is not None}
    options["num_predict"] = num_predict
    return options


def bind_call_options(
    model: BaseChatModel,
    *,
    max_tokens: int | None = None,
    json_schema: dict[str, Any] | None = None,
    schema_name: str = "reply",
    logprobs: bool = False,
) -> Any:
    """Bind an output limit, a JSON schema and log-probabilities in each client's own terms.

    Args:
        model: The chat model.
        max_tokens: The most output tokens, or None for the client's default.
        json_schema: A JSON schema the reply must follow (constrained decoding), or None.
        schema_name: The schema's name (OpenAI's ``response_format`` needs one).
        logprobs: Ask for per-token log-probabilities.

    Returns:
        The model with those options bound, or the model itself when there are none.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(replies=["x"])
        >>> bind_call_options(model) is model
        True
        >>> bind_call_options(model, max_tokens=50).kwargs
        {'max_tokens': 50}
    """
    kind = _client_kind(model)
    kwargs: dict[str, Any] = {}
    if kind == "openai":
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": json_schema, "strict": False},
            }
        if logprobs:
            kwargs["logprobs"] = True
    elif kind == "ollama":
        if max_tokens:
            kwargs["options"] = _ollama_options(model, num_predict=max_tokens)
        if json_schema is not None:
            kwargs["format"] = json_schema
        if logprobs:
            kwargs["logprobs"] = True
    else:
        # Unknown clients get only what BaseChatModel understands everywhere.
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
    return model.bind(**kwargs) if kwargs else model


def usage_of(message: AIMessage, prompt_text: str) -> tuple[int, int, int]:
    """(input, output, cached) tokens of a reply; approximated as chars/4 when the client reports none.

    Args:
        message: The reply.
        prompt_text: The prompt's text (for the approximation).

    Returns:
        ``(input_tokens, output_tokens, cached_tokens)``.

    Example:
        >>> usage_of(AIMessage(content="Paris"), "What is the capital of France?")
        (8, 2, 0)
    """
    meta = message.usage_metadata
    if meta:
        details = meta.get("input_token_details") or {}
        return (
            int(meta.get("input_tokens", 0)),
            int(meta.get("output_tokens", 0)),
            int(details.get("cache_read", 0) or 0),
        )
    return approx_tokens(prompt_text), approx_tokens(_text_of(message)), 0


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _prompt_text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(_text_of(m) for m in messages)


_CONNECTION_ERRORS = (
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ResponseError",
)
_TIMEOUT_ERRORS = ("APITimeoutError", "ReadTimeout", "TimeoutException", "TimeoutError", "ConnectTimeout")


# How servers say that a prompt is longer than the context: llama.cpp ("exceeds the available context
# size", exceed_context_size_error), OpenAI (context_length_exceeded), vLLM ("maximum context length").
_CONTEXT_OVERFLOW = re.compile(
    r"exceed_context_size|context_length_exceeded|exceeds the available context|maximum context length"
    r"|context (?:window|length|size) (?:is )?exceeded|prompt is too long|too many tokens",
    re.IGNORECASE,
)


def prompt_too_long(resolved: ResolvedModel, prompt_tokens: int, detail: str) -> PromptTooLongError:
    """The error for a prompt that does not fit the model's context, with what to do about it.

    Args:
        resolved: The model that was called.
        prompt_tokens: The prompt's size (approximate tokens).
        detail: What the server said, or why the call was refused before sending.

    Returns:
        The error, to raise.

    Example:
        >>> from langgraph_cloudlocal.models import resolve_model
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> error = prompt_too_long(resolve_model(ScriptedChatModel(replies=["x"]), "local"), 9000, "n_ctx 4096")
        >>> error.role, "does not fit the context window" in str(error)
        ('local', True)
    """
    where = resolved.base_url or "its default URL"
    return PromptTooLongError(
        f"the prompt (~{prompt_tokens} tokens) does not fit the context window of {resolved.role} model "
        f"'{resolved.model_name}' at {where} ({detail}). Long documents: use MinionS (it reads them chunk by "
        "chunk), smaller chunks, or a larger context (llama.cpp: n_ctx; Ollama: num_ctx)",
        model=resolved.model_name,
        base_url=resolved.base_url,
        role=resolved.role,
    )


def _explain(exc: Exception, resolved: ResolvedModel, prompt_tokens: int = 0) -> ModelCallError | None:
    names = {cls.__name__ for cls in type(exc).__mro__}
    where = resolved.base_url or "its default URL"
    if _CONTEXT_OVERFLOW.search(str(exc)):
        return prompt_too_long(resolved, prompt_tokens, str(exc).strip().splitlines()[0][:300])
    hint = (
        "start it with `cloudlocal serve` (embedded models), `ollama serve` (Ollama), or check the URL"
        if resolved.role == "local"
        else "check the URL, OPENAI_BASE_URL / OPENAI_API_KEY, or start `cloudlocal serve` for the embedded stand-in"
    )
    if names & set(_TIMEOUT_ERRORS):
        return ModelCallError(
            f"{resolved.role} model '{resolved.model_name}' at {where} did not answer in time ({type(exc).__name__}); {hint}",
            model=resolved.model_name,
            base_url=resolved.base_url,
            role=resolved.role,
        )
    if names & set(_CONNECTION_ERRORS):
        return ModelCallError(
            f"cannot reach {resolved.role} model '{resolved.model_name}' at {where} ({type(exc).__name__}: {exc}); {hint}",
            model=resolved.model_name,
            base_url=resolved.base_url,
            role=resolved.role,
        )
    return None


def _message_from_cut_off_reply(exc: Exception) -> AIMessage | None:
    """The openai client raises instead of returning a structured reply cut off at the token limit;
    recover the text and usage so the tolerant parser and the ledger still see them."""
    completion = getattr(exc, "completion", None)
    if completion is None or type(exc).__name__ not in (
        "LengthFinishReasonError",
        "ContentFilterFinishReasonError",
    ):
        return None
    try:
        text = completion.choices[0].message.content or ""
    except (AttributeError, IndexError):
        text = ""
    usage = getattr(completion, "usage", None)
    metadata = None
    if usage is not None:
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
        metadata = {
            "input_tokens": int(usage.prompt_tokens),
            "output_tokens": int(usage.completion_tokens),
            "total_tokens": int(usage.prompt_tokens + usage.completion_tokens),
            "input_token_details": {"cache_read": cached},
        }
    response_metadata: dict[str, Any] = {"finish_reason": "length"}
    try:  # keep the token log-probabilities (AdaSwitch's logprob verifier reads them)
        logprobs = completion.choices[0].logprobs
    except (AttributeError, IndexError):
        logprobs = None
    if logprobs is not None:
        response_metadata["logprobs"] = logprobs.model_dump() if hasattr(logprobs, "model_dump") else logprobs
    return AIMessage(content=text, usage_metadata=metadata, response_metadata=response_metadata)


# --------------------------------------------------------------------------------------------------
# Calls


def call_text(
    resolved: ResolvedModel,
    messages: Sequence[BaseMessage],
    *,
    max_tokens: int | None = None,
    logprobs: bool = False,
    config: dict[str, Any] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> CallResult:
    """One plain chat call; raises :class:`ModelCallError` when the server cannot be reached.
    ``on_text(text_so_far)`` makes it a streamed call, told the reply as it grows.

    Args:
        resolved: The model to call.
        messages: The messages to send.
        max_tokens: The most output tokens, or None for the client's default.
        logprobs: Ask for per-token log-probabilities (in ``message.response_metadata``).
        config: The runnable config (callbacks, tags), if any.
        on_text: Told the reply so far as it streams; None for a plain call.

    Returns:
        The reply's text, message, usage and time.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langgraph_cloudlocal.models import resolve_model
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> local = resolve_model(ScriptedChatModel(replies=["Paris"]), "local")
        >>> call_text(local, [HumanMessage("Capital of France?")]).text
        'Paris'
    """
    runnable = bind_call_options(resolved.model, max_tokens=max_tokens, logprobs=logprobs)
    return _invoke(resolved, runnable, messages, config=config, on_text=on_text)


def _invoke(
    resolved: ResolvedModel,
    runnable: Any,
    messages: Sequence[BaseMessage],
    *,
    config: dict[str, Any] | None,
    on_text: Callable[[str], None] | None = None,
) -> CallResult:
    """Send one request (streamed when ``on_text`` is given, which is told the reply text so far). A cloud request's text goes into the usage it returns, so that the privacy
    report is measured from what was sent whatever the protocol (langgraph_cloudlocal.privacy)."""
    prompt = _prompt_text(messages)
    prompt_tokens = approx_tokens(prompt)
    if prompt_tokens > PROMPT_TOKEN_CEILING:
        raise prompt_too_long(
            resolved, prompt_tokens, f"refused before sending: above {PROMPT_TOKEN_CEILING} tokens"
        )
    started = time.perf_counter()
    resent = False  # a streamed request that failed empty was sent again, unstreamed
    try:
        with busy(resolved.role):
            if on_text is None:
                message = runnable.invoke(list(messages), config)
            else:
                message, resent = _streamed(resolved, runnable, messages, config, on_text)
    except Exception as exc:
        explained = _explain(exc, resolved, prompt_tokens)
        if explained is not None:
            raise explained from exc
        message = _message_from_cut_off_reply(exc)
        if message is None:
            raise
    seconds = time.perf_counter() - started
    if not isinstance(message, AIMessage):  # pragma: no cover - every chat model returns one
        message = AIMessage(content=str(message))
    input_tokens, output_tokens, cached = usage_of(message, prompt)
    usage = usage_delta(
        resolved.role,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        seconds=seconds,
        cloud_request=prompt if resolved.role == "cloud" else None,
    )
    if resent:  # the failed first request reached the server too: counted, its text measured
        usage = merge_usage(
            usage,
            usage_delta(
                resolved.role, failed=True, cloud_request=prompt if resolved.role == "cloud" else None
            ),
        )
    return CallResult(_text_of(message), message, usage, seconds)


def _streamed(
    resolved: ResolvedModel,
    runnable: Any,
    messages: Sequence[BaseMessage],
    config: dict[str, Any] | None,
    on_text: Callable[[str], None],
) -> tuple[AIMessage, bool]:
    """The reply of a streamed request, telling ``on_text`` its text as it grows; usage comes in the last
    chunk (OpenAI-compatible servers send it only when asked: ``stream_usage``)."""
    extra = {"stream_usage": True} if _client_kind(resolved.model) == "openai" else {}
    whole: AIMessageChunk | None = None
    try:
        for chunk in runnable.stream(list(messages), config, **extra):
            whole = chunk if whole is None else whole + chunk
            if _text_of(chunk):
                on_text(_text_of(whole))
    except AssertionError:
        if whole is not None:
            raise
        # The OpenAI client's structured-output stream fails on an empty response (a server that died
        # mid-request) with a bare assertion: ask once without streaming, whose errors callers understand.
        message = runnable.invoke(list(messages), config)
        if _text_of(message):
            on_text(_text_of(message))
        return message, True
    if whole is None:
        return AIMessage(content=""), False
    reply = AIMessage(
        content=whole.content,
        usage_metadata=whole.usage_metadata,
        response_metadata=whole.response_metadata,
        id=whole.id,
    )
    return reply, False


def call_structured(
    resolved: ResolvedModel,
    messages: Sequence[BaseMessage],
    schema: type[SchemaT],
    *,
    retries: int = 2,
    max_tokens: int | None = None,
    constrained: bool = True,
    logprobs: bool = False,
    config: dict[str, Any] | None = None,
    retry_refusal: RetryRefusal | None = None,
    on_text: Callable[[str], None] | None = None,
) -> StructuredResult[SchemaT]:
    """Ask for a ``schema`` object; repair, then retry with the error, up to ``retries`` more times.

    Returns a failed result (``value=None``) with the raw text instead of raising for bad output.
    Connection errors still raise :class:`ModelCallError` (the node's retry policy handles those).
    ``retry_refusal(usage_so_far, retry_prompt)`` is asked before each retry (a retry is a full call:
    the prompt again, plus the schema); a reason stops the retries there (budgets use it).
    ``on_text(text_so_far)`` streams each attempt's reply as it is written (a retry starts from "").

    Args:
        resolved: The model to call.
        messages: The messages to send.
        schema: The pydantic class of the reply.
        retries: How many more requests after the first when the reply cannot be parsed.
        max_tokens: The most output tokens per request, or None for the client's default.
        constrained: Send the schema as the reply's format (constrained decoding where supported).
        logprobs: Ask for per-token log-probabilities.
        config: The runnable config (callbacks, tags), if any.
        retry_refusal: Asked before each retry; a reason stops the retries.
        on_text: Told each attempt's reply so far as it streams.

    Returns:
        The parsed value (or None with the error), the raw replies, usage and attempts.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langgraph_cloudlocal.models import resolve_model
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> class Reply(BaseModel):
        ...     answer: str
        >>> local = resolve_model(ScriptedChatModel(replies=["no JSON", '{"answer": "Paris"}']), "local")
        >>> result = call_structured(local, [HumanMessage("Capital?")], Reply)
        >>> result.value.answer, result.attempts
        ('Paris', 2)
    """
    json_schema = schema.model_json_schema() if constrained else None
    runnable = bind_call_options(
        resolved.model,
        max_tokens=max_tokens,
        json_schema=json_schema,
        schema_name=schema.__name__,
        logprobs=logprobs,
    )
    conversation = list(messages)
    usage: RawUsage = {}
    raws: list[str] = []
    error: str | None = None
    message: AIMessage | None = None
    for attempt in range(1, retries + 2):
        if attempt > 1 and retry_refusal is not None:
            refused = retry_refusal(usage, _prompt_text(conversation))
            if refused:
                error = f"{error}; not asked again: {refused}"
                break
        result = _invoke(resolved, runnable, conversation, config=config, on_text=on_text)
        usage = merge_usage(usage, result.usage)
        raws.append(result.text)
        message = result.message
        value, error = parse_structured(result.text, schema)
        if value is not None:
            return StructuredResult(value, result.text, None, usage, attempt, raws, message)
        conversation = [
            *messages,
            AIMessage(content=result.text[:2000]),
            HumanMessage(
                content=(
                    f"That reply could not be used: {error}. Reply again with only one JSON object "
                    f"that matches this schema, no other text:\n{json.dumps(schema.model_json_schema())}"
                )
            ),
        ]
    failed = merge_usage(usage, {})
    failed[resolved.role]["failed_calls"] += 1  # type: ignore[literal-required]
    last = raws[-1] if raws else ""
    return StructuredResult(None, last, _with_raw_excerpt(error, last), failed, len(raws), raws, message)


# Characters of a failed call's last reply quoted in its error (which protocols record in decisions).
RAW_EXCERPT_CHARS = 200


def _with_raw_excerpt(error: str | None, raw: str) -> str | None:
    """The error of a call that failed for good, with the start of the raw reply, so that the failure
    recorded by a protocol (decision reason, job row) shows what the model actually said."""
    excerpt = raw.strip()
    if not excerpt:
        return error
    if len(excerpt) > RAW_EXCERPT_CHARS:
        excerpt = excerpt[:RAW_EXCERPT_CHARS] + "..."
    return f"{error}; the reply was: {json.dumps(excerpt, ensure_ascii=False)}"


# --------------------------------------------------------------------------------------------------
# Tolerant JSON parsing

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _candidates(text: str) -> list[str]:
    text = text.strip()
    found = [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    if start != -1:
        end = text.rfind("}")
        found.append(text[start : end + 1] if end > start else text[start:])
        found.append(text[start:])
    found.append(text)
    return [c for c in found if c]


def _close_truncated(text: str) -> str:
    """Close the strings, arrays and objects left open by a reply cut off at its token limit."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
    closed = text + ('"' if in_string else "")
    closed = re.sub(r",\s*$", "", closed.rstrip())
    closed = re.sub(r'[,{]\s*"[^"]*"\s*:?\s*$', lambda m: "{" if m.group(0).startswith("{") else "", closed)
    return closed + "".join(reversed(stack))


def _repairs(candidate: str) -> list[str]:
    fixed = re.sub(r",\s*([}\]])", r"\1", candidate)
    pythonic = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", fixed)))
    variants = [candidate, fixed, pythonic]
    if "'" in pythonic and '"' not in pythonic:
        variants.append(pythonic.replace("'", '"'))
    return variants


def parse_json_object(text: str) -> Any:
    """The first JSON value that can be read out of ``text``, after light repairs; raises ValueError.

    Args:
        text: A model's reply (JSON, perhaps in prose or a code fence, perhaps cut short).

    Returns:
        The JSON value.

    Raises:
        ValueError: No JSON object in the text, or none that could be repaired.

    Example:
        >>> parse_json_object('Sure: {"answer": "Paris", }')
        {'answer': 'Paris'}
        >>> parse_json_object('{"items": [1, 2')
        {'items': [1, 2]}
    """
    candidates = _candidates(text)
    for candidate in candidates:
        for variant in _repairs(candidate):
            try:
                return json.loads(variant)
            except (json.JSONDecodeError, RecursionError):
                continue
    # Only then assume truncation, closing the longest candidate first so no trailing item is dropped.
    for candidate in sorted(candidates, key=len, reverse=True):
        for variant in _repairs(candidate):
            try:
                return json.loads(_close_truncated(variant))
            except (json.JSONDecodeError, RecursionError):
                continue
    raise ValueError("no JSON object found" if "{" not in text else "the JSON could not be repaired")


def parse_structured(text: str, schema: type[SchemaT]) -> tuple[SchemaT | None, str | None]:
    """(value, None) on success, (None, error) otherwise.

    Args:
        text: A model's reply.
        schema: The pydantic class to validate it against.

    Returns:
        ``(value, None)`` when the reply parses and validates, else ``(None, error)``.

    Example:
        >>> class Reply(BaseModel):
        ...     answer: str
        >>> parse_structured('{"answer": "Paris"}', Reply)
        (Reply(answer='Paris'), None)
        >>> parse_structured("", Reply)
        (None, 'the reply was empty')
    """
    if not text or not text.strip():
        return None, "the reply was empty"
    try:
        data = parse_json_object(text)
    except ValueError as exc:
        return None, str(exc)
    fields = list(schema.model_fields)
    if not isinstance(data, dict):
        # A bare list or scalar where the schema has one field: wrap it.
        if len(fields) == 1:
            data = {fields[0]: data}
        else:
            return None, f"expected a JSON object, got {type(data).__name__}"
    try:
        return schema.model_validate(data), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return None, f"wrong fields or types ({problems})"
