"""Scripted chat models for testing graphs without a model server (used by this project's unit tests,
and handy for yours). They return usage like real clients and accept every binding the protocols use
(output limits, JSON schemas, log-probabilities)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

__all__ = [
    "Responder",
    "ScriptedChatModel",
]


Responder = Callable[[list[BaseMessage]], str]
"""A function from the messages of a call to the reply text."""


def _text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(m.content if isinstance(m.content, str) else str(m.content) for m in messages)


class ScriptedChatModel(BaseChatModel):
    """Answers from a script: a list of replies used in turn, or a function of the messages.

    Usage is reported as ``len(text) // 4`` tokens (at least 1) each way, so tests can predict totals.
    ``error`` (an exception instance) is raised on every call instead, to simulate a dead server.

    Attributes:
        replies: Replies used in turn; the last one repeats once the list is used up.
        responder: Instead of ``replies``, a function ``messages -> reply`` (for concurrent calls
            whose order is not fixed).
        model_name: The model name reported (and priced) in usage.
        error: An exception raised by every call.
        logprob: When set, each reply carries per-token log-probabilities of this value.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(replies=["first", "second"])
        >>> model.invoke("hello").content, model.invoke("again").content, model.invoke("more").content
        ('first', 'second', 'second')
        >>> model.calls[0]["prompt"], model.invoke("x").usage_metadata["input_tokens"]
        ('hello', 1)
    """

    replies: list[str] = []
    responder: Responder | None = None
    model_name: str = "scripted"
    error: Exception | None = None
    logprob: float | None = None  # when set, each reply carries per-token log-probabilities of this value
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _index: int = PrivateAttr(default=0)
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "cloudlocal-scripted"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every call made, in order.

        Returns:
            ``{"prompt": text, "kwargs": bound options, "reply": text}`` per call.
        """
        return list(self._calls)

    def _next_reply(self, messages: list[BaseMessage]) -> str:
        if self.responder is not None:
            return self.responder(messages)
        with self._lock:
            if not self.replies:
                raise AssertionError("ScriptedChatModel has no replies left")
            reply = self.replies[min(self._index, len(self.replies) - 1)]
            self._index += 1
            return reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.error is not None:
            raise self.error
        reply = self._next_reply(messages)
        prompt = _text(messages)
        with self._lock:
            self._calls.append({"prompt": prompt, "kwargs": kwargs, "reply": reply})
        input_tokens = max(1, len(prompt) // 4)
        output_tokens = max(1, len(reply) // 4)
        metadata: dict[str, Any] = {}
        if self.logprob is not None:
            tokens = reply.split() or [reply]
            metadata["logprobs"] = {"content": [{"token": t, "logprob": self.logprob} for t in tokens]}
        message = AIMessage(
            content=reply,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata=metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
