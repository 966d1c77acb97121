"""Minion (Narayan et al., ICML 2025): the cloud model, which never sees the documents, chats with the
local model, which has read them.

Each round the cloud supervisor (structured output) either answers or asks the local worker one more
question; the worker answers from the documents. Rounds are capped (``max_rounds``, default 3): after
the last worker reply the supervisor must answer. The cloud never gets the documents; what the worker
relays from them is measured from the cloud requests (``private_chars_to_cloud``,
``sensitive_values_to_cloud``).

Graph: ``START -> supervisor <-> worker``, ending at ``supervisor`` (or at ``worker`` when the cloud
budget ran out: the local model then answers the question itself).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import call_structured, call_text
from langgraph_cloudlocal.decisions import SwitchDecision, emit_decision, emit_progress, make_decision
from langgraph_cloudlocal.ledger import PriceTable, merge_usage
from langgraph_cloudlocal.prompts import minion as prompts
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolOutput,
    RunSettings,
    UsageField,
    budget_refusal,
    budget_retry_guard,
    budget_stop_decision,
    check_input,
    current_settings,
    settings_class_with_defaults,
    usage_report,
)

PROTOCOL = "minion"


@dataclass
class MinionSettings(RunSettings):
    """Run settings of Minion (the graph's ``context_schema``)."""

    # Worker replies before the supervisor must answer.
    max_rounds: int = 3
    local_max_tokens: int = 256
    cloud_max_tokens: int = 512
    # With a chunk_store, the worker reads the top_k chunks retrieved for each supervisor message
    # (documents of at least retrieval_min_chars; "on": always, "off": never) instead of whole documents,
    # which a small model's context cannot hold once they are long.
    retrieval: Literal["auto", "on", "off"] = "auto"
    retrieval_min_chars: int = 6000
    top_k: int = 4

    def validate(self) -> None:
        super().validate()
        if self.max_rounds < 1:
            raise InputError("max_rounds must be >= 1")
        if isinstance(self.retrieval, bool):
            self.retrieval = "on" if self.retrieval else "off"
        if self.retrieval not in ("auto", "on", "off"):
            raise InputError(f"retrieval must be 'auto', 'on' or 'off', got {self.retrieval!r}")
        if self.top_k < 1 or self.retrieval_min_chars < 0:
            raise InputError("top_k must be >= 1 and retrieval_min_chars >= 0")


class MinionState(TypedDict, total=False):
    question: str
    documents: list[str]
    # {"role": "cloud" | "local" | "user", "round": int, "text": str}, in order
    transcript: Annotated[list, operator.add]
    round: int  # worker replies so far
    store_ids: list[str]  # the documents' ids in the chunk store, once the worker has retrieved
    local_final: bool  # the cloud budget ran out: the worker's next reply is the answer
    done: bool
    # Earlier questions on this thread and their answers, {"question", "answer"}: the cloud sees them (a
    # follow-up may refer to them); the documents it never sees.
    history: Annotated[list, operator.add]
    answer: str
    ledger: UsageField
    usage: dict[str, Any]
    decisions: DecisionsField


class MinionOutput(ProtocolOutput, total=False):
    transcript: list[dict[str, Any]]
    history: list[dict[str, Any]]


def _prompt_text(messages: list[Any]) -> str:
    return "\n".join(str(m.content) for m in messages)


def build_minion(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    prices: PriceTable | None = None,
    **settings: Any,
) -> StateGraph:
    """The uncompiled Minion graph; ``chunk_store``: a ``ChunkStore`` the worker retrieves from when the
    documents are long; ``settings`` are :class:`MinionSettings` defaults."""
    roles = ModelRoles(local, cloud, prices)
    settings_class = settings_class_with_defaults(MinionSettings, settings)

    def finish(
        state: MinionState,
        run: MinionSettings,
        answer: str,
        ledger: dict[str, Any],
        decisions: list[SwitchDecision],
        question: str,
        documents: list[str],
    ) -> dict[str, Any]:
        local_model, cloud_model = roles.for_run(run)
        usage = usage_report(
            merge_usage(state.get("ledger"), ledger),
            local_model,
            cloud_model,
            roles.prices,
            question=question,
            documents=documents,
            answer=answer,
        )
        return {
            "answer": answer,
            "usage": usage,
            "ledger": ledger,
            "decisions": decisions,
            "done": True,
            "history": [{"question": question, "answer": answer}],
        }

    def supervisor(state: MinionState, runtime: Runtime[Any]) -> dict[str, Any]:
        if not state.get("done"):
            return supervise(state, runtime)
        # A new question on a thread whose last run finished (a checkpointer keeps the old state): start
        # afresh, so the transcript, round count, ledger and decisions are this run's own.
        fresh: MinionState = {**state, "transcript": [], "round": 0, "local_final": False, "done": False}  # type: ignore[typeddict-item]
        fresh["store_ids"] = []
        fresh |= {"ledger": {}, "decisions": []}
        update = supervise(fresh, runtime)
        for key, empty in (("transcript", []), ("ledger", {}), ("decisions", [])):
            update[key] = Overwrite(update.get(key, empty))
        return {"round": 0, "local_final": False, "done": False, "store_ids": []} | update

    def supervise(state: MinionState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = current_settings(runtime.context, settings_class)
        question, documents = check_input(
            state.get("question"), state.get("documents"), documents_required=True
        )
        _, cloud_model = roles.for_run(run)
        transcript = list(state.get("transcript") or [])
        history = list(state.get("history") or [])
        done_rounds = int(state.get("round") or 0)
        last_round = done_rounds >= run.max_rounds
        if done_rounds == 0:
            messages, schema = prompts.first_message_messages(question, history), prompts.FirstMessage
        elif last_round:
            messages, schema = prompts.final_messages(question, transcript, history), prompts.FinalAnswer
        else:
            messages = prompts.decide_messages(question, transcript, run.max_rounds - done_rounds, history)
            schema = prompts.SupervisorTurn  # type: ignore[assignment]
        refusal = budget_refusal(state.get("ledger"), run, cloud_model, roles.prices, _prompt_text(messages))
        if refusal:
            # Minion answers now: the local model answers the user's question from the documents.
            stop = budget_stop_decision(PROTOCOL, "supervisor", refusal, done_rounds + 1)
            emit_progress(PROTOCOL, round=done_rounds + 1, phase="budget_stop")
            return {
                "transcript": [{"role": "user", "round": done_rounds + 1, "text": question}],
                "local_final": True,
                "decisions": [stop],
            }
        result = call_structured(
            cloud_model,
            messages,
            schema,
            retries=run.structured_retries,
            max_tokens=run.cloud_max_tokens,
            retry_refusal=budget_retry_guard(state.get("ledger"), run, cloud_model, roles.prices),
        )
        value: Any = result.value
        next_round = done_rounds + 1
        last_local = next((t["text"] for t in reversed(transcript) if t["role"] == "local"), "")

        def ask(message: str, reason: str) -> dict[str, Any]:
            decision = emit_decision(
                make_decision(
                    PROTOCOL,
                    "supervisor",
                    "ask" if done_rounds == 0 else "another_round",
                    reason,
                    step=next_round,
                    tokens=result.tokens,
                )
            )
            emit_progress(PROTOCOL, round=next_round, phase="worker")
            return {
                "transcript": [{"role": "cloud", "round": next_round, "text": message}],
                "ledger": result.usage,
                "decisions": [decision],
            }

        if done_rounds == 0:
            if value is not None and value.message.strip():
                return ask(value.message.strip(), "the cloud's first question to the local model")
            return ask(
                question,
                f"the cloud's first message could not be read ({result.error}); the question is passed on",
            )
        if last_round:
            answer = value.answer.strip() if value is not None else ""
            why = value.reason.strip() if value is not None else ""
            if not answer:
                answer = last_local
                why = f"the cloud's final answer could not be read ({result.error}); the local model's last reply is the answer"
            decision = emit_decision(
                make_decision(
                    PROTOCOL,
                    "supervisor",
                    "forced_answer",
                    f"round cap reached ({run.max_rounds}): the cloud must answer. {why}".strip(),
                    step=done_rounds,
                    tokens=result.tokens,
                )
            )
            return finish(state, run, answer, result.usage, [decision], question, documents)
        if value is not None and value.decision == "answer" and value.answer.strip():
            decision = emit_decision(
                make_decision(
                    PROTOCOL,
                    "supervisor",
                    "answer",
                    value.reason.strip() or "the cloud has enough to answer",
                    step=done_rounds,
                    tokens=result.tokens,
                )
            )
            return finish(state, run, value.answer.strip(), result.usage, [decision], question, documents)
        if value is not None and value.message.strip():
            return ask(
                value.message.strip(), value.reason.strip() or "the cloud needs more from the documents"
            )
        if value is not None and value.answer.strip():
            # "ask" without a message but with an answer: take the answer.
            decision = emit_decision(
                make_decision(
                    PROTOCOL,
                    "supervisor",
                    "answer",
                    "the cloud gave an answer and no further question",
                    step=done_rounds,
                    tokens=result.tokens,
                )
            )
            return finish(state, run, value.answer.strip(), result.usage, [decision], question, documents)
        problem = result.error or "neither an answer nor a question"
        return ask(question, f"the cloud's reply could not be used ({problem}); the question is passed on")

    def worker(state: MinionState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = current_settings(runtime.context, settings_class)
        question, documents = check_input(
            state.get("question"), state.get("documents"), documents_required=True
        )
        local_model, _ = roles.for_run(run)
        transcript = list(state.get("transcript") or [])
        n_chars = sum(len(d) for d in documents)
        retrieve = chunk_store is not None and (
            run.retrieval == "on" or (run.retrieval == "auto" and n_chars >= run.retrieval_min_chars)
        )
        update: dict[str, Any] = {}
        if retrieve:
            store_ids = list(state.get("store_ids") or [])
            if not store_ids:
                from langgraph_cloudlocal.documents import Document, chunking_for

                for text in documents:  # idempotent: a document already stored is not embedded again
                    store_ids.extend(
                        chunk_store.add_documents(Document(text), chunking=chunking_for(text, "auto"))
                    )
                update["store_ids"] = store_ids
            latest = transcript[-1]["text"] if transcript else question
            hits = chunk_store.search(latest, k=run.top_k, document_ids=store_ids)
            messages = prompts.worker_excerpt_messages([c.text for c in hits], transcript)
        else:
            messages = prompts.worker_messages(documents, transcript)
        result = call_text(local_model, messages, max_tokens=run.local_max_tokens)
        reply = result.text.strip()
        done_rounds = int(state.get("round") or 0) + 1
        if state.get("local_final"):
            decision = emit_decision(
                make_decision(
                    PROTOCOL,
                    "worker",
                    "local_answer",
                    "the cloud budget is spent: the local model answered the question itself",
                    step=done_rounds,
                    tokens=result.tokens,
                )
            )
            out = finish(state, run, reply, result.usage, [decision], question, documents)
            out["transcript"] = [{"role": "local", "round": done_rounds, "text": reply}]
            return out | update
        emit_progress(PROTOCOL, round=done_rounds, phase="supervisor")
        return update | {
            "transcript": [{"role": "local", "round": done_rounds, "text": reply}],
            "round": done_rounds,
            "ledger": result.usage,
        }

    def after_supervisor(state: MinionState) -> str:
        return END if state.get("done") else "worker"

    def after_worker(state: MinionState) -> str:
        return END if state.get("done") else "supervisor"

    builder = StateGraph(
        MinionState,
        context_schema=settings_class,
        input_schema=ProtocolInput,
        output_schema=MinionOutput,
    )
    builder.add_node("supervisor", supervisor, retry_policy=MODEL_RETRY)
    builder.add_node("worker", worker, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "supervisor")
    builder.add_conditional_edges("supervisor", after_supervisor, ["worker", END])
    builder.add_conditional_edges("worker", after_worker, ["supervisor", END])
    return builder


def create_minion(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    chunk_store: Any | None = None,
    prices: PriceTable | None = None,
    name: str = "minion",
    **settings: Any,
) -> CompiledStateGraph:
    """Minion as a compiled graph named ``name``, usable as a node of a parent graph.

    Input: ``question``, ``documents`` (list of texts). Output: ``answer``, ``usage``, ``decisions``,
    ``transcript`` (the supervisor/worker exchanges). ``settings``: :class:`MinionSettings` defaults,
    e.g. ``max_rounds=2``; per run: ``graph.invoke(inputs, context={"max_rounds": 1})``.
    """
    return build_minion(local, cloud, chunk_store=chunk_store, prices=prices, **settings).compile(name=name)


__all__ = ["MinionSettings", "MinionState", "build_minion", "create_minion"]
