"""Prompts of MinionS: the cloud supervisor plans small single-chunk tasks, local workers run them, and
the supervisor reads only the workers' filtered outputs. Short on purpose (small models); a worker's
prompt puts the chunk before the task so jobs on the same chunk reuse the server's prompt cache."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, create_model

# Fields cut to this many characters when job outputs are shown to the supervisor.
FINDING_FIELD_CHARS = 300

# --------------------------------------------------------------------------------------------------
# Structured replies. Every field is "required" in the JSON schema (so constrained decoding writes
# them all) but has a default in validation (so a small model's partial reply still parses).


class PlannedTask(BaseModel):
    """One atomic task, run by the local model on single chunks."""

    model_config = ConfigDict(json_schema_extra={"required": ["task", "query", "advice"]})

    task: str = Field(description="a small task that makes sense on one chunk alone")
    query: str = Field(default="", description="search words to find the chunks this task needs")
    advice: str = Field(default="", description="what to look for")


class Plan(BaseModel):
    """The supervisor's plan for one round."""

    tasks: list[PlannedTask] = Field(description="a few small tasks")


@functools.lru_cache(maxsize=32)
def plan_schema(max_tasks: int) -> type[Plan]:
    """:class:`Plan` whose JSON schema allows at most ``max_tasks`` tasks, so constrained decoding stops
    there (small models otherwise list many); validation stays lenient and the harness cuts extras."""
    return create_model(
        "Plan",
        __base__=Plan,
        tasks=(
            list[PlannedTask],
            Field(description="a few small tasks", json_schema_extra={"minItems": 1, "maxItems": max_tasks}),
        ),
    )


class JobOutput(BaseModel):
    """A worker's report on one (task, chunk) job."""

    model_config = ConfigDict(json_schema_extra={"required": ["explanation", "citation", "answer"]})

    explanation: str = Field(default="", description="how the excerpt answers the task")
    citation: str | None = Field(default=None, description="exact words from the excerpt, or null")
    answer: str | None = Field(default=None, description="short answer, or null if the excerpt does not say")


class Synthesis(BaseModel):
    """The supervisor's verdict after reading a round's findings."""

    model_config = ConfigDict(
        json_schema_extra={"required": ["decision", "answer", "feedback", "scratchpad", "reason"]}
    )

    decision: Literal["final", "another_round"] = Field(description="'final' to answer now")
    answer: str = Field(default="", description="the answer to the user's question")
    feedback: str = Field(default="", description="if another_round: what is missing")
    scratchpad: str = Field(default="", description="notes to keep for the next round")
    reason: str = Field(default="", description="one short sentence: why")


# --------------------------------------------------------------------------------------------------
# Worker (local): one chunk, one task

JOB_SYSTEM = (
    "You read one excerpt of a document and do one small task about it. Use only the excerpt. "
    "Reply with JSON only."
)


def job_messages(chunk_text: str, task: str, advice: str = "") -> list[BaseMessage]:
    """The prompt of one job: the chunk first (prompt cache), then the task."""
    advice_line = f"Advice: {advice.strip()}\n" if advice and advice.strip() else ""
    return [
        SystemMessage(JOB_SYSTEM),
        HumanMessage(
            f"Excerpt:\n{chunk_text}\n\nTask: {task.strip()}\n{advice_line}"
            'JSON: {"explanation": "how the excerpt answers the task", '
            '"citation": "exact words from the excerpt, or null", '
            '"answer": "short answer, or null if the excerpt does not say"}'
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Supervisor (cloud)

SUPERVISOR_SYSTEM = (
    "You answer a user's question about private documents that you cannot see. Small worker models read "
    "the documents one chunk at a time and report what they find. Reply with JSON only."
)


def plan_messages(
    question: str,
    *,
    round_number: int,
    max_rounds: int,
    max_tasks: int,
    n_documents: int,
    n_chars: int,
    n_chunks: int,
    retrieval: bool,
    scratchpad: str = "",
    feedback: str = "",
) -> list[BaseMessage]:
    """The supervisor plans this round's tasks; it sees sizes, its notes and its feedback, never the text."""
    how = (
        "Each task runs on the chunks that best match its search query."
        if retrieval
        else "Each task runs on every chunk."
    )
    notes = f"\nYour notes so far: {scratchpad.strip()}" if scratchpad.strip() else ""
    missing = f"\nWhat was missing after the last round: {feedback.strip()}" if feedback.strip() else ""
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"User's question: {question}\n\n"
            f"The documents: {n_documents} document(s), {n_chars} characters, {n_chunks} chunks. {how}\n"
            f"Round {round_number} of {max_rounds}.{notes}{missing}\n\n"
            f"Write at most {max_tasks} small tasks for the workers. Each task asks for one fact and must "
            "make sense on one chunk alone.\n"
            'JSON: {"tasks": [{"task": "...", "query": "search words", "advice": "what to look for"}]}'
        ),
    ]


