"""Prompts of the yardsticks: one model reads the whole documents and answers."""

from __future__ import annotations

SYSTEM = (
    "You answer questions about the documents you are given. Use only the documents. "
    "Answer briefly: the answer itself first, then at most one sentence of explanation."
)
"""The system prompt of ``reasoning="brief"``."""

# For multi-step questions (arithmetic): a model that must answer first guesses before it reasons.
SYSTEM_STEPS = (
    "You answer questions about the documents you are given. Use only the documents. "
    "Work it out step by step, one short line per step, then end with a last line 'Answer: <the answer>'."
)
"""The system prompt of ``reasoning="steps"``."""


def system_prompt(reasoning: str) -> str:
    """The system prompt for a reasoning style.

    Args:
        reasoning: ``"brief"`` or ``"steps"``.

    Returns:
        :data:`SYSTEM_STEPS` for ``"steps"``, else :data:`SYSTEM`.

    Example:
        >>> system_prompt("steps") == SYSTEM_STEPS
        True
    """
    return SYSTEM_STEPS if reasoning == "steps" else SYSTEM


def format_documents(documents: list[str]) -> str:
    """The documents as one text: a single one as it is, several under ``### Document N`` headings.

    Args:
        documents: The documents' texts.

    Returns:
        The text to put in a prompt.

    Example:
        >>> print(format_documents(["A.", "B."]))
        ### Document 1
        A.
        <BLANKLINE>
        ### Document 2
        B.
    """
    if not documents:
        return "(no documents)"
    if len(documents) == 1:
        return documents[0]
    return "\n\n".join(f"### Document {i + 1}\n{text}" for i, text in enumerate(documents))


def answer_prompt(question: str, documents: list[str]) -> str:
    """The user turn of a yardstick: the documents first (the prompt cache), then the question.

    Args:
        question: The question.
        documents: The documents' texts (may be empty).

    Returns:
        The prompt.

    Example:
        >>> answer_prompt("Who?", [])
        'Question: Who?\\nAnswer:'
    """
    if not documents:
        return f"Question: {question}\nAnswer:"
    return f"Documents:\n{format_documents(documents)}\n\nQuestion: {question}\nAnswer:"
