"""``CloudLocalChatModel``: a local-cloud policy behind LangChain's ``BaseChatModel`` interface.

For code that takes a chat model (``create_react_agent``, LCEL chains, ``with_structured_output``)
rather than a graph. One instance, one policy:

* ``"cascade"`` (default): the local model answers; a verifier scores how likely that answer is wrong
  (the verifiers of AdaSwitch: self-reflection by the local model, the answer's token
  log-probabilities, the arithmetic check (no model call), or your own function); above ``threshold``
  the cloud model answers instead.
* ``"adaswitch"``: the AdaSwitch graph (step-wise escalation) runs on the conversation.
* ``"minion"``, ``"minions"``, ``"local-only"``, ``"cloud-only"``: that protocol's graph runs on the
  conversation (the last user message is the question).

For every policy but the cascade, **system messages are the documents**: they go to the local model only,
never to the cloud (as in the protocols themselves). The cascade sends the whole conversation to the
cloud when it escalates (it cannot tell documents from questions), and counts every character it sent
as ``private_chars_to_cloud``.

**Tools** (cascade only). The small local models served here (llama.cpp) return no native tool calls, so
a bound tool is offered as JSON-schema constrained output: the model replies
``{"action": "tool" | "answer", "tool", "arguments", "answer"}``, with ``arguments`` constrained to the
tool's own parameter schema, and the reply becomes ``AIMessage.tool_calls``. A proposal that names an
unknown tool, misses a required argument or cannot be parsed scores ``malformed_score`` (doubtful); a
doubtful proposal goes to the cloud, which answers the same way (``tool_calling="json"``) or with its
native tool calling (``tool_calling="native"``, for a real cloud API).

**What comes back.** ``response_metadata`` carries ``policy``, ``answered_by`` (``local`` / ``cloud``),
``usage`` (the graphs' usage report: tokens, calls and dollars per role, the cloud-only estimate) and
``decisions`` (``SwitchDecision`` records); ``usage_metadata`` counts the tokens of both roles. Each
decision is also traced as a child run tagged ``cloudlocal:<decision>`` and ``cloudlocal:<policy>``, and
written to LangGraph's ``custom`` stream when the model runs inside a graph node.

**Budgets.** ``budget=Budget(...)`` caps the cloud over the instance's whole life (``usage_so_far()``);
per call, pass ``budget=`` or ``max_cloud_tokens`` / ``max_cloud_usd`` / ``max_cloud_calls`` to
``invoke`` (or ``.bind(...)``). A refused escalation keeps the local answer (``budget_stop``).

**Streaming.** The cascade's cloud answer streams token by token; a local answer is checked before it is
shown, so it arrives as one chunk. Protocol policies stream the yardsticks' answers token by token and
the others' final answer as one chunk (their answers are written by structured calls).
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from langchain_core.callbacks import CallbackManager, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langgraph_cloudlocal.calls import (
    CallResult,
    _text_of,
    call_structured,
    call_text,
    usage_of,
)
from langgraph_cloudlocal.decisions import DECISION_EVENT, SwitchDecision, make_decision
from langgraph_cloudlocal.ledger import (
    Budget,
    PriceTable,
    RawUsage,
    approx_tokens,
    finalize_usage,
    merge_usage,
    usage_delta,
)
from langgraph_cloudlocal.models import ResolvedModel
from langgraph_cloudlocal.prompts.adaswitch import Verdict
from langgraph_cloudlocal.protocols.adaswitch import logprob_entries, logprob_score
from langgraph_cloudlocal.protocols.answer_stream import is_answer_token
from langgraph_cloudlocal.protocols.common import InputError, ModelRoles, usage_report
from langgraph_cloudlocal.protocols.step_checks import check_step

Policy = Literal["cascade", "adaswitch", "minion", "minions", "local-only", "cloud-only"]
POLICIES: tuple[str, ...] = ("cascade", "adaswitch", "minion", "minions", "local-only", "cloud-only")
CASCADE_VERIFIERS: tuple[str, ...] = ("self_reflection", "logprobs", "arithmetic", "callable")
# Per-call options this model understands (besides tools / tool_choice from bind_tools).
_CALL_OPTIONS = ("budget", "max_cloud_tokens", "max_cloud_usd", "max_cloud_calls", "threshold", "context")
# Options other LangChain code passes to every chat model; they mean nothing here.
_IGNORED_OPTIONS = ("parallel_tool_calls", "strict", "stream_options", "stream")

VerifierFn = Callable[[str, list[str], str], float]
_ANSWER_LINE = re.compile(r"answer\s*[:=]\s*(.+)", re.IGNORECASE)
"""``(conversation, [], reply) -> probability that the reply is wrong`` (AdaSwitch's signature)."""

VERIFY_SYSTEM = (
    'You check an assistant\'s reply to a user. Reply with JSON: verdict ("correct" or "wrong"), '
    "confidence (a number from 0 to 1: how sure you are of your verdict), reason (a few words)."
)


def _verify_messages(conversation: str, reply: str) -> list[BaseMessage]:
    return [
        SystemMessage(VERIFY_SYSTEM),
        HumanMessage(f"Conversation:\n{conversation}\n\nReply to check:\n{reply}\n\nIs this reply correct?"),
    ]


# --------------------------------------------------------------------------------------------------
# Conversations as text


def _role_label(message: BaseMessage) -> str:
    return {"human": "User", "ai": "Assistant", "system": "System", "tool": "Tool"}.get(message.type, "User")


def _message_line(message: BaseMessage) -> str:
    text = _text_of(message).strip()
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = "; ".join(
            f"{c['name']}({json.dumps(c['args'], ensure_ascii=False)})" for c in message.tool_calls
        )
        text = (text + "\n" if text else "") + f"(called {calls})"
    if isinstance(message, ToolMessage):
        return f"Tool result ({message.name or 'tool'}): {text}"
    return f"{_role_label(message)}: {text}"


def render_conversation(messages: Sequence[BaseMessage]) -> str:
    """The conversation as plain text, one ``Role: text`` line per message.

    Args:
        messages: The conversation.

    Returns:
        The lines, joined by newlines.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> print(render_conversation([HumanMessage("Hi"), AIMessage("Hello")]))
        User: Hi
        Assistant: Hello
    """
    return "\n".join(_message_line(m) for m in messages)


def _plain_messages(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Tool calls and tool results as plain text turns: servers without tool support (llama.cpp's
    small models, in JSON tool mode) reject ``tool`` roles."""
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            out.append(HumanMessage(_message_line(message)))
        elif isinstance(message, AIMessage) and message.tool_calls:
            out.append(AIMessage(_message_line(message).removeprefix("Assistant: ")))
        else:
            out.append(message)
    return out


def check_messages(messages: Any) -> list[BaseMessage]:
    """Validate a conversation before any model call (a clear :class:`InputError` otherwise).

    Args:
        messages: The conversation, as given.

    Returns:
        The messages, as a list.

    Raises:
        InputError: Not a non-empty list of chat messages, NUL bytes in a message, or no user message
            with text.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> check_messages([HumanMessage("Who signed?")])[0].content
        'Who signed?'
        >>> check_messages([])
        Traceback (most recent call last):
        ...
        langgraph_cloudlocal.protocols.common.InputError: messages must be a non-empty list of chat messages
    """
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise InputError("messages must be a non-empty list of chat messages")
    for index, message in enumerate(messages):
        if not isinstance(message, BaseMessage):
            raise InputError(f"message {index} is a {type(message).__name__}, not a chat message")
        if "\x00" in _text_of(message):
            raise InputError(f"message {index} contains NUL bytes: binary data passed as text?")
    if not any(m.type in ("human", "tool") and _text_of(m).strip() for m in messages):
        raise InputError("the conversation has no user message with text")
    return list(messages)


# --------------------------------------------------------------------------------------------------
# Tools as JSON-schema constrained output


def _tool_specs(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """OpenAI function specs (``{"name", "description", "parameters"}``) of the bound tools."""
    specs = []
    for tool in tools:
        spec = tool if isinstance(tool, Mapping) and "function" in tool else convert_to_openai_tool(tool)
        function = dict(spec["function"])
        function.setdefault("parameters", {"type": "object", "properties": {}})
        specs.append(function)
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"two bound tools share a name: {names}")
    return specs


def _forced_tool(tool_choice: Any, names: list[str]) -> tuple[bool, str | None]:
    """(must a tool be called, which one if named) from an OpenAI/LangChain ``tool_choice``."""
    if tool_choice in (None, "auto", False):
        return False, None
    if tool_choice == "none":
        raise InputError("tool_choice='none' with bound tools: call the model without tools instead")
    if tool_choice in ("any", "required", True):
        return True, None
    name = tool_choice
    if isinstance(tool_choice, Mapping):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    if not isinstance(name, str) or name not in names:
        raise InputError(f"tool_choice {tool_choice!r} names no bound tool; bound: {names}")
    return True, name


class _ToolReply(BaseModel):
    """A tool call or an answer, as the models write it (see :func:`_tool_reply_schema`)."""

    action: str = "tool"
    tool: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    answer: str = ""


def _tool_reply_schema(specs: list[dict[str, Any]], must_call: bool, only: str | None) -> type[_ToolReply]:
    """A schema class whose JSON schema constrains ``arguments`` to the tools' own parameters."""
    chosen = [s for s in specs if only is None or s["name"] == only]
    defs: dict[str, Any] = {}
    argument_schemas = []
    for spec in chosen:
        parameters = dict(spec["parameters"])
        defs.update(parameters.pop("$defs", {}) or {})
        argument_schemas.append(parameters)
    arguments = argument_schemas[0] if len(argument_schemas) == 1 else {"anyOf": argument_schemas}
    call_shape: dict[str, Any] = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["tool"]},
            "tool": {"type": "string", "enum": [s["name"] for s in chosen]},
            "arguments": arguments,
        },
        "required": ["action", "tool", "arguments"],
    }
    answer_shape = {
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["answer"]}, "answer": {"type": "string"}},
        "required": ["action", "answer"],
    }
    # Two shapes, so that a tool call carries no answer text and an answer no arguments (short replies).
    schema: dict[str, Any] = call_shape if must_call else {"anyOf": [call_shape, answer_shape]}
    if defs:
        schema["$defs"] = defs

    class ToolReply(_ToolReply):
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return schema

    return ToolReply


