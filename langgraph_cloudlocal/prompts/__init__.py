"""Prompt templates, one module per protocol. Documents come before questions so that llama.cpp's and
Ollama's prompt caches make a second question on the same document cheap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def conversation_history(history: Sequence[Mapping[str, Any]]) -> str:
    """Earlier questions of a conversation (a thread) and the answers given, for the supervisor's
    prompts; never the documents. Empty when there is no earlier turn."""
    if not history:
        return ""
    turns = [
        f"User asked: {str(turn.get('question', '')).strip()}\nYou answered: {str(turn.get('answer', '')).strip()}"
        for turn in history
    ]
    return "Earlier in this conversation:\n" + "\n".join(turns) + "\n\n"
