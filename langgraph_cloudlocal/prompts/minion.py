"""Prompts of Minion: the cloud supervisor, who never sees the documents, chats with the local worker,
who has read them. Kept short for small models; the documents open the worker's conversation so that
each new question reuses the server's prompt cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langgraph_cloudlocal.prompts.baselines import format_documents

# --------------------------------------------------------------------------------------------------
# What the supervisor returns


class FirstMessage(BaseModel):
    """The supervisor's opening question to the worker."""

    message: str = Field(description="your first question to the assistant")


class SupervisorTurn(BaseModel):
    """After each worker reply: answer now, or ask another question."""

    decision: Literal["answer", "ask"] = Field(description="'answer' if you can answer now, else 'ask'")
    message: str = Field(default="", description="if ask: your next question to the assistant")
    answer: str = Field(default="", description="if answer: the final answer to the user's question")
    reason: str = Field(default="", description="one short sentence: why")


class FinalAnswer(BaseModel):
    """The last round: the supervisor must answer."""

    answer: str = Field(description="the final answer to the user's question")
    reason: str = Field(default="", description="one short sentence: why")


# --------------------------------------------------------------------------------------------------
# Supervisor (cloud)

SUPERVISOR_SYSTEM = (
    "You answer a user's question about private documents that you cannot see. A small assistant model "
    "has read them and answers your questions. It is weak: ask short, simple questions, one fact at a time. "
    "Reply with JSON only."
)
"""The supervisor's (cloud's) system prompt."""


def _transcript_text(transcript: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for turn in transcript:
        if turn["role"] not in ("cloud", "local"):
            continue
        who = "You" if turn["role"] == "cloud" else "Assistant"
        lines.append(f"{who}: {turn['text'].strip()}")
    return "\n".join(lines)


def _history_text(history: Sequence[Mapping[str, Any]]) -> str:
    """Earlier questions of the conversation (a thread) and the answers given; never the documents."""
    if not history:
        return ""
    lines = [
        f"User asked: {turn['question'].strip()}\nYou answered: {turn['answer'].strip()}" for turn in history
    ]
    return "Earlier in this conversation:\n" + "\n".join(lines) + "\n\n"


def first_message_messages(question: str, history: Sequence[Mapping[str, Any]] = ()) -> list[BaseMessage]:
    """The supervisor writes its first question to the worker (schema :class:`FirstMessage`).

    Args:
        question: The user's question.
        history: Earlier ``{"question", "answer"}`` turns of the thread (never the documents).

    Returns:
        The system and user messages.

    Example:
        >>> first_message_messages("Budget?")[1].text.splitlines()[0]
        "User's question: Budget?"
    """
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"{_history_text(history)}User's question: {question}\n\n"
            'Write your first question to the assistant. JSON: {"message": "..."}'
        ),
    ]


def decide_messages(
    question: str,
    transcript: Sequence[Mapping[str, Any]],
    rounds_left: int,
    history: Sequence[Mapping[str, Any]] = (),
) -> list[BaseMessage]:
    """After a worker reply: answer, or ask again (schema :class:`SupervisorTurn`).

    Args:
        question: The user's question.
        transcript: The exchanges so far (``{"role", "round", "text"}``).
        rounds_left: How many more questions are allowed.
        history: Earlier turns of the thread.

    Returns:
        The system and user messages.
    """
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"{_history_text(history)}User's question: {question}\n\nConversation so far:\n{_transcript_text(transcript)}\n\n"
            f"You may ask {rounds_left} more question(s). If you can answer the user's question, answer. "
            "Otherwise ask the assistant what is missing.\n"
            'JSON: {"decision": "answer" or "ask", "message": "next question if ask", '
            '"answer": "final answer if answer", "reason": "why"}'
        ),
    ]


def final_messages(
    question: str, transcript: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]] = ()
) -> list[BaseMessage]:
    """The last round: the supervisor must answer from the conversation (schema :class:`FinalAnswer`).

    Args:
        question: The user's question.
        transcript: The exchanges so far.
        history: Earlier turns of the thread.

    Returns:
        The system and user messages.
    """
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"{_history_text(history)}User's question: {question}\n\nConversation so far:\n{_transcript_text(transcript)}\n\n"
            "No more questions are allowed: give your best final answer now.\n"
            'JSON: {"answer": "...", "reason": "why"}'
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Worker (local)

WORKER_SYSTEM = (
    "You have read the documents below. A supervisor asks you questions about them. Answer briefly, "
    "using only the documents, and quote the words that support your answer."
)
"""The worker's (local model's) system prompt."""


def worker_messages(documents: list[str], transcript: Sequence[Mapping[str, Any]]) -> list[BaseMessage]:
    """The worker's conversation: documents first (prompt cache), then the exchanges so far.

    Args:
        documents: The documents' texts.
        transcript: The exchanges so far; it ends with the message the worker must answer: the
            supervisor's (role ``cloud``), or the user's question itself (role ``user``, when the cloud
            budget ran out).

    Returns:
        The messages: system, then alternating user and assistant turns.

    Example:
        >>> turns = [{"role": "cloud", "round": 1, "text": "Budget?"}]
        >>> worker_messages(["The budget is 7,300 euros."], turns)[1].text
        'Documents:\\nThe budget is 7,300 euros.\\n\\nSupervisor: Budget?'
    """
    messages: list[BaseMessage] = [SystemMessage(WORKER_SYSTEM)]
    head = f"Documents:\n{format_documents(documents)}\n\n"
    for turn in transcript:
        if turn["role"] == "local":
            messages.append(AIMessage(turn["text"]))
        else:
            label = "Supervisor" if turn["role"] == "cloud" else "Question"
            messages.append(HumanMessage(head + f"{label}: {turn['text']}"))
            head = ""
    return messages


def worker_excerpt_messages(
    excerpts: list[str], transcript: Sequence[Mapping[str, Any]]
) -> list[BaseMessage]:
    """The worker's conversation when it reads retrieved excerpts instead of whole documents.

    Args:
        excerpts: The chunks retrieved for the latest message.
        transcript: The exchanges so far, ending with the message to answer.

    Returns:
        The earlier exchanges, then the excerpts, then the latest message.
    """
    messages: list[BaseMessage] = [
        SystemMessage(WORKER_SYSTEM.replace("the documents below", "the excerpts below"))
    ]
    *earlier, latest = transcript
    for turn in earlier:
        if turn["role"] == "local":
            messages.append(AIMessage(turn["text"]))
        elif turn["role"] in ("cloud", "user"):
            label = "Supervisor" if turn["role"] == "cloud" else "Question"
            messages.append(HumanMessage(f"{label}: {turn['text']}"))
    label = "Supervisor" if latest["role"] == "cloud" else "Question"
    body = "\n\n".join(f"[{i + 1}] {text.strip()}" for i, text in enumerate(excerpts)) or "(nothing found)"
    messages.append(HumanMessage(f"Excerpts:\n{body}\n\n{label}: {latest['text']}"))
    return messages
