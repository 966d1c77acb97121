"""Prompts of the yardsticks: one model reads the whole documents and answers."""

from __future__ import annotations

SYSTEM = (
    "You answer questions about the documents you are given. Use only the documents. "
    "Answer briefly: the answer itself first, then at most one sentence of explanation."
)

# For multi-step questions (arithmetic): a model that must answer first guesses before it reasons.
SYSTEM_STEPS = (
    "You answer questions about the documents you are given. Use only the documents. "
    "Work it out step by step, one short line per step, then end with a last line 'Answer: <the answer>'."
)


def system_prompt(reasoning: str) -> str:
    return SYSTEM_STEPS if reasoning == "steps" else SYSTEM


def format_documents(documents: list[str]) -> str:
    if not documents:
        return "(no documents)"
    if len(documents) == 1:
        return documents[0]
    return "\n\n".join(f"### Document {i + 1}\n{text}" for i, text in enumerate(documents))


def answer_prompt(question: str, documents: list[str]) -> str:
    if not documents:
        return f"Question: {question}\nAnswer:"
    return f"Documents:\n{format_documents(documents)}\n\nQuestion: {question}\nAnswer:"