def _tools_prompt(specs: list[dict[str, Any]], must_call: bool, only: str | None) -> str:
    lines = [
        f"- {s['name']}: {s.get('description', '').strip()} Arguments (JSON schema): "
        f"{json.dumps(s['parameters'].get('properties', {}), ensure_ascii=False)}"
        for s in specs
        if only is None or s["name"] == only
    ]
    if must_call:
        how = f"You must call the tool {only}." if only else "You must call one of the tools."
        reply = 'Reply with JSON: {"action": "tool", "tool": name, "arguments": {...}}.'
    else:
        how = "Call a tool when you need it; once a tool result answers the request, answer the user."
        reply = (
            'Reply with JSON, either {"action": "tool", "tool": name, "arguments": {...}} or '
            '{"action": "answer", "answer": your reply to the user}.'
        )
    return "You can use these tools:\n" + "\n".join(lines) + f"\n{how} {reply}"


def _tool_problem(reply: Any, specs: list[dict[str, Any]]) -> str | None:
    """Why a proposed tool call cannot be run, or None."""
    spec = next((s for s in specs if s["name"] == reply.tool), None)
    if spec is None:
        return f"unknown tool {reply.tool!r}"
    missing = [k for k in spec["parameters"].get("required", []) if k not in reply.arguments]
    if missing:
        return f"tool {reply.tool} misses required argument(s) {missing}"
    return None


