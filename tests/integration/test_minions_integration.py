"""MinionS end to end with the real embedded SmolLM2 in both roles (it is often wrong: structure only)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import Embeddings

from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.protocols.minions import create_minions

MEMO = (
    "Internal memo, harbour office. The dredging of berth 4 was approved on 12 May.\n\n"
    "The contractor, Ysolde Brannigan, quoted 18,450 euros for the work and promised to finish "
    "within nine days.\n\n"
    "The harbour master asked that the night ferry keep running during the works."
)
QUESTION = "How much did Ysolde Brannigan quote for the dredging?"
SETTINGS: dict[str, Any] = {
    "max_rounds": 1,
    "max_tasks_per_round": 1,
    "chunk_size": 150,
    "chunk_overlap": 0,
    "local_max_tokens": 64,
    "cloud_max_tokens": 96,
    "structured_retries": 0,  # a cut-off reply is repaired by the tolerant parser, or falls back
}
JOB_KEYS = {
    "round",
    "task",
    "chunk_id",
    "document_id",
    "answer",
    "citation",
    "explanation",
    "failed",
    "error",
}


def models(spec: str) -> tuple[Any, Any]:
    return (
        resolve_model(spec, "local", temperature=0).model,
        resolve_model(spec, "cloud", temperature=0).model,
    )


def check_output(out: dict[str, Any]) -> None:
    assert isinstance(out["answer"], str)
    usage = out["usage"]
    for role in ("local", "cloud"):
        assert usage[role]["calls"] >= 1
        assert usage[role]["input_tokens"] > 0 and usage[role]["output_tokens"] > 0
    # measured from the cloud requests: what the real worker relayed (it may quote); the protocol adds no
    # document text of its own (tests/integration/test_privacy_canary.py checks that over HTTP)
    assert 0 <= usage["private_chars_to_cloud"] <= usage["document_chars"]
    assert 0 <= usage["sensitive_values_to_cloud"] <= usage["sensitive_values_total"]
    assert usage["document_chars"] == len(MEMO)

    kinds = [d["decision"] for d in out["decisions"]]
    assert kinds[0] in ("all_chunks", "retrieval")
    assert "plan" in kinds
    assert kinds[-1] in ("answer", "forced_answer", "local_answer")
    assert all(d["protocol"] == "minions" for d in out["decisions"])

    jobs = out["jobs"]
    assert jobs and all(JOB_KEYS <= set(job) for job in jobs)
    for job in jobs:
        assert job["round"] == 1 and job["chunk_id"]
        if job["failed"]:
            assert job["error"]
        else:
            assert job["answer"] is None or isinstance(job["answer"], str)
    assert usage["local"]["calls"] >= len(jobs)
    assert [r["round"] for r in out["rounds"]] == [1]
    assert out["rounds"][0]["jobs"] == len(jobs)


def test_minions_end_to_end_over_all_chunks(smollm2_spec: str) -> None:
    local, cloud = models(smollm2_spec)
    graph = create_minions(local, cloud, **SETTINGS)
    out = graph.invoke({"question": QUESTION, "documents": [MEMO]}, config={"max_concurrency": 4})
    check_output(out)
    assert out["decisions"][0]["decision"] == "all_chunks"
    # A task without an entity (or naming one no chunk holds) reads every chunk, one per paragraph; a task
    # naming an entity reads exactly the chunks that name it. Which one SmolLM2 plans is up to it.
    for task_index in {job["task_index"] for job in out["jobs"]}:
        rows = [job for job in out["jobs"] if job["task_index"] == task_index]
        read = {job["chunk_id"] for job in rows}
        if rows[0]["chosen_by"] == "all":
            assert len(read) == 3
        else:
            assert rows[0]["chosen_by"] == "named" and 1 <= len(read) <= 3
            assert all(job["entity"].lower() in MEMO.lower() for job in rows)


class KeywordEmbeddings(Embeddings):
    """A tiny deterministic embedding (keyword counts), so the test needs no embedding model."""

    words = ("dredging", "berth", "contractor", "quoted", "euros", "ferry", "harbour", "memo")

    def _vector(self, text: str) -> list[float]:
        lowered = text.lower()
        return [float(lowered.count(w)) + 0.01 for w in self.words]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


async def test_minions_with_retrieval_streams_rounds_and_jobs(smollm2_spec: str) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    local, cloud = models(smollm2_spec)
    with ChunkStore.in_memory(collection="minions-it", embedding=KeywordEmbeddings()) as store:
        graph = create_minions(local, cloud, store=store, retrieval="on", top_k=1, **SETTINGS)
        updates: list[str] = []
        progress: list[dict[str, Any]] = []
        final: dict[str, Any] = {}
        async for _ns, mode, data in graph.astream(
            {"question": QUESTION, "documents": [MEMO]},
            stream_mode=["updates", "custom", "values"],
            subgraphs=True,
        ):
            if mode == "updates":
                updates.extend(data)
            elif mode == "custom" and data.get("type") == "cloudlocal.progress":
                progress.append(data)
            elif mode == "values":
                final = data
        assert store.count() == 3
    assert updates[:2] == ["prepare", "plan"] and updates[-2:] == ["filter", "synthesize"]
    assert updates.count("job") == len(final["jobs"]) == 1  # one task, top_k=1
    assert any(p["phase"] == "jobs" and p["jobs_done"] >= 1 for p in progress)
    out = {k: final[k] for k in ("answer", "usage", "decisions", "jobs", "rounds")}
    check_output(out)
    assert out["decisions"][0]["decision"] == "retrieval"


def test_a_streamed_minions_answer_joins_to_the_final_answer(smollm2_spec: str) -> None:
    """The answer's tokens arrive on stream_mode="messages" (tagged cloudlocal:answer) over real HTTP
    streaming; whatever SmolLM2 answers, the last answer message's chunks join to the final answer."""
    from langgraph_cloudlocal.protocols.answer_stream import is_answer_token

    local, cloud = models(smollm2_spec)
    graph = create_minions(local, cloud, **SETTINGS)
    messages: dict[str, list[str]] = {}
    final: dict[str, Any] = {}
    for mode, payload in graph.stream(
        {"question": QUESTION, "documents": [MEMO]}, stream_mode=["messages", "values"]
    ):
        if mode == "values":
            final = payload
        elif is_answer_token(payload[1]):
            chunk, metadata = payload
            assert metadata["langgraph_node"] == "synthesize"
            messages.setdefault(chunk.id, []).append(str(chunk.content))
    check_output(final)
    if final["answer"]:
        last = list(messages.values())[-1]
        assert "".join(last) == final["answer"]
    # the streamed call still reports the cloud's real token usage (stream_usage)
    assert final["usage"]["cloud"]["output_tokens"] > 0


