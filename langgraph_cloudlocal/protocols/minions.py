"""MinionS (Narayan et al., ICML 2025): the cloud plans small single-chunk tasks, the local model runs
them in parallel over document chunks, and the cloud reads only the filtered job outputs.

Each round:

1. ``plan`` (cloud): from the question, its own scratchpad and the last round's feedback, the cloud
   returns a structured plan: at most ``max_tasks_per_round`` atomic tasks, each one fact about one
   *entity* named in the question ({entity, task}; optional query and advice). Short on purpose: the
   cloud's output tokens are the dear ones. No model-written code is ever run.
2. The harness turns each task into jobs. A task with an entity runs on every chunk that names it (a
   verbatim lookup in the store, or in the chunks of this run): all of them, never a ranked few, so a
   cap cannot silently drop the chunk that holds the answer. A task without one (or whose entity no
   chunk names) runs on the store's top ``top_k`` chunks for its query, or on every chunk without a
   store. Times ``samples_per_job``. ``max_jobs_per_round`` is a safety cap for documents chunked
   without a store; when it binds, the chunks never read are listed (round summary, ``jobs_capped``).
   Documents given as text are chunked by Markdown section when they have headings (``chunking="auto"``),
   so a chunk is one record and knows its section.
3. ``job`` (local, parallel): one LangGraph ``Send`` per job, each its own local call, bounded by the run
   config's ``max_concurrency``; per-job retries (``job_retries``) and timeout (``job_timeout_s``).
   An extraction: {citation: the sentence, answer: the value, or null}, the chunk first in the prompt
   (prompt cache). A job that fails is recorded, not raised.
4. ``filter``: jobs without an answer are dropped; failures are counted in a decision. Checks the
   reference code lacks, for small local models: an answer or citation that copies the prompt's JSON
   template counts as no answer; a citation that does not occur in its chunk is flagged to the cloud;
   each finding is attributed to its task's entity (``named`` in the sentence, in the entity's
   ``own_section``, ``unclear``, or ``other_entity`` when the sentence names a near-identical name), and
   per task only the best-attributed findings are kept. All counted in a ``doubtful_findings`` decision.
5. ``synthesize`` (cloud): reads one line per task, the distinct values found with how many excerpts
   agree (the quotes too with ``quotes_to_cloud``), and returns {working, answer, decision} (feedback
   and scratchpad optional; they reach the next round's plan). The last round must answer. A round whose
   jobs found nothing (before the last) skips this call and plans again with feedback that says so
   (``synthesize_without_findings=True`` asks the cloud anyway).

Budget: before every cloud call the ledger is checked. A refused plan in round 1 runs the question
itself as the only task (locally); a refused plan later goes straight to synthesis; a refused synthesis
answers with the answer most jobs gave (``local_answer`` decision).

The cloud never gets the documents; worker citations and answers it reads are measured from the cloud
requests (``private_chars_to_cloud``, ``sensitive_values_to_cloud``).

A round takes four graph steps plus two per extra wave of jobs (``job_wave_size``), far below
LangGraph's default ``recursion_limit``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import operator
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Overwrite, Send
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import ModelCallError, call_structured
from langgraph_cloudlocal.decisions import SwitchDecision, emit_progress
from langgraph_cloudlocal.documents import chunking_for
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.ledger import PriceTable, RawUsage, merge_usage, usage_delta
from langgraph_cloudlocal.models import ResolvedModel
from langgraph_cloudlocal.prompts import minions as prompts
from langgraph_cloudlocal.protocols.answer_stream import AnswerStream
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolNodes,
    ProtocolOutput,
    RunSettings,
    UsageField,
    budget_stop_decision,
    settings_class_with_defaults,
    usage_report,
)

PROTOCOL = "minions"
T = TypeVar("T")


@dataclass
class MinionsSettings(RunSettings):
    """Run settings of MinionS (the graph's ``context_schema``).

    Attributes:
        max_rounds: Plan-jobs-synthesize rounds at most.
        max_tasks_per_round: Tasks the cloud may plan per round.
        max_jobs_per_round: A cap on one round's local calls, or None for no cap.
        samples_per_job: Samples per (task, chunk) job, drawn at ``sample_temperature`` when above 1.
        sample_temperature: The local model's temperature for several samples.
        retrieval: ``"auto"``, ``"on"`` or ``"off"``: top-k retrieval from the chunk store.
        retrieval_min_chars: Below this many document characters, ``"auto"`` does not retrieve.
        top_k: Chunks retrieved per task.
        match_entity: A task naming an entity runs on the chunks that contain the name.
        max_named_chunks: Above this many chunks naming it, retrieval ranks instead.
        quotes_to_cloud: The supervisor also reads the workers' quoted sentences.
        chunking: How documents given as text are cut (``"auto"``, ``"chars"``, ``"markdown"``...).
        chunk_size: The strategy's chunk size, or None for its default.
        chunk_overlap: The strategy's overlap, or None for its default.
        job_retries: Retries of a job whose server cannot be reached or times out.
        job_timeout_s: Wall-clock cap on one job attempt, or None.
        job_wave_size: Jobs per wave (each wave ends in a checkpoint), or None for the run's concurrency.
        local_max_tokens: The most output tokens of a job.
        cloud_max_tokens: The most output tokens of a plan or a synthesis.
        synthesize_without_findings: Ask the cloud to synthesize even when a round found nothing.

    Example:
        >>> MinionsSettings(max_rounds=2, top_k=3).max_rounds
        2
    """

    max_rounds: int = 3
    max_tasks_per_round: int = 4
    # A safety cap on one round's local calls (tasks share it in turn), for documents chunked without a
    # store; with one, tasks x top_k (or the chunks naming an entity) stay far below it. When it binds,
    # the chunks never read are listed in the round's summary and a jobs_capped decision. None: no cap.
    max_jobs_per_round: int | None = 64
    # Several samples per (task, chunk) job, drawn at ``sample_temperature`` when above 1.
    samples_per_job: int = 1
    sample_temperature: float = 0.7
    # "auto": top-k retrieval from the store when there is one (and the documents are at least
    # retrieval_min_chars long); "on": always (needs a store); "off": every job runs on every chunk.
    retrieval: Literal["auto", "on", "off"] = "auto"
    retrieval_min_chars: int = 0
    top_k: int = 4
    # A task that names an entity runs on the chunks that contain the name (all of them, however many
    # retrieval would rank), else on the top_k; off: retrieval (or every chunk) only. A "name" found in
    # more than max_named_chunks chunks does not pick chunks out (a year, a common word): retrieval ranks.
    match_entity: bool = True
    max_named_chunks: int = 12
    # The supervisor reads the workers' values; with quotes_to_cloud also their quoted sentences
    # (more context for the cloud, more private text sent: measured as quoted_chars_to_cloud).
    quotes_to_cloud: bool = False
    # How documents given as text are cut (see documents.chunk_document); "auto": by Markdown section
    # when a document has at least 3 headings (a record per chunk), else "chars". None sizes: the
    # strategy's default (chars: 1000 characters, 100 shared; markdown: sections up to 2000).
    chunking: str = "auto"
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    # Retries of a job whose local call cannot reach the server or times out; then it is marked failed.
    job_retries: int = 1
    # Wall-clock cap on one job attempt, in seconds (None: the chat model's own timeout only).
    job_timeout_s: float | None = None
    # Jobs run in waves of at most this many, each ending in a checkpoint, so a crash never loses finished
    # jobs (LangGraph queues a finished task's checkpoint write behind tasks not yet started). None: the
    # run's max_concurrency, or LangGraph's default thread-pool size when that is not set.
    job_wave_size: int | None = None
    local_max_tokens: int = 256
    cloud_max_tokens: int = 512
    # A round whose jobs found nothing goes on to the next round without a synthesis call: the cloud
    # could only guess (small cloud models then answer "final" with a made-up answer). True: ask it anyway.
    synthesize_without_findings: bool = False

    def validate(self) -> None:
        """Check every value (an older boolean ``retrieval`` becomes ``"on"`` / ``"off"``).

        Raises:
            InputError: A value out of range, an unknown ``retrieval``, or a bad chunking.
        """
        super().validate()
        retrieval: Any = self.retrieval  # a bool from an older config: True / False mean on / off
        if isinstance(retrieval, bool):
            self.retrieval = "on" if retrieval else "off"
        if self.retrieval not in ("auto", "on", "off"):
            raise InputError(f"retrieval must be 'auto', 'on' or 'off', got {self.retrieval!r}")
        for name in ("max_rounds", "max_tasks_per_round", "samples_per_job", "top_k"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1")
        if self.max_jobs_per_round is not None and self.max_jobs_per_round < 1:
            raise InputError("max_jobs_per_round must be >= 1 or None (no cap)")
        from langgraph_cloudlocal.documents import resolve_chunking

        try:
            for strategy in ("markdown", "chars") if self.chunking == "auto" else (self.chunking,):
                resolve_chunking(strategy, self.chunk_size, self.chunk_overlap)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        if self.retrieval_min_chars < 0 or self.job_retries < 0:
            raise InputError("retrieval_min_chars and job_retries must be >= 0")
        if self.job_timeout_s is not None and self.job_timeout_s <= 0:
            raise InputError("job_timeout_s must be > 0 or None")
        if self.job_wave_size is not None and self.job_wave_size < 1:
            raise InputError("job_wave_size must be >= 1 or None")


class MinionsInput(TypedDict, total=False):
    """``question`` plus ``documents`` (texts) and/or ``document_ids`` (ids already in the store).

    Example:
        >>> MinionsInput(question="Who had more staff?", documents=["North: 12 staff. South: 9 staff."])["question"]
        'Who had more staff?'
    """

    question: str
    documents: list[str]
    document_ids: list[str]


class MinionsOutput(ProtocolOutput, total=False):
    """``answer``, ``usage``, ``decisions``, the job table, the round summaries and the thread's history.

    Example:
        >>> MinionsOutput(answer="North", jobs=[], rounds=[], history=[])["answer"]
        'North'
    """

    jobs: list[dict[str, Any]]  # the job table, every round
    rounds: list[dict[str, Any]]  # one summary per round
    history: list[dict[str, Any]]  # the conversation on this thread: {question, answer} per turn


class MinionsState(TypedDict, total=False):
    """MinionS's state: the input, what is prepared once, the round in progress, and what accumulates.

    Example:
        >>> MinionsState(question="Who had more staff?", documents=[], round=0, done=False)["round"]
        0
    """

    question: str
    settings: dict[str, Any]  # the run's validated settings (prepare)
    documents: list[str]
    document_ids: list[str]
    # prepared once
    doc_texts: list[str]  # every document's text (privacy measurement, cloud-only estimate)
    chunks: list[dict[str, Any]]  # all chunks, when jobs go over all of them
    store_ids: list[str]  # ids of the documents in the store, when retrieval is used
    retrieval: bool
    n_chunks: int
    # per round
    round: int
    last_round: bool
    skip_jobs: bool
    tasks: list[dict[str, Any]]
    pending_jobs: list[dict[str, Any]]
    unread_chunks: list[str]  # chunks a task needed that max_jobs_per_round left unread, this round
    wave_start: int  # index in pending_jobs of the wave now running
    wave_size: int
    round_key: str
    findings: list[dict[str, Any]]
    scratchpad: str
    feedback: str
    # accumulated
    jobs: Annotated[list[dict[str, Any]], operator.add]
    rounds: Annotated[list[dict[str, Any]], operator.add]
    done: bool
    answer: str
    history: Annotated[
        list[dict[str, Any]], operator.add
    ]  # {question, answer} per finished turn on this thread
    ledger: UsageField
    usage: dict[str, Any]
    decisions: DecisionsField


class JobInput(TypedDict):
    """What one ``Send`` carries to the ``job`` node.

    Example:
        >>> payload = JobInput(job={"task": "staff"}, round_key="r1", jobs_total=1, settings={})
        >>> payload["jobs_total"]
        1
    """

    job: dict[str, Any]
    round_key: str
    jobs_total: int
    settings: dict[str, Any]  # the run's validated settings (a job does not validate them again)


# --------------------------------------------------------------------------------------------------
# Chunking and retrieval (documents.py / store.py)


def _chunk_dict(chunk: Any) -> dict[str, Any]:
    metadata = getattr(chunk, "metadata", None) or {}
    out = {
        "id": str(chunk.id),
        "document_id": str(chunk.document_id),
        "text": chunk.text,
        "position": int(getattr(chunk, "position", 0) or 0),
    }
    if isinstance(metadata.get("start"), int):
        out["start"] = metadata["start"]
    if metadata.get("section"):
        out["section"] = str(metadata["section"])
    return out


def chunk_texts(texts: Sequence[str], settings: MinionsSettings) -> list[dict[str, Any]]:
    """Chunk documents given as text (no store), as plain dicts {id, document_id, text, position}.

    Args:
        texts: The documents' texts.
        settings: The run's settings (chunking, chunk size and overlap).

    Returns:
        The chunks, document by document, in order.

    Raises:
        InputError: A document that cannot be chunked with these settings.

    Example:
        >>> chunks = chunk_texts(["North: 12 staff."], MinionsSettings())
        >>> [(c["text"], c["position"]) for c in chunks]
        [('North: 12 staff.', 0)]
    """
    from langgraph_cloudlocal.documents import Document, chunk_document

    chunks: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        try:
            document = Document(text)  # never read as a path
            strategy = chunking_for(text, settings.chunking)
            pieces = chunk_document(document, strategy, settings.chunk_size, settings.chunk_overlap)
        except ValueError as exc:
            raise InputError(f"document {index}: {exc}") from exc
        chunks.extend(_chunk_dict(chunk) for chunk in pieces)
    return chunks


def _texts_from_chunks(chunks: Sequence[dict[str, Any]]) -> list[str]:
    """The texts of documents known only by id, rebuilt from their chunks (overlaps removed where the
    chunks carry their offsets; otherwise joined by newlines)."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk["document_id"], []).append(chunk)
    texts = []
    for group in by_doc.values():
        text = ""
        for chunk in sorted(group, key=lambda c: c["position"]):
            start = chunk.get("start")
            if start is None:
                text += ("\n" if text else "") + chunk["text"]
            elif start >= len(text):
                text += " " * (start - len(text)) + chunk["text"]
            else:
                text += chunk["text"][len(text) - start :]
        texts.append(text)
    return texts


def _round_robin(groups: Sequence[Sequence[T]], cap: int) -> list[T]:
    """Up to ``cap`` items taken from the groups in turn, so every group gets its share."""
    out: list[T] = []
    index = 0
    while len(out) < cap and any(index < len(g) for g in groups):
        for group in groups:
            if index < len(group) and len(out) < cap:
                out.append(group[index])
        index += 1
    return out


# --------------------------------------------------------------------------------------------------
# Job progress (display only): a counter per round, shared by the round's parallel jobs.

_progress_lock = threading.Lock()
_jobs_done: dict[str, int] = {}


def _job_finished(round_key: str) -> int:
    with _progress_lock:
        _jobs_done[round_key] = _jobs_done.get(round_key, 0) + 1
        return _jobs_done[round_key]


def _forget_round(round_key: str) -> None:
    with _progress_lock:
        _jobs_done.pop(round_key, None)


class JobTimeout(CloudLocalError, TimeoutError):
    """A job attempt that ran past ``job_timeout_s``."""

    retryable = True  # as ModelCallError's: the next attempt may be faster


def _with_timeout(fn: Callable[[], T], timeout: float | None) -> T:
    """Run ``fn`` with a wall-clock cap. The abandoned call finishes in its own thread; its result is lost."""
    if not timeout:
        return fn()
    box: dict[str, Any] = {}
    finished = threading.Event()
    context = contextvars.copy_context()  # keep the run's callbacks and stream writer

    def target() -> None:
        try:
            box["value"] = context.run(fn)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="minions-job", daemon=True).start()
    if not finished.wait(timeout):
        raise JobTimeout(f"the job did not finish within job_timeout_s={timeout}")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _wave_size(settings: MinionsSettings, config: RunnableConfig, jobs: int) -> int:
    if settings.job_wave_size:
        return settings.job_wave_size
    limit = (config or {}).get("max_concurrency")
    if limit:
        return max(1, int(limit))
    # ThreadPoolExecutor's default size, which LangGraph's sync runner uses when max_concurrency is unset.
    return max(1, min(jobs, 32, (os.cpu_count() or 1) + 4))