# --------------------------------------------------------------------------------------------------
# One reply of the policy


@dataclass
class _Reply:
    """What one call produced before it is wrapped into a message."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    answered_by: str = "local"
    finish_reason: str = "stop"  # "length" when the answering call stopped at its token limit
    ledger: RawUsage = field(default_factory=lambda: cast(RawUsage, {}))
    decisions: list[SwitchDecision] = field(default_factory=list)
    question: str = ""
    documents: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # A protocol's own privacy figures, measured from its cloud requests (its ledger stays in the graph).
    privacy: dict[str, Any] = field(default_factory=dict)
    # The cascade's escalations: characters of the conversation's messages it sent to the cloud.
    sent_chars: int = 0


@dataclass
class _Call:
    """One call's options, checked."""

    threshold: float
    budget: Budget
    context: dict[str, Any]
    tools: list[dict[str, Any]]
    must_call: bool
    only_tool: str | None


class CloudLocalChatModel(BaseChatModel):
    """A chat model whose answers come from a local-cloud policy (see the module docstring).

    ``CloudLocalChatModel(local="embedded:smollm2", cloud="openai:gpt-4o", policy="cascade",
    threshold=0.5)``; any ``BaseChatModel`` or model spec string works for either role.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> model = CloudLocalChatModel(
        ...     local=ScriptedChatModel(replies=["Paris"]),
        ...     cloud=ScriptedChatModel(replies=["Paris, France"]),
        ...     verifier="callable",
        ...     verifier_fn=lambda conversation, steps, reply: 0.9,  # doubtful: the cloud answers
        ... )
        >>> reply = model.invoke("Capital of France?")
        >>> reply.content, reply.response_metadata["answered_by"]
        ('Paris, France', 'cloud')
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    local: Any = None
    cloud: Any = None
    policy: Policy = "cascade"
    # Cascade and AdaSwitch: escalate when the verifier's probability that the answer is wrong is above it.
    threshold: float = 0.5
    verifier: Literal["self_reflection", "logprobs", "arithmetic", "callable"] = "self_reflection"
    verifier_fn: VerifierFn | None = None
    # The score of an answer whose verifier gave nothing usable (1.0: doubtful, escalate).
    malformed_score: float = 1.0
    logprob_rule: Literal["mean", "min"] = "mean"
    budget: Budget | None = None  # over the instance's life
    prices: PriceTable | None = None
    local_max_tokens: int = 512
    cloud_max_tokens: int = 1024
    verifier_max_tokens: int = 64
    structured_retries: int = 2
    tool_calling: Literal["json", "native"] = "json"  # how the cloud answers when tools are bound
    protocol_settings: dict[str, Any] = Field(default_factory=dict)  # defaults of the protocol graphs

    _roles: ModelRoles = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _spent: RawUsage = PrivateAttr(default_factory=lambda: cast(RawUsage, {}))
    _graph: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """Check the settings and resolve the models (pydantic calls this after validation).

        Args:
            context: Pydantic's validation context.

        Raises:
            InputError: An unknown policy or verifier, a value out of range, or a bad budget.
        """
        super().model_post_init(context)
        if self.policy not in POLICIES:
            raise InputError(f"policy must be one of {', '.join(POLICIES)}; got {self.policy!r}")
        _check_unit("threshold", self.threshold)
        _check_unit("malformed_score", self.malformed_score)
        if self.verifier not in CASCADE_VERIFIERS:
            raise InputError(f"verifier must be one of {', '.join(CASCADE_VERIFIERS)}; got {self.verifier!r}")
        if self.verifier == "callable" and self.verifier_fn is None:
            raise InputError("verifier='callable' needs verifier_fn=(conversation, [], reply) -> float")
        for name in ("local_max_tokens", "cloud_max_tokens", "verifier_max_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1")
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise InputError(f"budget must be a Budget, got {type(self.budget).__name__}")
        self._roles = ModelRoles(
            self.local, self.cloud, self.prices, cloud_required=self.policy != "local-only"
        )

    # ----------------------------------------------------------------------------------------------
    # BaseChatModel

    @property
    def _llm_type(self) -> str:
        return "cloudlocal"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "threshold": self.threshold,
            "local": self._roles.local.model_name,
            "cloud": self._roles.cloud.model_name,
        }

    @property
    def model_name(self) -> str:
        """``cloudlocal:<policy>``, with ``@<threshold>`` for the cascade and AdaSwitch."""
        suffix = f"@{self.threshold:g}" if self.policy in ("cascade", "adaswitch") else ""
        return f"cloudlocal:{self.policy}{suffix}"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` (cascade policy only); see the module docstring for how they are called.

        Args:
            tools: The tools (LangChain tools, functions, pydantic classes or OpenAI tool dicts).
            tool_choice: ``None``/``"auto"``, ``"any"``/``"required"``, or a tool's name.
            **kwargs: Other options to bind.

        Returns:
            This model with the tools bound.

        Raises:
            InputError: The policy is not the cascade, two tools share a name, or a bad ``tool_choice``.
        """
        if self.policy != "cascade":
            raise InputError(f"tools need the 'cascade' policy; this model's policy is {self.policy!r}")
        specs = [{"type": "function", "function": s} for s in _tool_specs(tools)]
        _forced_tool(tool_choice, [str(t["name"]) for t in _tool_specs(tools)])  # a bad choice fails now
        return self.bind(tools=specs, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = self.check_call_options(**kwargs)
        messages = check_messages(messages)
        reply = self._respond(messages, call, run_manager, on_token=None)
        message = self._finish(reply, run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        call = self.check_call_options(**kwargs)
        messages = check_messages(messages)
        streamed: list[str] = []
        for item in self._respond_streaming(messages, call, run_manager):
            if isinstance(item, str):
                streamed.append(item)
                yield ChatGenerationChunk(message=AIMessageChunk(content=item))
                continue
            reply: _Reply = item
            final = self._finish(reply, run_manager)
            rest = reply.text[len("".join(streamed)) :] if reply.text.startswith("".join(streamed)) else ""
            tool_call_chunks = [
                tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(reply.tool_calls)
            ]
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=rest,
                    tool_call_chunks=tool_call_chunks,
                    usage_metadata=final.usage_metadata,
                    response_metadata=final.response_metadata,
                    chunk_position="last",
                )
            )

    # ----------------------------------------------------------------------------------------------
    # Usage over the instance's life

    def usage_so_far(self) -> dict[str, Any]:
        """The usage report of every call this instance has made (the instance budget counts this)."""
        with self._lock:
            raw = merge_usage(self._spent, {})
        return finalize_usage(
            raw,
            local_model=self._roles.local.model_name,
            cloud_model=self._roles.cloud.model_name,
            prices=self._roles.prices,
        )

    # ----------------------------------------------------------------------------------------------
    # Internals

    def check_call_options(self, **kwargs: Any) -> _Call:
        """Check per-call options (``budget``, ``max_cloud_*``, ``threshold``, ``context``, bound tools)
        before any model call; raises :class:`InputError` with what is wrong.

        Args:
            **kwargs: The call's options.

        Returns:
            The options, checked (threshold, budget, context and tools).

        Raises:
            InputError: An unknown option or a bad value.
        """
        unknown = sorted(
            k for k in kwargs if k not in (*_CALL_OPTIONS, "tools", "tool_choice", *_IGNORED_OPTIONS)
        )
        unknown = [k for k in unknown if not k.startswith("ls_")]
        if unknown:
            raise InputError(f"unknown option(s) {unknown}; this model takes {', '.join(_CALL_OPTIONS)}")
        threshold = kwargs.get("threshold", self.threshold)
        _check_unit("threshold", threshold)
        budget = kwargs.get("budget") or Budget()
        if not isinstance(budget, Budget):
            raise InputError(f"budget must be a Budget, got {type(budget).__name__}")
        caps = {k: kwargs[k] for k in ("max_cloud_tokens", "max_cloud_usd", "max_cloud_calls") if k in kwargs}
        budget = budget.merged_with(Budget(**caps))
        context = kwargs.get("context") or {}
        if not isinstance(context, Mapping):
            raise InputError("context must be a dict of run settings")
        tools = [t["function"] if "function" in t else t for t in (kwargs.get("tools") or [])]
        must_call, only = (
            _forced_tool(kwargs.get("tool_choice"), [t["name"] for t in tools]) if tools else (False, None)
        )
        return _Call(float(threshold), budget, dict(context), tools, must_call, only)

    def _child_config(self, run_manager: CallbackManagerForLLMRun | None, role: str) -> dict[str, Any]:
        """Inner calls are traced under this run but never stream into LangGraph's ``messages`` mode
        (the caller sees this model's answer, not the drafts)."""
        config: dict[str, Any] = {"tags": [TAG_NOSTREAM, f"cloudlocal:{role}"]}
        if run_manager is not None:
            config["callbacks"] = _child_callbacks(run_manager)
        return config

    def _decide(
        self,
        run_manager: CallbackManagerForLLMRun | None,
        decision: str,
        reason: str,
        *,
        score: float | None = None,
        threshold: float | None = None,
        tokens: int = 0,
    ) -> SwitchDecision:
        record = make_decision(
            self.policy, "chat_model", decision, reason, score=score, threshold=threshold, tokens=tokens
        )
        _publish(record, run_manager)
        return record

    def _spent_with(self, ledger: RawUsage) -> RawUsage:
        with self._lock:
            return merge_usage(self._spent, ledger)

    def _refusal(self, call: _Call, ledger: RawUsage, prompt: str) -> str | None:
        """Why the next cloud call must not happen (the instance budget, then the call's), or None."""
        price = self._roles.prices.for_model("cloud", self._roles.cloud.model_name)
        tokens = approx_tokens(prompt)
        if self.budget is not None:
            reason = self.budget.refusal(
                self._spent_with(ledger), next_input_tokens=tokens, cloud_price=price
            )
            if reason:
                return f"instance budget: {reason}"
        reason = call.budget.refusal(ledger, next_input_tokens=tokens, cloud_price=price)
        return f"call budget: {reason}" if reason else None

    def _respond(
        self,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
        on_token: Callable[[str], None] | None,
    ) -> _Reply:
        if self.policy == "cascade":
            return self._cascade(messages, call, run_manager, on_token)
        return self._protocol(messages, call, run_manager, on_token)

    def _respond_streaming(
        self,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
    ) -> Iterator[str | _Reply]:
        """Run the policy in a worker thread and yield its tokens as they come, then the reply."""
        import queue

        from langchain_core.runnables.config import ContextThreadPoolExecutor

        out: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                out.put(
                    ("reply", self._respond(messages, call, run_manager, lambda t: out.put(("token", t))))
                )
            except BaseException as exc:  # re-raised in the caller's thread
                out.put(("error", exc))

        with ContextThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(work)
            while True:
                kind, value = out.get()
                if kind == "token":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    yield value
                    return

    def _finish(self, reply: _Reply, run_manager: CallbackManagerForLLMRun | None) -> AIMessage:
        """Record the call's usage on the instance and wrap the reply into a message."""
        with self._lock:
            self._spent = merge_usage(self._spent, reply.ledger)
        local, cloud = self._roles.local, self._roles.cloud
        usage = usage_report(
            reply.ledger,
            local,
            cloud,
            self._roles.prices,
            question=reply.question,
            documents=reply.documents,
            answer=reply.text or json.dumps([c["args"] for c in reply.tool_calls]),
        )
        if self.policy == "cascade":
            # The cascade cannot tell documents from questions: what it sent to the cloud is counted.
            usage["private_chars_to_cloud"] = reply.sent_chars
        usage.update(reply.privacy)
        merged = merge_usage(reply.ledger, {})
        per_role = [cast(Mapping[str, Any], merged.get(r) or {}) for r in ("local", "cloud")]
        input_tokens = sum(int(u.get("input_tokens", 0)) for u in per_role)
        output_tokens = sum(int(u.get("output_tokens", 0)) for u in per_role)
        cached = sum(int(u.get("cached_tokens", 0)) for u in per_role)
        return AIMessage(
            content=reply.text,
            tool_calls=reply.tool_calls,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "input_token_details": {"cache_read": cached},
            },
            response_metadata={
                "model_name": self.model_name,
                "policy": self.policy,
                "answered_by": reply.answered_by,
                "finish_reason": "tool_calls" if reply.tool_calls else reply.finish_reason,
                "usage": usage,
                "decisions": list(reply.decisions),
                **reply.extra,
            },
        )

    # ----------------------------------------------------------------------------------------------
    # The cascade

    def _score(
        self,
        call: _Call,
        conversation: str,
        draft_text: str,
        draft_message: AIMessage | None,
        run_manager: CallbackManagerForLLMRun | None,
    ) -> tuple[float | None, str, RawUsage, int]:
        """(probability the draft is wrong or None, explanation, usage, tokens) from the verifier."""
        if self.verifier == "logprobs":
            entries = logprob_entries(draft_message)
            if entries is None:
                return None, "the local model returned no token log-probabilities", {}, 0
            score = logprob_score([float(e["logprob"]) for e in entries], self.logprob_rule)
            return score, f"logprobs: {self.logprob_rule} over {len(entries)} tokens", {}, 0
        if self.verifier == "arithmetic":
            # AdaSwitch's no-model check over the whole draft: a false equation, or a number (the final
            # answer included) that no calculation and no given text explains, is doubtful.
            final = _ANSWER_LINE.findall(draft_text)
            check = check_step([conversation], draft_text, final[-1] if final else None)
            return check.score, check.reason, {}, 0
        if self.verifier == "callable":
            assert self.verifier_fn is not None
            try:
                value = self.verifier_fn(conversation, [], draft_text)
            except Exception as exc:  # a user callable must not crash the call
                return None, f"verifier_fn raised {type(exc).__name__}: {exc}", {}, 0
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                return None, f"verifier_fn returned {value!r}, not a number between 0 and 1", {}, 0
            return float(value), "verifier_fn", {}, 0
        result = call_structured(
            self._roles.local,
            _verify_messages(conversation, draft_text),
            Verdict,
            retries=self.structured_retries,
            max_tokens=self.verifier_max_tokens,
            config=self._child_config(run_manager, "verifier"),
        )
        if result.value is None:
            return None, f"the verdict could not be read ({result.error})", result.usage, result.tokens
        verdict = result.value
        return verdict.wrong_probability(), verdict.explanation(), result.usage, result.tokens

    def _cascade(
        self,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
        on_token: Callable[[str], None] | None,
    ) -> _Reply:
        conversation = render_conversation(messages)
        reply = _Reply(question=conversation)
        logprobs = self.verifier == "logprobs"
        # 1. The local model drafts.
        if call.tools:
            draft, problem, result_usage, draft_message, tokens = self._tool_draft(
                self._roles.local, messages, call, run_manager, logprobs=logprobs
            )
        else:
            result = call_text(
                self._roles.local,
                _plain_messages(messages),
                max_tokens=self.local_max_tokens,
                logprobs=logprobs,
                config=self._child_config(run_manager, "local"),
            )
            draft, problem, result_usage, draft_message, tokens = (
                _Reply(text=result.text.strip(), finish_reason=_finish_reason(result.message)),
                None if result.text.strip() else "the local reply was empty",
                result.usage,
                result.message,
                result.tokens,
            )
        reply.ledger = merge_usage(reply.ledger, result_usage)
        draft_text = draft.text if not draft.tool_calls else _describe_tool_calls(draft.tool_calls)
        # 2. The verifier scores it (a draft that cannot be used is doubtful without asking).
        if problem is None:
            score, explanation, verify_usage, verify_tokens = self._score(
                call, conversation, draft_text, draft_message, run_manager
            )
            reply.ledger = merge_usage(reply.ledger, verify_usage)
            tokens += verify_tokens
            if score is None:
                reply.decisions.append(
                    self._decide(
                        run_manager,
                        "verifier_malformed",
                        f"{self.verifier} verifier gave no usable score ({explanation}); "
                        f"the reply scores {self.malformed_score:.2f}",
                        score=self.malformed_score,
                        threshold=call.threshold,
                        tokens=verify_tokens,
                    )
                )
                score, explanation = self.malformed_score, f"fallback score ({explanation})"
        else:
            score, explanation = self.malformed_score, problem
        comparison = (
            f"score {score:.2f} {'>' if score > call.threshold else '<='} threshold {call.threshold:.2f}"
        )
        # 3. Keep the draft, or escalate to the cloud.
        cloud_messages = (
            _plain_messages(messages) if self.tool_calling == "json" or not call.tools else messages
        )
        refusal = None
        if score > call.threshold:
            refusal = self._refusal(call, reply.ledger, render_conversation(cloud_messages))
        if score <= call.threshold or refusal:
            if refusal:
                reply.decisions.append(
                    self._decide(run_manager, "budget_stop", f"{comparison} ({explanation}), but {refusal}")
                )
            reply.decisions.append(
                self._decide(
                    run_manager,
                    "accept",
                    f"{comparison} ({explanation})" + ("; the cloud budget is spent" if refusal else ""),
                    score=score,
                    threshold=call.threshold,
                    tokens=tokens,
                )
            )
            reply.text, reply.tool_calls, reply.answered_by = draft.text, draft.tool_calls, "local"
            reply.finish_reason = draft.finish_reason
            return reply
        reply.decisions.append(
            self._decide(
                run_manager,
                "escalate",
                f"{comparison} ({explanation}): the cloud answers",
                score=score,
                threshold=call.threshold,
                tokens=tokens,
            )
        )
        sent_chars = sum(len(_text_of(m)) for m in cloud_messages)
        reply.sent_chars += sent_chars
        if call.tools:
            if self.tool_calling == "native":
                final, usage = self._native_tool_call(cloud_messages, call, run_manager, sent_chars)
                problem = None
            else:
                final, problem, usage, _, _ = self._tool_draft(self._roles.cloud, messages, call, run_manager)
        else:
            text, usage, finish = self._cloud_text(cloud_messages, run_manager, on_token, sent_chars)
            final, problem = (
                _Reply(text=text, finish_reason=finish),
                None,
            )  # as streamed: the chunks join to it
        reply.ledger = merge_usage(reply.ledger, usage)
        if problem is not None:
            reply.decisions.append(
                self._decide(
                    run_manager,
                    "cloud_failed",
                    f"the cloud's reply could not be used ({problem}); the local draft is kept",
                )
            )
            reply.text, reply.tool_calls, reply.answered_by = draft.text, draft.tool_calls, "local"
            reply.finish_reason = draft.finish_reason
            return reply
        reply.text, reply.tool_calls, reply.answered_by = final.text, final.tool_calls, "cloud"
        reply.finish_reason = final.finish_reason
        return reply

    def _cloud_text(
        self,
        messages: list[BaseMessage],
        run_manager: CallbackManagerForLLMRun | None,
        on_token: Callable[[str], None] | None,
        sent_chars: int,
    ) -> tuple[str, RawUsage, str]:
        """The cloud's answer, its usage and finish reason; streamed token by token to ``on_token`` when given."""
        cloud = self._roles.cloud
        if on_token is None:
            result: CallResult = call_text(
                cloud,
                messages,
                max_tokens=self.cloud_max_tokens,
                config=self._child_config(run_manager, "cloud"),
            )
            return result.text, result.usage, _finish_reason(result.message)
        import time

        from langgraph_cloudlocal.calls import bind_call_options

        runnable = bind_call_options(cloud.model, max_tokens=self.cloud_max_tokens)
        started = time.perf_counter()
        total: AIMessageChunk | None = None
        for chunk in runnable.stream(messages, self._child_config(run_manager, "cloud")):
            total = chunk if total is None else total + chunk
            piece = _text_of(chunk)
            if piece:
                on_token(piece)
        seconds = time.perf_counter() - started
        message = total if total is not None else AIMessageChunk(content="")
        input_tokens, output_tokens, cached = usage_of(message, render_conversation(messages))
        usage = usage_delta(
            "cloud",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached,
            seconds=seconds,
            cloud_request=render_conversation(messages),
        )
        return _text_of(message), usage, _finish_reason(message)

    def _tool_draft(
        self,
        model: ResolvedModel,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
        *,
        logprobs: bool = False,
    ) -> tuple[_Reply, str | None, RawUsage, AIMessage | None, int]:
        """A JSON tool call (or answer) from ``model``: (reply, problem or None, usage, message, tokens)."""
        schema = _tool_reply_schema(call.tools, call.must_call, call.only_tool)
        prompt = [
            SystemMessage(_tools_prompt(call.tools, call.must_call, call.only_tool)),
            *_plain_messages(messages),
        ]
        if isinstance(messages[-1], ToolMessage) and not call.must_call:
            # Small models call the same tool again and again; say what a result is for.
            last = _text_of(prompt[-1])
            prompt[-1] = HumanMessage(f'{last}\nIf this answers the request, reply with action "answer".')
        result = call_structured(
            model,
            prompt,
            schema,
            retries=self.structured_retries,
            max_tokens=self.local_max_tokens if model.role == "local" else self.cloud_max_tokens,
            logprobs=logprobs,
            config=self._child_config(run_manager, model.role),
        )
        value = result.value
        if value is None:
            return (
                _Reply(text=result.raw.strip()),
                f"no usable reply ({result.error})",
                result.usage,
                result.message,
                result.tokens,
            )
        if value.action == "answer" and not call.must_call:
            text = value.answer.strip()
            return (
                _Reply(text=text),
                None if text else "an empty answer",
                result.usage,
                result.message,
                result.tokens,
            )
        problem = _tool_problem(value, call.tools)
        tool_calls = (
            []
            if problem
            else [
                {
                    "name": value.tool,
                    "args": value.arguments,
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "tool_call",
                }
            ]
        )
        return _Reply(tool_calls=tool_calls), problem, result.usage, result.message, result.tokens

    def _native_tool_call(
        self,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
        sent_chars: int,
    ) -> tuple[_Reply, RawUsage]:
        cloud = self._roles.cloud
        choice: Any = call.only_tool or ("any" if call.must_call else None)
        bound = cloud.model.bind_tools(
            [{"type": "function", "function": t} for t in call.tools], tool_choice=choice
        )
        result = call_text(
            ResolvedModel("cloud", bound, cloud.model_name, cloud.base_url, cloud.spec),  # type: ignore[arg-type]
            messages,
            max_tokens=self.cloud_max_tokens,
            config=self._child_config(run_manager, "cloud"),
        )
        message = result.message
        tool_calls = [dict(c) for c in message.tool_calls] if message is not None else []
        return _Reply(text=result.text.strip(), tool_calls=tool_calls), result.usage

    # ----------------------------------------------------------------------------------------------
    # Protocol policies

    def protocol_graph(self) -> Any:
        """The compiled graph behind a protocol policy (built once, on first use)."""
        with self._lock:
            if self._graph is None:
                from langgraph_cloudlocal.protocols import protocol_factory

                factory = protocol_factory(self.policy)
                settings = dict(self.protocol_settings)
                if self.policy == "adaswitch":
                    settings.setdefault("threshold", self.threshold)
                    if self.verifier_fn is not None:
                        settings["verifier_fn"] = self.verifier_fn
                    else:
                        settings.setdefault("verifier", self.verifier)
                self._graph = factory(self.local, self.cloud, prices=self.prices, **settings)
            return self._graph

    def _remaining_caps(self, call: _Call) -> dict[str, Any]:
        """The protocol's per-run budget: the call's caps and what is left of the instance's."""
        budget = call.budget
        if self.budget is not None and not self.budget.unlimited:
            spent = self.usage_so_far()
            left = Budget(
                None
                if self.budget.max_cloud_tokens is None
                else max(0, self.budget.max_cloud_tokens - spent["cloud_tokens"]),
                None
                if self.budget.max_cloud_usd is None
                else max(0.0, self.budget.max_cloud_usd - spent["cloud_cost_usd"]),
                None
                if self.budget.max_cloud_calls is None
                else max(0, self.budget.max_cloud_calls - spent["cloud_calls"]),
            )
            budget = budget.merged_with(left)
        caps = {
            "max_cloud_tokens": budget.max_cloud_tokens,
            "max_cloud_usd": budget.max_cloud_usd,
            "max_cloud_calls": budget.max_cloud_calls,
        }
        return {k: v for k, v in caps.items() if v is not None}

    def _protocol(
        self,
        messages: list[BaseMessage],
        call: _Call,
        run_manager: CallbackManagerForLLMRun | None,
        on_token: Callable[[str], None] | None,
    ) -> _Reply:
        if call.tools:
            raise InputError(f"tools need the 'cascade' policy; this model's policy is {self.policy!r}")
        documents = [_text_of(m) for m in messages if m.type == "system" and _text_of(m).strip()]
        turns = [m for m in messages if m.type != "system"]
        question = _text_of(turns[-1]).strip() if turns else ""
        if not question:
            raise InputError("the last message must be a user message with the question")
        if len(turns) > 1:
            # Earlier turns travel with the question (the cloud may see them; the documents stay local).
            question = f"Conversation so far:\n{render_conversation(turns[:-1])}\n\nQuestion: {question}"
        context = call.context | self._remaining_caps(call)
        if self.policy == "adaswitch" and call.threshold != self.threshold:
            context.setdefault("threshold", call.threshold)
        graph = self.protocol_graph()
        config: dict[str, Any] = {"tags": [TAG_NOSTREAM, f"cloudlocal:{self.policy}"]}
        if run_manager is not None:
            config["callbacks"] = _without_message_streaming(_child_callbacks(run_manager))
        modes = ["values", "custom"] + (["messages"] if on_token is not None else [])
        if "messages" in modes:
            config["tags"] = [f"cloudlocal:{self.policy}"]  # the graph's answer tokens stream
        final: dict[str, Any] = {}
        for mode, payload in graph.stream(
            {"question": question, "documents": documents}, config, context=context or None, stream_mode=modes
        ):
            if mode == "values":
                final = payload
            elif mode == "custom" and isinstance(payload, Mapping) and payload.get("type") == DECISION_EVENT:
                _forward(payload)
            elif mode == "messages" and on_token is not None:
                chunk, meta = payload
                if is_answer_token(meta) and _text_of(chunk):
                    on_token(_text_of(chunk))
        usage = final.get("usage") or {}
        ledger = _ledger_from_report(usage)
        extra: dict[str, Any] = {k: final[k] for k in ("steps", "transcript") if k in final}
        return _Reply(
            text=str(final.get("answer", "")).strip(),
            answered_by=self.policy,
            ledger=ledger,
            decisions=list(final.get("decisions") or []),
            question=question,
            documents=documents,
            extra=extra,
            privacy={k: v for k, v in usage.items() if k in PRIVACY_KEYS},
        )


