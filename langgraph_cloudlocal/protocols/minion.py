"""Minion (Narayan et al., ICML 2025): the cloud model, which never sees the documents, chats with the
local model, which has read them.

Each round the cloud supervisor (structured output) either answers or asks the local worker one more
question; the worker answers from the documents. Rounds are capped (``max_rounds``, default 3): after
the last worker reply the supervisor must answer. The cloud never gets the documents; what the worker
relays from them is measured from the cloud requests (``private_chars_to_cloud``,
``sensitive_values_to_cloud``).

Graph: ``START -> start -> supervisor <-> worker``, ending at ``supervisor`` (or at ``worker`` when the
cloud budget ran out: the local model then answers the question itself).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Overwrite
from pydantic import BaseModel
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import StructuredResult, call_structured, call_text
from langgraph_cloudlocal.decisions import SwitchDecision, emit_progress
from langgraph_cloudlocal.ledger import PriceTable, RawUsage
from langgraph_cloudlocal.prompts import minion as prompts
from langgraph_cloudlocal.protocols.answer_stream import AnswerStream
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolNodes,
    ProtocolOutput,
    RunSettings,
    UsageField,
    settings_class_with_defaults,
)

PROTOCOL = "minion"
"""The protocol's name in decisions and progress events."""


@dataclass
class MinionSettings(RunSettings):
    """Run settings of Minion (the graph's ``context_schema``).

    Attributes:
        max_rounds: Worker replies before the supervisor must answer.
        retrieval: With a ``chunk_store``: ``"auto"`` (documents of at least ``retrieval_min_chars``),
            ``"on"`` or ``"off"``: whether the worker reads the ``top_k`` chunks retrieved for each
            supervisor message instead of the whole documents (a small model's context cannot hold long
            ones).
        retrieval_min_chars: The document length from which ``"auto"`` retrieves.
        top_k: Chunks the worker reads per message when it retrieves.

    Example:
        >>> MinionSettings(max_rounds=2).max_rounds
        2
    """

    max_rounds: int = 3
    local_max_tokens: int = 256
    cloud_max_tokens: int = 512
    retrieval: Literal["auto", "on", "off"] = "auto"
    retrieval_min_chars: int = 6000
    top_k: int = 4

    def validate(self) -> None:
        """Check every value (``retrieval`` given as a boolean becomes ``"on"`` / ``"off"``).

        Raises:
            InputError: A value out of range.
        """
        super().validate()
        if self.max_rounds < 1:
            raise InputError("max_rounds must be >= 1")
        retrieval: Any = self.retrieval  # a bool from an older config: True / False mean on / off
        if isinstance(retrieval, bool):
            self.retrieval = "on" if retrieval else "off"
        if self.retrieval not in ("auto", "on", "off"):
            raise InputError(f"retrieval must be 'auto', 'on' or 'off', got {self.retrieval!r}")
        if self.top_k < 1 or self.retrieval_min_chars < 0:
            raise InputError("top_k must be >= 1 and retrieval_min_chars >= 0")


class MinionState(TypedDict, total=False):
    """Minion's state: the input, the conversation so far, and its accounting.

    Example:
        >>> state = MinionState(question="Who signed?", documents=["Ann signed."], round=0)
        >>> state["round"]
        0
    """

    question: str
    documents: list[str]
    settings: dict[str, Any]  # the run's validated settings (start)
    # {"role": "cloud" | "local" | "user", "round": int, "text": str}, in order
    transcript: Annotated[list[dict[str, Any]], operator.add]
    round: int  # worker replies so far
    store_ids: list[str]  # the documents' ids in the chunk store, once the worker has retrieved
    local_final: bool  # the cloud budget ran out: the worker's next reply is the answer
    done: bool
    # Earlier questions on this thread and their answers, {"question", "answer"}: the cloud sees them (a
    # follow-up may refer to them); the documents it never sees.
    history: Annotated[list[dict[str, Any]], operator.add]
    answer: str
    ledger: UsageField
    usage: dict[str, Any]
    decisions: DecisionsField


class MinionOutput(ProtocolOutput, total=False):
    """``answer``, ``usage``, ``decisions``, the ``transcript`` and the thread's ``history``.

    Example:
        >>> MinionOutput(answer="Ann", transcript=[{"role": "cloud", "round": 1, "text": "Who?"}])["answer"]
        'Ann'
    """

    transcript: list[dict[str, Any]]
    history: list[dict[str, Any]]