def _cut(text: Any) -> str:
    text = "" if text is None else str(text).strip().replace("\n", " ")
    return text if len(text) <= FINDING_FIELD_CHARS else text[: FINDING_FIELD_CHARS - 3] + "..."


def format_findings(findings: Sequence[dict[str, Any]]) -> str:
    """The job outputs as the supervisor reads them (one line each)."""
    if not findings:
        return "No worker found anything relevant."
    lines = []
    for i, row in enumerate(findings, 1):
        parts = [f"[{i}] task: {_cut(row.get('task'))}", f"chunk: {row.get('chunk_id')}"]
        parts.append(f"answer: {_cut(row.get('answer'))}")
        if row.get("citation"):
            unverified = " (not found in the excerpt)" if row.get("citation_in_excerpt") is False else ""
            parts.append(f"citation{unverified}: {_cut(row.get('citation'))}")
        if row.get("explanation"):
            parts.append(f"explanation: {_cut(row.get('explanation'))}")
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def synthesize_messages(
    question: str,
    findings: Sequence[dict[str, Any]],
    *,
    round_number: int,
    last_round: bool,
    scratchpad: str = "",
) -> list[BaseMessage]:
    """The supervisor reads the filtered job outputs (never the documents) and answers or asks again."""
    notes = f"\nYour notes so far: {scratchpad.strip()}" if scratchpad.strip() else ""
    if last_round:
        rule = 'This is the last round: decide "final" and give your best answer.'
    else:
        rule = (
            'If the findings answer the question, decide "final". Otherwise decide "another_round" and '
            "say in feedback what is missing."
        )
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"User's question: {question}\n\nWorker findings (round {round_number}):\n"
            f"{format_findings(findings)}{notes}\n\n{rule}\n"
            'JSON: {"decision": "final" or "another_round", "answer": "...", "feedback": "what is missing", '
            '"scratchpad": "notes to keep for the next round", "reason": "why"}'
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Reading worker answers

_NULL_ANSWERS = {
    "",
    "null",
    "none",
    "n/a",
    "na",
    "nil",
    "unknown",
    "not found",
    "not mentioned",
    "not stated",
    "not specified",
    "not given",
    "no answer",
    "no information",
    "not available",
    "-",
}


# Phrases of the job prompt's JSON template; small models often copy them as their answer.
_TEMPLATE_PHRASES = (
    "how the excerpt answers the task",
    "exact words from the excerpt",
    "short answer, or null",
    "null if the excerpt does not say",
)


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())


def repeats_template(text: str | None) -> bool:
    """True for a job field that copies the prompt's JSON template instead of reading the excerpt."""
    if not text:
        return False
    normalized = _normalized(text)
    return any(phrase in normalized for phrase in _TEMPLATE_PHRASES)


def citation_in_excerpt(citation: str | None, excerpt: str) -> bool | None:
    """Whether the citation occurs in the excerpt (case and spacing ignored, outer quotes and a final
    full stop dropped); None when there is no citation. A made-up citation marks a doubtful finding."""
    if citation is None or not citation.strip():
        return None
    quote = _normalized(citation).strip("\"'“”‘’` ").rstrip(".").strip()
    return bool(quote) and quote in _normalized(excerpt)


def is_null_answer(answer: str | None) -> bool:
    """True for an answer that says nothing ("null", "N/A", "not mentioned", ...)."""
    if answer is None:
        return True
    return answer.strip().strip(".").strip().lower() in _NULL_ANSWERS


def best_local_answer(rows: Sequence[dict[str, Any]]) -> str | None:
    """The answer the most jobs gave (first seen wins a tie), or None when no job found one."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for row in rows:
        answer = row.get("answer")
        if row.get("failed") or is_null_answer(answer):
            continue
        key = _normalized(str(answer)).strip(".")
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, str(answer).strip())
    if not counts:
        return None
    best = max(counts, key=lambda k: counts[k])  # max keeps the first of equal counts
    return first[best]