def _child_callbacks(run_manager: CallbackManagerForLLMRun) -> CallbackManager:
    """Callbacks for runs nested under this model's run (a chat model's run manager has no
    ``get_child``; this does what the chain run managers' does)."""
    manager = CallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _finish_reason(message: BaseMessage | None) -> str:
    """OpenAI's finish reason of a reply: "length" when it stopped at its token limit, else "stop"."""
    reason = (message.response_metadata or {}).get("finish_reason") if message is not None else None
    return "length" if reason in ("length", "max_tokens") else "stop"


def _check_unit(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InputError(f"{name} must be a number between 0 and 1, got {value!r}")


def _describe_tool_calls(tool_calls: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"call tool {c['name']} with {json.dumps(c['args'], ensure_ascii=False)}" for c in tool_calls
    )


PRIVACY_KEYS = (
    "private_chars_to_cloud",
    "quoted_chars_to_cloud",
    "sensitive_values_to_cloud",
    "sensitive_values_total",
    "cloud_requests_measured",
    "privacy_measure",
)


def _ledger_from_report(usage: Mapping[str, Any]) -> RawUsage:
    """Raw counters back from a protocol's usage report (to add it to the instance's spend)."""
    raw: dict[str, Any] = {}
    for role in ("local", "cloud"):
        counters = usage.get(role)
        if counters:
            raw[role] = {
                k: counters.get(k, 0)
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "cached_tokens",
                    "calls",
                    "failed_calls",
                    "seconds",
                )
            }
    return merge_usage(raw, {})


