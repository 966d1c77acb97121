"""Prompts of MinionS: the cloud supervisor plans small single-chunk tasks, local workers run them, and
the supervisor reads only the workers' filtered outputs. Short on purpose (small models); a worker's
prompt puts the chunk before the task so jobs on the same chunk reuse the server's prompt cache.

The work is shaped for a small worker: a task names the *entity* its fact is about, a job is an
extraction (copy the sentence, give the value), and every finding carries the entity it was found for
and how sure the harness is that it is about that entity (:func:`attribute_finding`). The supervisor
reads one compact line per task, with the candidate values and how many jobs agree, instead of every
job's prose: its input stays small and its output (priced 4x input) is a short JSON verdict."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, create_model

from langgraph_cloudlocal.prompts import conversation_history

# Fields cut to this many characters when job outputs are shown to the supervisor.
FINDING_FIELD_CHARS = 300

# --------------------------------------------------------------------------------------------------
# Structured replies. Every field is "required" in the JSON schema (so constrained decoding writes
# them all) but has a default in validation (so a small model's partial reply still parses).


class PlannedTask(BaseModel):
    """One atomic task, run by the local model on single chunks. Only ``task`` and ``entity`` are
    required in the schema: every field the cloud writes is output tokens, priced 4x input."""

    model_config = ConfigDict(json_schema_extra={"required": ["entity", "task"]})

    entity: str = Field(
        default="", description="the one name the fact is about, copied from the question, or empty"
    )
    task: str = Field(description="the one fact to find, e.g. '2023 revenue'")
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
    """A worker's report on one (task, chunk) job: an extraction, the sentence first (copying it
    grounds the value), then the value."""

    model_config = ConfigDict(json_schema_extra={"required": ["citation", "answer"]})

    # maxLength bounds constrained decoding: a small model otherwise repeats digits to the token limit.
    citation: str | None = Field(
        default=None,
        description="the exact sentence of the excerpt, or null",
        json_schema_extra={"maxLength": 400},
    )
    answer: str | None = Field(
        default=None,
        description="the value only, or null if the excerpt does not say",
        json_schema_extra={"maxLength": 80},
    )
    explanation: str = Field(default="", description="how the excerpt answers the task")


class Synthesis(BaseModel):
    """The supervisor's verdict after reading a round's findings. ``working`` (one line, e.g. a sum)
    comes before ``answer`` so a small cloud model computes before it answers; ``feedback``,
    ``scratchpad`` and ``reason`` are optional (output tokens are the dear ones)."""

    model_config = ConfigDict(json_schema_extra={"required": ["working", "answer", "decision"]})

    # maxLength bounds constrained decoding (a small model can repeat digits to the token limit).
    working: str = Field(
        default="",
        description="one line: which values answer it, and any arithmetic",
        json_schema_extra={"maxLength": 300},
    )
    answer: str = Field(
        default="",
        description="the answer to the user's question, short",
        json_schema_extra={"maxLength": 200},
    )
    # After the answer (the order the payoff benchmark measured): the answer streams once this says final.
    decision: Literal["final", "another_round"] = Field(description="'final' to answer now")
    feedback: str = Field(default="", description="if another_round: what is missing")
    scratchpad: str = Field(default="", description="notes to keep for the next round")
    reason: str = Field(default="", description="one short sentence: why")


# --------------------------------------------------------------------------------------------------
# Worker (local): one chunk, one task

JOB_SYSTEM = "You copy facts from one excerpt of a document. Use only the excerpt. Reply with JSON only."


def job_task_line(task: str, entity: str = "") -> str:
    """What one job asks for: the fact, and whose fact it is."""
    task = task.strip().rstrip("?.")
    entity = entity.strip()
    if entity and entity.lower() not in task.lower():
        return f"Task: find {task} of {entity}"
    return f"Task: {task}"


def job_messages(chunk_text: str, task: str, advice: str = "", entity: str = "") -> list[BaseMessage]:
    """The prompt of one job: the chunk first (jobs on the same chunk reuse the server's prompt
    cache), then the extraction asked for."""
    advice_line = f"Advice: {advice.strip()}\n" if advice and advice.strip() else ""
    whose = (
        f"It must be about {entity.strip()} exactly: a similar name is another company, so use null.\n"
        if entity and entity.strip()
        else ""
    )
    return [
        SystemMessage(JOB_SYSTEM),
        HumanMessage(
            f"Excerpt:\n{chunk_text}\n\n{job_task_line(task, entity)}\n{advice_line}{whose}"
            "Copy the one sentence of the excerpt that gives it, then the value alone. "
            "If the excerpt does not give it, use null.\n"
            'JSON: {"citation": "the exact sentence, or null", "answer": "the value, or null"}'
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
    history: Sequence[dict[str, Any]] = (),
) -> list[BaseMessage]:
    """The supervisor plans this round's tasks; it sees sizes, its notes, its feedback and the earlier turns
    of the conversation (their questions and answers), never the text."""
    how = (
        "A task with a name runs on the chunks that contain that name; others on the chunks that best "
        "match them."
        if retrieval
        else "A task with a name runs on the chunks that contain that name; others on every chunk."
    )
    notes = f"\nYour notes so far: {scratchpad.strip()}" if scratchpad.strip() else ""
    missing = f"\nWhat was missing after the last round: {feedback.strip()}" if feedback.strip() else ""
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"{conversation_history(history)}User's question: {question}\n\n"
            f"The documents: {n_documents} document(s), {n_chars} characters, {n_chunks} chunks. {how}\n"
            f"Round {round_number} of {max_rounds}.{notes}{missing}\n\n"
            f"Write at most {max_tasks} tasks. A task looks up one fact about one name of the question: when "
            "the question names several companies, people or things, write one task for each name. "
            '"entity": the name, copied exactly from the question (empty if there is none). '
            '"task": that fact alone, in at most five words, not the whole question.\n'
            'JSON: {"tasks": [{"entity": "...", "task": "..."}]}'
        ),
    ]


def _cut(text: Any, limit: int = FINDING_FIELD_CHARS) -> str:
    text = "" if text is None else str(text).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# How sure the harness is that a finding is about its task's entity, best first (see attribute_finding).
ATTRIBUTIONS = ("named", "own_section", "unclear", "other_entity")
_ATTRIBUTION_NOTES = {
    "named": "",
    "own_section": "",
    "unclear": ", found in a passage that does not name it",
    "other_entity": ", the sentence names a similar but different name",
}


def format_findings(
    findings: Sequence[dict[str, Any]],
    tasks: Sequence[dict[str, Any]],
    *,
    jobs_per_task: dict[int, int] | None = None,
    show_quotes: bool = False,
) -> str:
    """What the supervisor reads: one line per task, with the distinct values the workers found for
    it, how many excerpts agree, and whether they were found where the entity is named."""
    lines = []
    for index, task in enumerate(tasks):
        entity = str(task.get("entity") or "").strip()
        label = f"{entity} | {_cut(task.get('task'), 120)}" if entity else _cut(task.get("task"), 160)
        rows = [r for r in findings if r.get("task_index") == index]
        searched = (jobs_per_task or {}).get(index, 0)
        if not rows:
            lines.append(f"{index + 1}. {label}: not found ({searched} excerpt(s) read)")
            continue
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(normalized(str(row.get("answer"))).strip("."), []).append(row)
        ranked = sorted(groups.values(), key=lambda g: -len(g))
        values = []
        for group in ranked[:3]:
            first = group[0]
            note = _ATTRIBUTION_NOTES.get(str(first.get("attribution") or ""), "")
            if first.get("value_in_excerpt") is False:
                note += ", this value is not in the excerpt"
            elif first.get("citation_in_excerpt") is False:
                note += ", its quote is not in the excerpt"
            text = f"{_cut(first.get('answer'), 120)} ({len(group)} excerpt(s){note})"
            if show_quotes and first.get("citation"):
                text += f' "{_cut(first.get("citation"), 160)}"'
            values.append(text)
        more = f"; {len(ranked) - 3} more value(s)" if len(ranked) > 3 else ""
        lines.append(f"{index + 1}. {label}: " + "; or ".join(values) + more)
    return "\n".join(lines) if lines else "No tasks were run."


def synthesize_messages(
    question: str,
    findings: Sequence[dict[str, Any]],
    *,
    round_number: int,
    last_round: bool,
    scratchpad: str = "",
    tasks: Sequence[dict[str, Any]] | None = None,
    jobs_per_task: dict[int, int] | None = None,
    show_quotes: bool = False,
    history: Sequence[dict[str, Any]] = (),
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
    table = format_findings(findings, tasks or [], jobs_per_task=jobs_per_task, show_quotes=show_quotes)
    return [
        SystemMessage(SUPERVISOR_SYSTEM),
        HumanMessage(
            f"{conversation_history(history)}User's question: {question}\n\nWorker findings (round {round_number}; per task, the values "
            f"read in the documents and how many excerpts agree):\n{table}{notes}\n\n{rule} "
            "Use only the values above that answer the question.\n"
            'JSON: {"working": "one line: the values used and any arithmetic", "answer": "short answer", '
            '"decision": "final" or "another_round", "feedback": "only if another_round: what is missing"}'
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
    "the exact sentence, or null",
    "the value, or null",
    "a name from the question",
)


def normalized(text: str) -> str:
    """Lower case, runs of white space as one space: how names and quotes are compared."""
    return " ".join(text.lower().split())


def repeats_template(text: str | None) -> bool:
    """True for a job field that copies the prompt's JSON template instead of reading the excerpt."""
    if not text:
        return False
    text = normalized(text)
    return any(phrase in text for phrase in _TEMPLATE_PHRASES)