class MinionNodes(ProtocolNodes[MinionSettings]):
    """Minion's nodes: ``start``, ``supervisor`` (cloud) and ``worker`` (local), and the two routes.

    Args:
        roles: The models and prices.
        settings_class: :class:`MinionSettings` with the build-time defaults.
        chunk_store: A ``ChunkStore`` the worker retrieves from when the documents are long, or None.

    Example:
        >>> from langgraph_cloudlocal.protocols.common import settings_state
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> roles = ModelRoles(ScriptedChatModel(replies=["7,300 euros."]), ScriptedChatModel(replies=["?"]))
        >>> nodes = MinionNodes(roles, MinionSettings)
        >>> state = {"question": "Budget?", "documents": ["The budget is 7,300 euros."], "round": 0,
        ...          "transcript": [{"role": "cloud", "round": 1, "text": "What is the budget?"}],
        ...          **settings_state(MinionSettings())}
        >>> nodes.worker(state)["transcript"]
        [{'role': 'local', 'round': 1, 'text': '7,300 euros.'}]
    """

    protocol = PROTOCOL

    def __init__(
        self, roles: ModelRoles, settings_class: type[MinionSettings], chunk_store: Any | None = None
    ) -> None:
        super().__init__(roles, settings_class)
        self.chunk_store: Any = chunk_store  # a ChunkStore (duck-typed: search, add_documents)

    # ----------------------------------------------------------------------------------------------
    # Nodes, in the order a run meets them

    def start(self, state: MinionState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Validate the settings and input once; reset the per-run keys (a thread keeps ``history``).

        Args:
            state: The input (on a thread: with the last run's state, documents included).
            runtime: The run's runtime (its context: the settings).

        Returns:
            The state update that starts the run.

        Raises:
            InputError: Bad settings, an empty question, or no document.
        """
        _, update = self.begin(
            state,
            runtime,
            documents_required=True,
            reset={
                "transcript": Overwrite([]),
                "round": 0,
                "store_ids": [],
                "local_final": False,
                "done": False,
            },
        )
        return update

    def supervisor(self, state: MinionState) -> dict[str, Any]:
        """The cloud asks the worker its first or next question, or answers (it must after the last round).

        A refused cloud call hands the question itself to the worker, whose reply becomes the answer.

        Args:
            state: The run so far.

        Returns:
            The next question (``transcript``), or the answer and ``usage``; ``ledger``, ``decisions``.
        """
        run = self.settings(state)
        _, cloud_model = self.roles.for_run(run)
        question = state["question"]
        transcript = list(state.get("transcript") or [])
        history = list(state.get("history") or [])
        done_rounds = int(state.get("round") or 0)
        last_round = done_rounds >= run.max_rounds
        schema: type[BaseModel]
        if done_rounds == 0:
            messages, schema = prompts.first_message_messages(question, history), prompts.FirstMessage
        elif last_round:
            messages, schema = prompts.final_messages(question, transcript, history), prompts.FinalAnswer
        else:
            messages = prompts.decide_messages(question, transcript, run.max_rounds - done_rounds, history)
            schema = prompts.SupervisorTurn
        refusal = self.budget_refusal(state, run, messages)
        if refusal:
            # Minion answers now: the local model answers the user's question from the documents.
            stop = self.decide("supervisor", "budget_stop", refusal, step=done_rounds + 1)
            emit_progress(PROTOCOL, round=done_rounds + 1, phase="budget_stop")
            return {
                "transcript": [{"role": "user", "round": done_rounds + 1, "text": question}],
                "local_final": True,
                "decisions": [stop],
            }
        # The answer streams as the cloud writes it, once it has decided to answer (or must).
        answer_stream = AnswerStream(
            "answer", ready=lambda reply: last_round or reply.get("decision") == "answer"
        )
        result = call_structured(
            cloud_model,
            messages,
            schema,
            retries=run.structured_retries,
            max_tokens=run.cloud_max_tokens,
            retry_refusal=self.retry_guard(state, run),
            on_text=answer_stream.on_text if done_rounds > 0 else None,
        )
        return self._supervise(state, run, result, done_rounds, last_round, answer_stream)

    def worker(self, state: MinionState) -> dict[str, Any]:
        """The local model answers the latest message from the documents (or retrieved excerpts).

        Args:
            state: The run so far; its transcript ends with the message to answer.

        Returns:
            The reply (``transcript``), ``round``, ``ledger``; after a budget stop, the answer too.

        Raises:
            ModelCallError: The local model cannot be reached (retried by the node's retry policy).
        """
        run = self.settings(state)
        local_model, _ = self.roles.for_run(run)
        question, documents = state["question"], list(state.get("documents") or [])
        transcript = list(state.get("transcript") or [])
        update: dict[str, Any] = {}
        if self._retrieves(run, documents):
            store_ids = list(state.get("store_ids") or [])
            if not store_ids:
                store_ids = self._store(documents)
                update["store_ids"] = store_ids
            latest = transcript[-1]["text"] if transcript else question
            hits = self.chunk_store.search(latest, k=run.top_k, document_ids=store_ids)
            messages = prompts.worker_excerpt_messages([c.text for c in hits], transcript)
        else:
            messages = prompts.worker_messages(documents, transcript)
        # After a budget stop the worker's reply is the answer: it streams as it is written.
        answer_stream = AnswerStream(field=None) if state.get("local_final") else None
        result = call_text(
            local_model,
            messages,
            max_tokens=run.local_max_tokens,
            on_text=answer_stream.on_text if answer_stream else None,
        )
        reply = result.text.strip()
        done_rounds = int(state.get("round") or 0) + 1
        turn = {"role": "local", "round": done_rounds, "text": reply}
        if state.get("local_final"):
            decision = self.decide(
                "worker",
                "local_answer",
                "the cloud budget is spent: the local model answered the question itself",
                step=done_rounds,
                tokens=result.tokens,
            )
            return (
                update
                | self._finish(state, run, reply, result.usage, decision, answer_stream)
                | {"transcript": [turn]}
            )
        emit_progress(PROTOCOL, round=done_rounds, phase="supervisor")
        return update | {"transcript": [turn], "round": done_rounds, "ledger": result.usage}

    @staticmethod
    def after_supervisor(state: MinionState) -> str:
        """Route: END once answered, else the worker.

        Args:
            state: The run so far.

        Returns:
            The next node.
        """
        return END if state.get("done") else "worker"

    @staticmethod
    def after_worker(state: MinionState) -> str:
        """Route: END once the worker answered (budget stop), else the supervisor.

        Args:
            state: The run so far.

        Returns:
            The next node.
        """
        return END if state.get("done") else "supervisor"

    # ----------------------------------------------------------------------------------------------
    # What the nodes share

    def _supervise(
        self,
        state: MinionState,
        run: MinionSettings,
        result: StructuredResult[Any],
        done_rounds: int,
        last_round: bool,
        answer_stream: AnswerStream | None = None,
    ) -> dict[str, Any]:
        """Turn the supervisor's reply into the next question or the answer."""
        question = state["question"]
        value: Any = result.value
        next_round = done_rounds + 1

        def ask(message: str, reason: str) -> dict[str, Any]:
            kind = "ask" if done_rounds == 0 else "another_round"
            decision = self.decide("supervisor", kind, reason, step=next_round, tokens=result.tokens)
            emit_progress(PROTOCOL, round=next_round, phase="worker")
            return {
                "transcript": [{"role": "cloud", "round": next_round, "text": message}],
                "ledger": result.usage,
                "decisions": [decision],
            }

        def answer(text: str, kind: str, reason: str) -> dict[str, Any]:
            decision = self.decide("supervisor", kind, reason, step=done_rounds, tokens=result.tokens)
            return self._finish(state, run, text, result.usage, decision, answer_stream)

        if done_rounds == 0:
            if value is not None and value.message.strip():
                return ask(value.message.strip(), "the cloud's first question to the local model")
            return ask(
                question,
                f"the cloud's first message could not be read ({result.error}); the question is passed on",
            )
        if last_round:
            text = value.answer.strip() if value is not None else ""
            why = value.reason.strip() if value is not None else ""
            if not text:
                transcript = state.get("transcript") or []
                text = next((t["text"] for t in reversed(transcript) if t["role"] == "local"), "")
                why = f"the cloud's final answer could not be read ({result.error}); the local model's last reply is the answer"
            reason = f"round cap reached ({run.max_rounds}): the cloud must answer. {why}".strip()
            return answer(text, "forced_answer", reason)
        if value is not None and value.decision == "answer" and value.answer.strip():
            return answer(
                value.answer.strip(), "answer", value.reason.strip() or "the cloud has enough to answer"
            )
        if value is not None and value.message.strip():
            return ask(
                value.message.strip(), value.reason.strip() or "the cloud needs more from the documents"
            )
        if value is not None and value.answer.strip():
            # "ask" without a message but with an answer: take the answer.
            return answer(value.answer.strip(), "answer", "the cloud gave an answer and no further question")
        problem = result.error or "neither an answer nor a question"
        return ask(question, f"the cloud's reply could not be used ({problem}); the question is passed on")

    def _finish(
        self,
        state: MinionState,
        run: MinionSettings,
        answer: str,
        ledger: RawUsage,
        decision: SwitchDecision,
        answer_stream: AnswerStream | None = None,
    ) -> dict[str, Any]:
        """The update that ends the run: answer (streamed, ``stream_mode="messages"``), usage, and the turn
        added to the thread's history."""
        (answer_stream or AnswerStream()).finish(answer)
        return {
            "answer": answer,
            "usage": self.usage(state, run, ledger, answer),
            "ledger": ledger,
            "decisions": [decision],
            "done": True,
            "history": [{"question": state["question"], "answer": answer}],
        }

    def _retrieves(self, run: MinionSettings, documents: list[str]) -> bool:
        """Whether the worker reads retrieved chunks (a store, and long documents or ``retrieval="on"``)."""
        if self.chunk_store is None:
            return False
        n_chars = sum(len(d) for d in documents)
        return run.retrieval == "on" or (run.retrieval == "auto" and n_chars >= run.retrieval_min_chars)

    def _store(self, documents: list[str]) -> list[str]:
        """Chunk and store the documents (idempotent: a document already stored is not embedded again)."""
        from langgraph_cloudlocal.documents import Document, chunking_for

        store_ids: list[str] = []
        for text in documents:
            store_ids.extend(
                self.chunk_store.add_documents(Document(text), chunking=chunking_for(text, "auto"))
            )
        return store_ids


def build_minion(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    prices: PriceTable | None = None,
    **settings: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled Minion graph.

    Args:
        local: The local model (the worker, which reads the documents).
        cloud: The cloud model (the supervisor, which never sees them).
        chunk_store: A ``ChunkStore`` the worker retrieves from when the documents are long.
        prices: Prices per model.
        **settings: :class:`MinionSettings` defaults.

    Returns:
        The ``StateGraph``, to change or compile.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> sorted(build_minion(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"])).nodes)
        ['start', 'supervisor', 'worker']
    """
    roles = ModelRoles(local, cloud, prices)
    settings_class = settings_class_with_defaults(MinionSettings, settings)
    nodes = MinionNodes(roles, settings_class, chunk_store)
    builder = StateGraph(
        MinionState,
        context_schema=settings_class,
        input_schema=ProtocolInput,
        output_schema=MinionOutput,
    )
    builder.add_node("start", nodes.start)
    builder.add_node("supervisor", nodes.supervisor, retry_policy=MODEL_RETRY)
    builder.add_node("worker", nodes.worker, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "start")
    builder.add_edge("start", "supervisor")
    builder.add_conditional_edges("supervisor", nodes.after_supervisor, ["worker", END])
    builder.add_conditional_edges("worker", nodes.after_worker, ["supervisor", END])
    return builder


def create_minion(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    prices: PriceTable | None = None,
    checkpointer: Checkpointer = None,
    name: str = "minion",
    **settings: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Minion as a compiled graph, usable as a node of a parent graph.

    Args:
        local: The local model (the worker, which reads the documents).
        cloud: The cloud model (the supervisor, which never sees them).
        chunk_store: A ``ChunkStore`` the worker retrieves from when the documents are long.
        prices: Prices per model.
        checkpointer: Compiled with this checkpointer: a thread keeps its documents and the earlier
            questions and answers, which the supervisor sees (a follow-up may refer to them).
        name: The compiled graph's name (its node name in a parent graph).
        **settings: :class:`MinionSettings` defaults, e.g. ``max_rounds=2``; per run:
            ``graph.invoke(inputs, context={"max_rounds": 1})``.

    Returns:
        The compiled graph. Input: ``question``, ``documents`` (texts). Output: ``answer``, ``usage``,
        ``decisions``, ``transcript`` (the supervisor/worker exchanges), ``history``.

    Raises:
        InputError: An unknown or bad setting.

    Example:
        >>> import json
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> cloud = ScriptedChatModel(replies=[json.dumps({"message": "Budget?"}),
        ...     json.dumps({"decision": "answer", "answer": "7,300 euros", "reason": "stated"})])
        >>> local = ScriptedChatModel(replies=["It is 7,300 euros."])
        >>> graph = create_minion(local, cloud, max_rounds=2)
        >>> graph.invoke({"question": "Budget?", "documents": ["The budget is 7,300 euros."]})["answer"]
        '7,300 euros'
    """
    builder = build_minion(local, cloud, chunk_store=chunk_store, prices=prices, **settings)
    return builder.compile(checkpointer=checkpointer, name=name)


__all__ = ["MinionNodes", "MinionOutput", "MinionSettings", "MinionState", "build_minion", "create_minion"]