def _without_message_streaming(manager: Any) -> Any:
    """A copy of a callback manager without LangGraph's ``messages``-mode handler: the inner graph's
    model calls must not stream into the caller's graph (this model streams its own answer)."""
    for handler in list(manager.handlers):
        if type(handler).__name__ == "StreamMessagesHandler":
            manager.remove_handler(handler)
    return manager


def _trace(decision: SwitchDecision) -> SwitchDecision:
    return decision


def _publish(decision: SwitchDecision, run_manager: CallbackManagerForLLMRun | None) -> None:
    """A decision as a traced child run (tags and metadata) and on the surrounding graph's custom stream."""
    config: RunnableConfig = {
        "run_name": f"cloudlocal:{decision['decision']}",
        "tags": [f"cloudlocal:{decision['decision']}", f"cloudlocal:{decision['protocol']}", TAG_NOSTREAM],
        "metadata": {f"cloudlocal_{k}": v for k, v in decision.items() if v is not None},
    }
    if run_manager is not None:
        config["callbacks"] = _child_callbacks(run_manager)
    RunnableLambda(_trace, name=f"cloudlocal:{decision['decision']}").invoke(decision, config)
    _forward({"type": DECISION_EVENT, **decision})


DecisionListener = Callable[[dict[str, Any]], None]
_decision_listener: contextvars.ContextVar[DecisionListener | None] = contextvars.ContextVar(
    "cloudlocal_decision_listener", default=None
)


@contextmanager
def listening_to_decisions(listener: DecisionListener) -> Iterator[None]:
    """Tell ``listener(decision)`` each switching decision a :class:`CloudLocalChatModel` makes in this
    context, as it is made (the threads the model starts inherit the context).

    Args:
        listener: called with each decision (a ``SwitchDecision`` dict), from the thread that made it.

    Yields:
        Nothing; the listener is told until the block ends.

    Example:
        >>> with listening_to_decisions(print):  # doctest: +SKIP
        ...     CloudLocalChatModel(local=..., cloud=..., policy="minions").invoke(messages)
    """
    token = _decision_listener.set(listener)
    try:
        yield
    finally:
        _decision_listener.reset(token)


def _forward(event: Mapping[str, Any]) -> None:
    listener = _decision_listener.get()
    if listener is not None and event.get("type") == DECISION_EVENT:
        listener({k: v for k, v in event.items() if k != "type"})
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except (RuntimeError, ImportError, KeyError):  # not inside a graph node
        return
    writer(dict(event))


__all__ = [
    "POLICIES",
    "CloudLocalChatModel",
    "Policy",
    "VerifierFn",
    "check_messages",
    "listening_to_decisions",
    "render_conversation",
]
