"""A protocol's final answer, streamed token by token on LangGraph's ``messages`` stream mode.

The protocols write their answers inside JSON replies (``{"working": ..., "decision": ..., "answer": ...}``),
so the model's raw tokens are not the answer. :class:`AnswerStream` reads the reply as it grows and passes
on only the answer field's new characters, as the tokens of a chat-model run named ``answer`` tagged
:data:`ANSWER_TAG`. ``graph.stream(..., stream_mode="messages")`` then yields them like any model's tokens,
with ``metadata["tags"]`` holding the tag and ``metadata["langgraph_node"]`` the node that wrote the answer.

When the harness replaces what the model wrote (an arithmetic correction, a local fallback, a retry after
an unreadable reply), the replacement is sent as a new message: the last message of the ``answer`` runs
is always the protocol's answer, and its chunks join to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config
from langchain_core.utils.json import parse_partial_json

__all__ = [
    "ANSWER_TAG",
    "AnswerStream",
    "is_answer_token",
]

ANSWER_TAG = "cloudlocal:answer"


def is_answer_token(metadata: Mapping[str, Any]) -> bool:
    """Whether a ``messages`` stream item (its metadata) is a token of a protocol's final answer.

    Args:
        metadata: The metadata of a ``messages`` stream item.

    Returns:
        ``True`` when the item carries the answer tag.

    Example:
        >>> is_answer_token({"tags": [ANSWER_TAG]}), is_answer_token({"tags": ["other"]})
        (True, False)
    """
    return ANSWER_TAG in (metadata.get("tags") or [])


class AnswerStream:
    """Streams one protocol run's final answer; create it inside the node that writes the answer.

    Args:
        field: The JSON field holding the answer (``None``: the whole reply is the answer).
        ready: ``ready(partial)``: whether the answer being written is final and may stream (e.g. the
            reply's ``decision`` is ``"final"``); while it says no, nothing is sent.

    Example:
        Outside a graph run nothing listens, but ``sent`` shows what would stream:

        >>> stream = AnswerStream(field="answer")
        >>> stream.on_text('{"answer": "Par')
        >>> stream.sent
        'Par'
        >>> stream.finish("Paris")
        >>> stream.sent
        'Paris'
    """

    def __init__(
        self,
        field: str | None = "answer",
        ready: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self.field = field
        self.ready = ready
        self.sent = ""
        self._run: CallbackManagerForLLMRun | None = None
        self._message_id = ""
        self._held = False
        self._waiting: list[str] = []  # the answer as it grew while ``ready`` said no

    # -------------------------------------------------------------------------------------------- runs
    def _start(self) -> CallbackManagerForLLMRun | None:
        config = ensure_config()
        tags = [*(config.get("tags") or []), ANSWER_TAG]
        manager = get_callback_manager_for_config({**config, "tags": tags})
        runs = manager.on_chat_model_start({"name": "answer"}, [[]], name="answer")
        self._message_id = f"answer-{uuid.uuid4()}"
        self.sent = ""
        return runs[0] if runs else None

    def _send(self, text: str) -> None:
        if not text:
            return
        if self._run is None:
            self._run = self._start()
        self.sent += text
        if self._run is not None:
            chunk = AIMessageChunk(content=text, id=self._message_id)
            self._run.on_llm_new_token(text, chunk=ChatGenerationChunk(message=chunk))

    def _end(self) -> None:
        if self._run is not None:
            message = AIMessage(content=self.sent, id=self._message_id)
            self._run.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]))
        self._run = None

    # ------------------------------------------------------------------------------------- the reply
    def hold(self) -> None:
        """Send nothing more of the model's reply (the harness will decide the answer itself)."""
        self._held = True

    def on_text(self, text_so_far: str) -> None:
        """Told the model's reply as it grows (``calls.call_structured(..., on_text=...)``).

        Args:
            text_so_far: The reply so far (JSON while ``field`` is set).
        """
        if self._held:
            return
        if self.field is None:
            value = text_so_far
        else:
            try:
                partial = parse_partial_json(text_so_far)
            except Exception:  # not JSON (yet): nothing to stream
                return
            if not isinstance(partial, dict) or not isinstance(partial.get(self.field), str):
                return
            value = partial[self.field]
            if self.ready is not None and not self.ready(partial):
                # Not final yet (its decision may come after the answer): keep the pieces as written.
                if not self._waiting or self._waiting[-1] != value:
                    self._waiting.append(value)
                return
        # Trailing spaces wait for the next word: the protocols strip their answers.
        for earlier in self._waiting:  # what was held back goes out first, in the pieces it came in
            earlier = earlier.strip()
            if earlier.startswith(self.sent) and value.strip().startswith(earlier):
                self._send(earlier[len(self.sent) :])
        self._waiting = []
        value = value.strip()
        if value.startswith(self.sent):
            self._send(value[len(self.sent) :])
        # else: a retry is writing another answer; finish() sends the final one as a new message

    def finish(self, answer: str) -> None:
        """The protocol's answer: send what is not streamed yet, or the whole answer as a new message
        when what streamed was not its start.

        Args:
            answer: The final answer.
        """

        if self.sent and not answer.startswith(self.sent):
            self._end()
            self.sent = ""
        self._send(answer[len(self.sent) :])
        self._end()