class PromptRecorder(BaseCallbackHandler):
    """The text of every chat-model prompt of a run."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], **kwargs: Any) -> None:
        self.texts.extend("\n".join(str(m.content) for m in batch) for batch in messages)


def test_a_two_turn_minions_conversation_on_a_thread(smollm2_spec: str) -> None:
    """Turn two names no contractor: only the history says whose quote. The cloud sees the first turn's
    question and answer, never the memo (checked on the real cloud requests the ledger recorded)."""
    from langgraph.checkpoint.memory import MemorySaver

    local, cloud = models(smollm2_spec)
    graph = create_minions(local, cloud, checkpointer=MemorySaver(), **SETTINGS)
    config = {"configurable": {"thread_id": "memo-1"}}
    first = graph.invoke({"question": QUESTION, "documents": [MEMO]}, config)
    prompts = PromptRecorder()
    second = graph.invoke(
        {"question": "Within how many days did she promise to finish?"}, config | {"callbacks": [prompts]}
    )
    supervisor = [p for p in prompts.texts if "Write at most" in p or "Worker findings" in p]
    assert supervisor, "the second turn asked the cloud nothing"
    for prompt in supervisor:
        assert f"User asked: {QUESTION}" in prompt
        assert f"You answered: {first['answer'].strip()}" in prompt
        assert "promised to finish within nine days" not in prompt  # never the memo
    check_output(first)
    check_output(second)
    assert [turn["question"] for turn in second["history"]] == [
        QUESTION,
        "Within how many days did she promise to finish?",
    ]
    assert second["history"][0]["answer"] == first["answer"]
    assert second["usage"]["private_chars_to_cloud"] <= second["usage"]["document_chars"]
    # this turn's own ledger: its plan and verdict, not the first turn's calls added
    assert second["usage"]["cloud"]["calls"] <= first["usage"]["cloud"]["calls"] + 1