def citation_in_excerpt(citation: str | None, excerpt: str) -> bool | None:
    """Whether the citation occurs in the excerpt (case and spacing ignored, outer quotes and a final
    full stop dropped); None when there is no citation. A made-up citation marks a doubtful finding."""
    if citation is None or not citation.strip():
        return None
    quote = normalized(citation).strip("\"'“”‘’` ").rstrip(".").strip()
    return bool(quote) and quote in normalized(excerpt)


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
        key = normalized(str(answer)).strip(".")
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, str(answer).strip())
    if not counts:
        return None
    best = max(counts, key=lambda k: counts[k])  # max keeps the first of equal counts
    return first[best]


# --------------------------------------------------------------------------------------------------
# Whose fact is it? (names that share a word with the task's entity are the classic distractor)

_NAME = re.compile(r"\b[A-Z][\w&'’-]*(?:\s+(?:of|de|&|van|von)?\s*[A-Z][\w&'’-]*)+")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def names_in(text: str) -> list[str]:
    """Capitalised multi-word names in ``text`` ("Aldor Systems", "Maria Okafor")."""
    return [m.group().strip() for m in _NAME.finditer(text or "")]


def attribute_finding(entity: str, citation: str | None, section: str | None) -> str:
    """How sure the harness is that a finding is about ``entity``, from what it can check itself:

    * ``named``: the quoted sentence names the entity;
    * ``other_entity``: it names another name that shares a word with the entity ("Aldor Logistics"
      for "Aldor Systems") and not the entity itself: about someone else;
    * ``own_section``: the excerpt's section heading names the entity;
    * ``unclear``: none of these (e.g. "it employed 410 people" in another company's section).
    """
    entity_norm = normalized(entity)
    if not entity_norm:
        return "named"
    quote = normalized(citation or "")
    if entity_norm in quote:
        return "named"
    entity_words = _words(entity)
    for name in names_in(citation or ""):
        if normalized(name) != entity_norm and _words(name) & entity_words:
            return "other_entity"
    heading = (section or "").split(">")[-1]
    if entity_norm in normalized(heading):
        return "own_section"
    return "unclear"


def value_in_excerpt(answer: str | None, excerpt: str) -> bool | None:
    """Whether an extracted value occurs in its excerpt (case, spacing and thousands separators
    ignored); None without an answer. An extraction whose value is not in the text is doubtful."""
    if answer is None or not str(answer).strip():
        return None
    value = normalized(str(answer)).strip("\"'“”‘’`. $")
    text = normalized(excerpt)
    if value in text:
        return True
    return value.replace(",", "") in text.replace(",", "")


def snap_to_excerpt(answer: str, excerpt: str, cutoff: float = 0.8) -> str | None:
    """The excerpt's own spelling of a misspelt extracted name ("Vilenius" -> "Vilnius"): the run of as
    many words in the excerpt closest to ``answer``, if at least ``cutoff`` similar; None otherwise.
    Numbers are never snapped (a near-identical number is a different number)."""
    if any(ch.isdigit() for ch in answer):
        return None
    words = re.findall(r"[\w'’-]+", excerpt)
    size = max(1, len(answer.split()))
    candidates = {" ".join(words[i : i + size]) for i in range(0, max(0, len(words) - size) + 1)}
    best = difflib.get_close_matches(answer.strip(), list(candidates), n=1, cutoff=cutoff)
    return best[0] if best else None