def _sampling_model(resolved: ResolvedModel, temperature: float) -> ResolvedModel:
    model = resolved.model
    if "temperature" not in type(model).model_fields:
        return resolved
    return dataclasses.replace(resolved, model=model.model_copy(update={"temperature": temperature}))


def best_attributed(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, set aside): per task, only the findings of the best attribution present (``named`` and
    ``own_section`` rank together, then ``unclear``; a value not found in its excerpt one step lower);
    a finding quoting a similar but different name (``other_entity``) is always set aside. Tasks without
    an entity keep every finding (unless their value is not in the excerpt and others' are)."""
    rank = {"named": 0, "own_section": 0, "unclear": 1, "other_entity": 9, None: 0}
    best: dict[Any, int] = {}

    def level(row: dict[str, Any]) -> int:
        # A value that is not in its excerpt ranks one step lower than its attribution says.
        return rank.get(row.get("attribution"), 1) + (1 if row.get("value_in_excerpt") is False else 0)

    for row in rows:
        key = row.get("task_index")
        best[key] = min(best.get(key, 9), level(row))
    kept: list[dict[str, Any]] = []
    aside: list[dict[str, Any]] = []
    for row in rows:
        (kept if level(row) < 9 and level(row) == best[row.get("task_index")] else aside).append(row)
    return kept, aside


def has_one_false_equation(working: str) -> bool:
    """Whether :func:`checked_arithmetic` may replace the answer given with this working."""
    from langgraph_cloudlocal.protocols.step_checks import equations

    return sum(1 for e in equations(working or "") if not e.holds) == 1


def checked_arithmetic(working: str, answer: str) -> str | None:
    """The recomputed answer when the supervisor's one-line working holds a false equation whose stated
    result is the answer ("1515 + 2358 + 823 = 4689", answer 4689 -> "4696"); None when there is nothing
    to correct. Small cloud models add up badly; the harness checks the sum it can parse (no eval)."""
    from langgraph_cloudlocal.protocols.step_checks import equations

    if not has_one_false_equation(working):
        return None
    wrong = [e for e in equations(working or "") if not e.holds]
    digits = re.sub(r"[^0-9]", "", answer)
    stated = re.sub(r"[^0-9]", "", wrong[0].text.rpartition("=")[2])
    if not digits or not stated or not digits.startswith(stated[:4]):
        return None
    value = wrong[0].left
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def tasks_allowed(question: str, max_tasks: int) -> int:
    """How many tasks the plan may hold: one per distinct name in the question ("Marlow Textiles or
    Marlow Analytics": 2) when it names any, else ``max_tasks``. A small planner fills every slot it is
    given, and its extra tasks ("2023", "Porto") cost jobs and cloud tokens for nothing."""
    names = {prompts.normalized(n) for n in prompts.names_in(question)}
    return max(1, min(max_tasks, len(names))) if names else max_tasks


# --------------------------------------------------------------------------------------------------
# The graph


class MinionsNodes(ProtocolNodes[MinionsSettings]):
    """MinionS's nodes, in the order a round meets them: ``prepare`` (the start: input, chunks, store),
    ``plan`` (cloud), ``job`` (local, one per chunk and task, in waves), ``wave_done``, ``filter`` and
    ``synthesize`` (cloud), with the routes ``fan_out``, ``next_wave`` and ``after_synthesize``.

    Args:
        roles: The models and prices.
        settings_class: :class:`MinionsSettings` with the build-time defaults.
        chunk_store: A ``ChunkStore`` for retrieval and ``document_ids`` input, or None.

    Example:
        >>> from langgraph_cloudlocal.protocols.common import settings_state
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> worker = ScriptedChatModel(replies=['{"citation": "The budget is 7,300 euros.", "answer": "7,300 euros"}'])
        >>> nodes = MinionsNodes(ModelRoles(worker, ScriptedChatModel(replies=["{}"])), MinionsSettings)
        >>> job = {"round": 1, "task": "budget", "task_index": 0, "entity": "", "chunk_id": "c0",
        ...        "document_id": "d0", "chunk_text": "The budget is 7,300 euros.", "advice": "", "sample": 0}
        >>> state = {"job": job, "round_key": "r1", "jobs_total": 1, **settings_state(MinionsSettings())}
        >>> nodes.job(state)["jobs"][0]["answer"]
        '7,300 euros'
    """

    protocol = PROTOCOL

    def __init__(
        self, roles: ModelRoles, settings_class: type[MinionsSettings], chunk_store: Any | None = None
    ) -> None:
        super().__init__(roles, settings_class)
        self.chunk_store: Any = chunk_store  # a ChunkStore (duck-typed: search, chunks_containing, ...)

    # ---------------------------------------------------------------------------------------------- prepare
    def prepare(self, state: MinionsState, runtime: Runtime[Any]) -> dict[str, Any]:
        """The start: settings and input checked once, the documents chunked (into the store when
        retrieval is used), the per-run keys reset (a thread keeps ``history``).

        Args:
            state: The graph state (the input).
            runtime: The run's runtime (its context holds per-run settings).

        Returns:
            The state update.

        Raises:
            InputError: Bad input or settings, ``document_ids`` without a store, or unknown ids.
        """
        store = self.chunk_store
        run, started = self.begin(state, runtime, documents_required=False)
        documents = started["documents"]
        document_ids: Any = state.get("document_ids") or []
        if isinstance(document_ids, str):  # one id given as a string
            document_ids = [document_ids]
        if not all(isinstance(i, str) and i for i in document_ids):
            raise InputError(
                "document_ids must be a list of non-empty strings (ids of documents in the store)"
            )
        if not documents and not document_ids:
            raise InputError("MinionS needs documents (their texts) or document_ids (documents in the store)")
        for index, text in enumerate(documents):
            if not text.strip():
                raise InputError(f"document {index} is empty")
        if document_ids and store is None:
            raise InputError("document_ids need a store: create_minions(..., store=ChunkStore...)")
        if run.retrieval == "on" and store is None:
            raise InputError("retrieval='on' needs a store: create_minions(..., store=ChunkStore...)")

        stored_chunks: list[dict[str, Any]] = []
        if document_ids:
            stored_chunks = [_chunk_dict(c) for c in store.get_chunks(document_ids=list(document_ids))]
            found = {c["document_id"] for c in stored_chunks}
            missing = [i for i in document_ids if i not in found]
            if missing:
                raise InputError(f"document id(s) not in the store: {missing[:5]}")
        doc_texts = list(documents) + _texts_from_chunks(stored_chunks)
        n_chars = sum(len(t) for t in doc_texts)

        if store is None or run.retrieval == "off":
            use_retrieval = False
            why = "no store given" if store is None else "retrieval is off"
        elif run.retrieval == "on":
            use_retrieval, why = True, "retrieval is on"
        else:
            use_retrieval = n_chars >= run.retrieval_min_chars
            why = f"{n_chars} document characters {'>=' if use_retrieval else '<'} retrieval_min_chars={run.retrieval_min_chars}"

        update: dict[str, Any] = {"doc_texts": doc_texts, "retrieval": use_retrieval, "round": 0}
        if use_retrieval:
            new_ids: list[str] = []
            embedded = stored = 0
            if documents:
                from langgraph_cloudlocal.documents import Document

                # Idempotent: documents already in the store are only re-chunked, not re-embedded.
                for text in documents:
                    new_ids.extend(
                        store.add_documents(
                            Document(text),  # text, never read as a path
                            chunking=chunking_for(text, run.chunking),
                            chunk_size=run.chunk_size,
                            overlap=run.chunk_overlap,
                        )
                    )
                    ingest = getattr(store, "last_ingest", None) or {}
                    embedded += int(ingest.get("embedded", 0))
                    stored += int(ingest.get("chunks", 0)) - int(ingest.get("embedded", 0))
            store_ids = list(dict.fromkeys([*new_ids, *document_ids]))
            n_chunks = int(store.count(document_ids=store_ids))
            update |= {"store_ids": store_ids, "chunks": [], "n_chunks": n_chunks}
            decision = self.decide(
                "prepare",
                "retrieval",
                f"jobs run on the chunks each task needs (those naming its entity, else the top "
                f"{run.top_k}) of {n_chunks}: {why}; {embedded} chunk(s) embedded now, {stored} already stored",
            )
        else:
            chunks = chunk_texts(documents, run) + stored_chunks
            update |= {"chunks": chunks, "store_ids": [], "n_chunks": len(chunks)}
            decision = self.decide("prepare", "all_chunks", f"jobs run on all {len(chunks)} chunk(s): {why}")
        # begin() reset the ledger and decisions; MinionS's own per-run keys are reset here, so a new
        # question on a thread whose last run finished has its own jobs and rounds.
        update = started | update
        update |= {
            "jobs": Overwrite([]),
            "rounds": Overwrite([]),
            "decisions": Overwrite([decision]),
            "findings": [],
            "feedback": "",
            "scratchpad": "",
            "done": False,
        }
        return update

    # ---------------------------------------------------------------------------------------------- plan
    def chunks_for_task(
        self, state: MinionsState, run: MinionsSettings, task: prompts.PlannedTask
    ) -> tuple[list[dict[str, Any]], str]:
        """The chunks one task runs on, and how they were chosen: ``named`` (every chunk that contains
        the task's entity), ``retrieved`` (the store's top_k for its query) or ``all``.

        Args:
            state: The graph state.
            run: The run's settings.
            task: The planned task.

        Returns:
            ``(chunks, how)``.
        """
        entity = task.entity.strip()
        if entity and run.match_entity:
            if state.get("retrieval"):
                named = [
                    _chunk_dict(c)
                    for c in self.chunk_store.chunks_containing(
                        entity, document_ids=state.get("store_ids") or None
                    )
                ]
            else:
                wanted = prompts.normalized(entity)
                named = [c for c in state.get("chunks") or [] if wanted in prompts.normalized(c["text"])]
            if named and len(named) <= run.max_named_chunks:
                return named, "named"
        if state.get("retrieval"):
            query = task.query.strip() or " ".join(x for x in (entity, task.task.strip()) if x)
            hits = self.chunk_store.search(query, k=run.top_k, document_ids=state.get("store_ids") or None)
            return [_chunk_dict(c) for c in hits], "retrieved"
        return list(state.get("chunks") or []), "all"

    def make_jobs(
        self, state: MinionsState, run: MinionsSettings, tasks: list[prompts.PlannedTask], round_number: int
    ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        """(jobs, how each task chose its chunks, ids of chunks a cap left unread).

        Args:
            state: The graph state.
            run: The run's settings.
            tasks: The round's planned tasks.
            round_number: The round.

        Returns:
            ``(jobs, sources, unread_chunk_ids)``.
        """
        per_task: list[list[dict[str, Any]]] = []
        sources: list[str] = []
        for index, task in enumerate(tasks):
            chunks, source = self.chunks_for_task(state, run, task)
            sources.append(source)
            seen: set[str] = set()
            jobs = []
            for chunk in chunks:
                if chunk["id"] in seen:
                    continue
                seen.add(chunk["id"])
                for sample in range(run.samples_per_job):
                    jobs.append(
                        {
                            "round": round_number,
                            "task_index": index,
                            "task": task.task.strip(),
                            "entity": task.entity.strip(),
                            "advice": task.advice.strip(),
                            "query": task.query.strip(),
                            "chunk_id": chunk["id"],
                            "document_id": chunk["document_id"],
                            "section": chunk.get("section"),
                            "chunk_text": chunk["text"],
                            "sample": sample,
                            "chosen_by": source,
                        }
                    )
            per_task.append(jobs)
        if run.max_jobs_per_round is None:
            return [job for jobs in per_task for job in jobs], sources, []
        kept = _round_robin(per_task, run.max_jobs_per_round)
        read = {job["chunk_id"] for job in kept}
        unread = [job["chunk_id"] for jobs in per_task for job in jobs if job["chunk_id"] not in read]
        return kept, sources, list(dict.fromkeys(unread))

    def plan(self, state: MinionsState, config: RunnableConfig) -> dict[str, Any]:
        """The cloud plans the round's tasks; the jobs (task x chunk) are made for them.

        Args:
            state: The graph state.
            config: The run's config (its ``max_concurrency`` sizes the waves).

        Returns:
            The state update: the tasks and pending jobs (``skip_jobs`` when no job is to run).
        """
        run = self.settings(state)
        question = state["question"].strip()
        _, cloud_model = self.roles.for_run(run)
        round_number = int(state.get("round") or 0) + 1
        doc_texts = state.get("doc_texts") or []
        messages = prompts.plan_messages(
            question,
            round_number=round_number,
            max_rounds=run.max_rounds,
            max_tasks=run.max_tasks_per_round,
            n_documents=len(doc_texts),
            n_chars=sum(len(t) for t in doc_texts),
            n_chunks=int(state.get("n_chunks") or 0),
            retrieval=bool(state.get("retrieval")),
            scratchpad=state.get("scratchpad") or "",
            feedback=state.get("feedback") or "",
            history=state.get("history") or [],
        )
        decisions: list[SwitchDecision] = []
        update: dict[str, Any] = {"round": round_number, "last_round": round_number >= run.max_rounds}
        refusal = self.budget_refusal(state, run, messages)
        tokens = 0
        if refusal:
            decisions.append(budget_stop_decision(PROTOCOL, "plan", refusal, round_number))
            update["last_round"] = True
            if round_number > 1:
                # Synthesize from what the earlier rounds found.
                emit_progress(PROTOCOL, round=round_number, phase="synthesize", jobs_done=0, jobs_total=0)
                return update | {"skip_jobs": True, "pending_jobs": [], "tasks": [], "decisions": decisions}
            tasks = [prompts.PlannedTask(task=question, query=question, advice="")]
            how = "no cloud plan (budget): the question itself is the only task"
        else:
            allowed = tasks_allowed(question, run.max_tasks_per_round)
            result = call_structured(
                cloud_model,
                messages,
                prompts.plan_schema(allowed),
                retries=run.structured_retries,
                max_tokens=run.cloud_max_tokens,
                retry_refusal=self.retry_guard(state, run),
            )
            update["ledger"] = result.usage
            tokens = result.tokens
            tasks = [t for t in (result.value.tasks if result.value else []) if t.task.strip()]
            dropped_tasks = max(0, len(tasks) - allowed)
            tasks = tasks[:allowed]
            if not tasks:
                problem = result.error or "the plan had no tasks"
                decisions.append(
                    self.decide(
                        "plan",
                        "plan_failed",
                        f"the cloud's plan could not be used ({problem}); the question itself is the only task",
                        step=round_number,
                        tokens=tokens,
                    )
                )
                tasks = [prompts.PlannedTask(task=question, query=question, advice="")]
            limit = (
                f"max_tasks_per_round={run.max_tasks_per_round}"
                if allowed == run.max_tasks_per_round
                else f"the question's {allowed} name(s)"
            )
            how = f"{len(tasks)} task(s) planned by the cloud" + (
                f" ({dropped_tasks} more dropped by {limit})" if dropped_tasks else ""
            )
        jobs, sources, unread = self.make_jobs(state, run, tasks, round_number)
        chosen = {
            "named": "the chunks that name its entity",
            "retrieved": f"the top {run.top_k} retrieved chunks",
            "all": "every chunk",
        }
        where = "; ".join(
            f"task {i + 1} on {chosen[source]} ({sum(1 for j in jobs if j['task_index'] == i)} job(s))"
            for i, source in enumerate(sources)
        )
        decisions.append(
            self.decide(
                "plan",
                "plan",
                f"{how}; {len(jobs)} job(s): {where}",
                step=round_number,
                tokens=tokens,
                score=len(jobs),
            )
        )
        if unread:
            shown = ", ".join(unread[:10]) + (f" and {len(unread) - 10} more" if len(unread) > 10 else "")
            decisions.append(
                self.decide(
                    "plan",
                    "jobs_capped",
                    f"max_jobs_per_round={run.max_jobs_per_round} left {len(unread)} chunk(s) a task "
                    f"needed unread: {shown}",
                    step=round_number,
                    score=len(unread),
                    threshold=run.max_jobs_per_round,
                )
            )
        emit_progress(PROTOCOL, round=round_number, phase="jobs", jobs_done=0, jobs_total=len(jobs))
        return update | {
            "skip_jobs": False,
            "tasks": [t.model_dump() for t in tasks],
            "pending_jobs": jobs,
            "unread_chunks": unread,
            "wave_start": 0,
            "wave_size": _wave_size(run, config, len(jobs)),
            "round_key": uuid.uuid4().hex,
            "decisions": decisions,
        }

    def fan_out(self, state: MinionsState) -> list[Send] | str:
        """Route after ``plan``: the first wave of jobs, or ``filter`` / ``synthesize`` when none run.

        Args:
            state: The graph state.

        Returns:
            One ``Send`` per job of the wave, or the next node's name.
        """
        if state.get("skip_jobs"):
            return "synthesize"
        jobs = state.get("pending_jobs") or []
        if not jobs:
            return "filter"
        return self.next_wave(state)

    def next_wave(self, state: MinionsState) -> list[Send] | str:
        """Route after a wave: the next wave of jobs, or ``filter`` when all have run.

        Args:
            state: The graph state.

        Returns:
            One ``Send`` per job of the wave, or ``"filter"``.
        """
        jobs = state.get("pending_jobs") or []
        start = int(state.get("wave_start") or 0)
        size = int(state.get("wave_size") or len(jobs) or 1)
        wave = jobs[start : start + size]
        if not wave:
            return "filter"
        key = state.get("round_key") or ""
        settings = state["settings"]  # SETTINGS_KEY: each job reads the run's settings from its payload
        return [
            Send("job", JobInput(job=job, round_key=key, jobs_total=len(jobs), settings=settings))
            for job in wave
        ]

    @staticmethod
    def wave_done(state: MinionsState) -> dict[str, Any]:
        """A barrier: the wave's results are checkpointed before the next wave starts.

        Args:
            state: The graph state.

        Returns:
            The start of the next wave.
        """
        # A barrier: the wave's results are checkpointed before the next wave starts.
        return {"wave_start": int(state.get("wave_start") or 0) + int(state.get("wave_size") or 1)}

    # ---------------------------------------------------------------------------------------------- job
    def job(self, state: JobInput) -> dict[str, Any]:
        """One local call: a task on one chunk; a failure is recorded in the row, not raised.

        Args:
            state: The job's payload.

        Returns:
            The job's row (``jobs``) and its usage (``ledger``).
        """
        run = self.settings(state)
        local_model, _ = self.roles.for_run(run)
        if run.samples_per_job > 1:
            local_model = _sampling_model(local_model, run.sample_temperature)
        spec = state["job"]
        messages = prompts.job_messages(
            spec["chunk_text"], spec["task"], spec["advice"], entity=spec.get("entity") or ""
        )
        row: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("chunk_text", "advice", "query")}
        row |= {"answer": None, "citation": None, "explanation": "", "failed": False, "error": None}
        row |= {"citation_in_excerpt": None, "value_in_excerpt": None, "repeated_template": False}
        row |= {"attribution": None}
        ledger: RawUsage = {}
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = _with_timeout(
                    lambda: call_structured(
                        local_model,
                        messages,
                        prompts.JobOutput,
                        retries=run.structured_retries,
                        max_tokens=run.local_max_tokens,
                    ),
                    run.job_timeout_s,
                )
            except (ModelCallError, JobTimeout) as exc:
                ledger = merge_usage(ledger, usage_delta("local", failed=True))
                if exc.retryable and attempt <= run.job_retries:  # a too-long prompt would fail again
                    time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
                    continue
                row |= {"failed": True, "error": f"{type(exc).__name__}: {exc}"}
                break
            ledger = merge_usage(ledger, result.usage)
            if result.value is None:
                row |= {"failed": True, "error": f"unreadable output: {result.error}"}
            else:
                value = result.value
                answer = None if prompts.is_null_answer(value.answer) else str(value.answer).strip()
                citation = None if prompts.is_null_answer(value.citation) else str(value.citation).strip()
                # A copied template is no finding: the cloud would read the prompt back as an answer.
                answer_copied = prompts.repeats_template(answer)
                citation_copied = prompts.repeats_template(citation)
                answer = None if answer_copied else answer
                citation = None if citation_copied else citation
                if answer is None and citation and prompts.citation_in_excerpt(citation, spec["chunk_text"]):
                    # Small workers often copy the sentence and leave the value null: the sentence, found
                    # in the excerpt, is the finding (the cloud reads it; measured as quoted text).
                    answer = citation
                in_excerpt = prompts.value_in_excerpt(answer, spec["chunk_text"])
                if in_excerpt is False and answer is not None:
                    snapped = prompts.snap_to_excerpt(answer, spec["chunk_text"])
                    if (
                        snapped is not None
                    ):  # a misspelt copy of a name in the excerpt: the excerpt's spelling
                        row["answer_as_written"] = answer
                        answer, in_excerpt = snapped, True
                row |= {
                    "answer": answer,
                    "citation": citation,
                    "explanation": value.explanation.strip(),
                    "citation_in_excerpt": prompts.citation_in_excerpt(citation, spec["chunk_text"]),
                    "value_in_excerpt": in_excerpt,
                    "repeated_template": answer_copied or citation_copied,
                    "attribution": None
                    if answer is None
                    else prompts.attribute_finding(spec.get("entity") or "", citation, spec.get("section")),
                }
            break
        row |= {"attempts": attempt, "seconds": round(time.perf_counter() - started, 3)}
        done = _job_finished(state["round_key"])
        emit_progress(
            PROTOCOL,
            round=spec["round"],
            phase="jobs",
            jobs_done=done,
            jobs_total=state["jobs_total"],
            chunk_id=spec["chunk_id"],
            failed=row["failed"],
        )
        return {"jobs": [row], "ledger": ledger}

    # ---------------------------------------------------------------------------------------------- filter
    def filter_jobs(self, state: MinionsState) -> dict[str, Any]:
        """Keep the round's useful findings (the ``filter`` node) for the cloud to read.

        Args:
            state: The graph state.

        Returns:
            The state update: the findings and the round's decisions.
        """
        round_number = int(state.get("round") or 0)
        _forget_round(state.get("round_key") or "")
        rows = [r for r in state.get("jobs") or [] if r.get("round") == round_number]
        failed = [r for r in rows if r.get("failed")]
        answered = [r for r in rows if not r.get("failed") and r.get("answer") is not None]
        findings, set_aside = best_attributed(answered)
        decisions = []
        copied = [r for r in rows if r.get("repeated_template")]
        unverified = [r for r in findings if r.get("citation_in_excerpt") is False]
        elsewhere = [r for r in answered if r.get("attribution") == "other_entity"]
        if copied or unverified or set_aside:
            decisions.append(
                self.decide(
                    "filter",
                    "doubtful_findings",
                    f"{len(copied)} job(s) copied the prompt's template (the copied answer or citation dropped); "
                    f"{len(unverified)} finding(s) cite words not in their excerpt (flagged to the cloud); "
                    f"{len(set_aside)} finding(s) set aside for a better-attributed one of the same task "
                    f"({len(elsewhere)} quoting a similar but different name)",
                    step=round_number,
                    score=(len(copied) + len(unverified) + len(set_aside)) / len(rows),
                )
            )
        if failed:
            errors = sorted({str(r.get("error"))[:120] for r in failed})
            decisions.append(
                self.decide(
                    "filter",
                    "job_failed",
                    f"{len(failed)} of {len(rows)} job(s) failed: " + "; ".join(errors[:3]),
                    step=round_number,
                    score=len(failed) / len(rows),
                )
            )
        emit_progress(
            PROTOCOL,
            round=round_number,
            phase="synthesize",
            jobs_done=len(rows),
            jobs_total=len(rows),
            answered=len(findings),
            failed=len(failed),
        )
        return {"findings": findings, "decisions": decisions}

    # ---------------------------------------------------------------------------------------------- synthesize
    def synthesize(self, state: MinionsState) -> dict[str, Any]:
        """The cloud reads the findings: a final answer, or feedback for another round.

        Args:
            state: The graph state.

        Returns:
            The state update: the answer and usage report when done, else the next round's feedback.
        """
        run = self.settings(state)
        question = state["question"].strip()
        local_model, cloud_model = self.roles.for_run(run)
        round_number = int(state.get("round") or 0)
        last_round = bool(state.get("last_round")) or round_number >= run.max_rounds
        doc_texts = state.get("doc_texts") or []
        all_jobs = state.get("jobs") or []
        round_rows = [r for r in all_jobs if r.get("round") == round_number]
        findings = state.get("findings") or []
        scratchpad = state.get("scratchpad") or ""
        # The final answer streams on stream_mode="messages" once the verdict says "final", unless the
        # working holds a false sum that the harness may correct (then it streams once decided).
        answer_stream = AnswerStream(
            "answer",
            ready=lambda reply: (
                (reply.get("decision") == "final" or last_round)
                and "answer" in reply
                and not has_one_false_equation(str(reply.get("working") or ""))
            ),
        )
        summary: dict[str, Any] = {
            "round": round_number,
            "tasks": [t["task"] for t in state.get("tasks") or []],
            "jobs": len(round_rows),
            "answered": sum(1 for r in round_rows if not r.get("failed") and r.get("answer") is not None),
            "failed": sum(1 for r in round_rows if r.get("failed")),
            "unread_chunks": list(state.get("unread_chunks") or []),
        }

        def finish(
            answer: str, ledger: RawUsage, decisions: list[SwitchDecision], **extra: Any
        ) -> dict[str, Any]:
            answer_stream.finish(answer)
            usage = usage_report(
                merge_usage(state.get("ledger"), ledger),
                local_model,
                cloud_model,
                self.roles.prices,
                question=question,
                documents=doc_texts,
                answer=answer,
            )
            return {
                "answer": answer,
                "usage": usage,
                "ledger": ledger,
                "decisions": decisions,
                "rounds": [summary | {"decision": decisions[-1]["decision"], **extra}],
                "history": [{"question": question, "answer": answer}],
                "done": True,
            }

        def local_fallback(why: str, ledger: RawUsage, decisions: list[SwitchDecision]) -> dict[str, Any]:
            best = prompts.best_local_answer(all_jobs)
            if best is None:
                answer = ""
                reason = f"{why}; no job found an answer, so the answer is empty"
            else:
                answer = best
                reason = f"{why}; answered with the answer most jobs gave, found locally"
            decisions.append(self.decide("synthesize", "local_answer", reason, step=round_number))
            return finish(answer, ledger, decisions)

        if round_rows and not findings and not last_round and not run.synthesize_without_findings:
            tasks = "; ".join(summary["tasks"])
            feedback = (
                f"No worker found an answer in round {round_number} ({len(round_rows)} job(s); tasks: {tasks}). "
                "Plan different, simpler tasks or other search queries."
            )
            decision = self.decide(
                "synthesize",
                "another_round",
                f"no job found an answer, so the cloud is not asked to synthesize (it could only guess); "
                f"round {round_number + 1} of {run.max_rounds} next",
                step=round_number,
            )
            return {
                "feedback": feedback,
                "scratchpad": scratchpad,
                "decisions": [decision],
                "rounds": [
                    summary | {"decision": "another_round", "feedback": feedback, "scratchpad": scratchpad}
                ],
            }

        jobs_per_task: dict[int, int] = {}
        for row in round_rows:
            index = int(row.get("task_index") or 0)
            jobs_per_task[index] = jobs_per_task.get(index, 0) + 1
        messages = prompts.synthesize_messages(
            question,
            findings,
            round_number=round_number,
            last_round=last_round,
            scratchpad=scratchpad,
            tasks=state.get("tasks") or [],
            jobs_per_task=jobs_per_task,
            show_quotes=run.quotes_to_cloud,
            history=state.get("history") or [],
        )
        refusal = self.budget_refusal(state, run, messages)
        if refusal:
            stop = budget_stop_decision(PROTOCOL, "synthesize", refusal, round_number)
            return local_fallback("the cloud budget is spent", {}, [stop])
        result = call_structured(
            cloud_model,
            messages,
            prompts.Synthesis,
            retries=run.structured_retries,
            max_tokens=run.cloud_max_tokens,
            retry_refusal=self.retry_guard(state, run),
            on_text=answer_stream.on_text,
        )
        value = result.value
        if value is None:
            return local_fallback(
                f"the cloud's synthesis could not be read ({result.error})", result.usage, []
            )
        reason = value.reason.strip()
        if value.decision == "final" or last_round:
            answer = value.answer.strip()
            if value.decision == "final":
                kind, why = "answer", reason or "the findings answer the question"
            else:
                kind = "forced_answer"
                why = f"round cap reached ({run.max_rounds}): the cloud must answer. {reason}".strip()
            if not answer:
                return local_fallback(f"{why}; but the cloud's answer was empty", result.usage, [])
            decisions = []
            corrected = checked_arithmetic(value.working, answer)
            if corrected is not None:
                decisions.append(
                    self.decide(
                        "synthesize",
                        "arithmetic_corrected",
                        f"the cloud's working has a false equation; its answer {answer[:40]!r} is recomputed "
                        f"as {corrected}",
                        step=round_number,
                    )
                )
                answer = corrected
            decision = self.decide("synthesize", kind, why, step=round_number, tokens=result.tokens)
            return finish(answer, result.usage, [*decisions, decision])
        feedback = value.feedback.strip()
        decision = self.decide(
            "synthesize",
            "another_round",
            reason or feedback or "the findings are not enough",
            step=round_number,
            tokens=result.tokens,
        )
        new_scratchpad = value.scratchpad.strip() or scratchpad
        return {
            "feedback": feedback,
            "scratchpad": new_scratchpad,
            "ledger": result.usage,
            "decisions": [decision],
            "rounds": [
                summary | {"decision": "another_round", "feedback": feedback, "scratchpad": new_scratchpad}
            ],
        }

    @staticmethod
    def after_synthesize(state: MinionsState) -> str:
        """Route after ``synthesize``: the end when done, else another round.

        Args:
            state: The graph state.

        Returns:
            ``END`` or ``"plan"``.
        """
        return END if state.get("done") else "plan"


def build_minions(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    store: Any | None = None,
    prices: PriceTable | None = None,
    **settings: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled MinionS graph: :class:`MinionsNodes` wired into a state machine.

    Args:
        local: The local (worker) model spec.
        cloud: The cloud (supervisor) model spec.
        chunk_store: A ``ChunkStore`` for retrieval and ``document_ids`` input.
        store: The older name of ``chunk_store``, kept working.
        prices: Dollars per token for the usage report.
        **settings: :class:`MinionsSettings` defaults.

    Returns:
        The ``StateGraph`` (compile it, or use :func:`create_minions`).

    Raises:
        InputError: An unknown setting, or two different chunk stores.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> local, cloud = ScriptedChatModel(replies=["{}"]), ScriptedChatModel(replies=["{}"])
        >>> sorted(build_minions(local, cloud).nodes)
        ['filter', 'job', 'plan', 'prepare', 'synthesize', 'wave_done']
    """
    if chunk_store is not None and store is not None and chunk_store is not store:
        raise InputError("give the ChunkStore once: chunk_store= (store= is its older name)")
    nodes = MinionsNodes(
        ModelRoles(local, cloud, prices),
        settings_class_with_defaults(MinionsSettings, settings),
        chunk_store if chunk_store is not None else store,
    )
    builder = StateGraph(
        MinionsState,
        context_schema=nodes.settings_class,
        input_schema=MinionsInput,
        output_schema=MinionsOutput,
    )
    builder.add_node("prepare", nodes.prepare)
    builder.add_node("plan", nodes.plan, retry_policy=MODEL_RETRY)
    # No node retry: a job retries its own call and records a failure instead of raising.
    builder.add_node("job", nodes.job, input_schema=JobInput)
    builder.add_node("wave_done", nodes.wave_done)
    builder.add_node("filter", nodes.filter_jobs)
    builder.add_node("synthesize", nodes.synthesize, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "plan")
    builder.add_conditional_edges("plan", nodes.fan_out, ["job", "filter", "synthesize"])
    builder.add_edge("job", "wave_done")
    builder.add_conditional_edges("wave_done", nodes.next_wave, ["job", "filter"])
    builder.add_edge("filter", "synthesize")
    builder.add_conditional_edges("synthesize", nodes.after_synthesize, ["plan", END])
    return builder


def create_minions(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    store: Any | None = None,
    prices: PriceTable | None = None,
    checkpointer: Checkpointer = None,
    name: str = "minions",
    **settings: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """MinionS as a compiled graph, usable alone or as a node of a parent graph.

    The cloud model plans small tasks, the local model runs them over the document chunks in parallel,
    and the cloud reads only their filtered findings; it never reads the documents.

    Args:
        local: the local (worker) model: ``"ollama:NAME"``, ``"openai:NAME"``, ``"embedded:NAME"``, a
            ``BaseChatModel``, or ``None`` for the environment's default.
        cloud: the cloud (supervisor) model, in the same forms.
        chunk_store: a ``ChunkStore`` for retrieval and for ``document_ids`` input (``store`` is its older
            name, kept working).
        store: deprecated name of ``chunk_store``.
        prices: dollars per token for the usage report (defaults: the built-in price table).
        checkpointer: a LangGraph checkpointer; with one, a thread keeps a conversation: a follow-up
            question sees the earlier questions and answers (``history``), and the documents stay on
            the thread.
        name: the compiled graph's name (its node name inside a parent graph, and in traces).
        **settings: :class:`MinionsSettings` defaults, e.g. ``max_rounds=2, top_k=3``; per run, override
            them with ``graph.invoke(inputs, context={"max_rounds": 1})``.

    Returns:
        A compiled graph. Input: ``question``, ``documents`` (texts) and/or ``document_ids``. Output:
        ``answer``, ``usage``, ``decisions``, ``jobs`` (the job table), ``rounds`` (one summary per round)
        and ``history``. The answer streams token by token on ``stream_mode="messages"`` (tokens tagged
        ``cloudlocal:answer``); decisions stream on ``stream_mode="custom"``.

    Raises:
        InputError: an unknown or invalid setting, or two different chunk stores.

    Example:
        >>> from langgraph.checkpoint.memory import MemorySaver
        >>> graph = create_minions("ollama:qwen2.5:3b", "openai:gpt-4o-mini", checkpointer=MemorySaver())  # doctest: +SKIP
        >>> config = {"configurable": {"thread_id": "report-1"}}
        >>> graph.invoke({"question": "Who had more staff?", "documents": [text]}, config)  # doctest: +SKIP
        >>> graph.invoke({"question": "And a year earlier?"}, config)  # doctest: +SKIP
    """
    return build_minions(
        local, cloud, chunk_store=chunk_store, store=store, prices=prices, **settings
    ).compile(checkpointer=checkpointer, name=name)


__all__ = [
    "JobInput",
    "JobTimeout",
    "MinionsInput",
    "MinionsNodes",
    "MinionsOutput",
    "MinionsSettings",
    "MinionsState",
    "build_minions",
    "chunk_texts",
    "create_minions",
]
