"""The same graphs on the Postgres checkpointer (``langgraph-checkpoint-postgres``), the scale-out store of
LangGraph Server: a throwaway PostgreSQL cluster on 127.0.0.1 (tests/faults/postgres_cluster.py) per
module; state persisted, visible from another connection, resumable after a SIGKILL and after a
human-approval interrupt.

PostgreSQL's server binaries come from Debian's ``postgresql`` package, installed by scripts/setup.sh.
Without them these tests FAIL (they do not skip): the scale-out path must be tested in CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command

from langgraph_cloudlocal.protocols.minion import build_minion
from langgraph_cloudlocal.protocols.minions import build_minions
from langgraph_cloudlocal.testing import ScriptedChatModel
from tests.faults import tally
from tests.faults.fakes import closed_port
from tests.faults.postgres_cluster import PostgresCluster, PostgresUnavailable
from tests.integration.test_models_integration import _listening_addresses
from tests.integration.test_resume import check_resumed_run, kill_mid_fan_out_then_resume


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster(closed_port()).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


def test_cluster_listens_on_loopback_only(postgres: PostgresCluster) -> None:
    assert _listening_addresses(postgres.port) == {"0100007F"}


# --------------------------------------------------------------------------------------------------
# State is persisted in Postgres and seen by another connection (another worker)

DOC = "Memo. The Quillfeather project, led by Ottoline Varga, has a budget of 7,300 euros for 2025."


def _minion_models() -> tuple[ScriptedChatModel, ScriptedChatModel]:
    cloud = ScriptedChatModel(
        replies=[
            json.dumps({"message": "What is the budget?"}),
            json.dumps({"decision": "answer", "answer": "7,300 euros", "message": "", "reason": "stated"}),
        ],
        model_name="gpt-4o",
    )
    return ScriptedChatModel(replies=["The budget is 7,300 euros."], model_name="smol"), cloud


def test_minion_thread_is_persisted_and_read_back_by_another_connection(postgres: PostgresCluster) -> None:
    config: dict[str, Any] = {"configurable": {"thread_id": "minion-pg-1"}}
    with PostgresSaver.from_conn_string(postgres.url) as saver:
        saver.setup()
        graph = build_minion(*_minion_models()).compile(checkpointer=saver)
        out = graph.invoke({"question": "What is the budget?", "documents": [DOC]}, config=config)
    assert out["answer"] == "7,300 euros"
    tally.run_completed()
    # a new connection (as another LangGraph Server worker would open) sees the finished thread
    with PostgresSaver.from_conn_string(postgres.url) as other:
        graph = build_minion(*_minion_models()).compile(checkpointer=other)
        state = graph.get_state(config)
        assert state.next == ()
        assert state.values["answer"] == "7,300 euros"
        assert state.values["usage"]["private_chars_to_cloud"] == 0
        history = list(graph.get_state_history(config))
        assert len(history) >= 4  # input, supervisor, worker, supervisor
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("minion-pg-1",)
        ).fetchone()
    assert rows is not None and rows[0] == len(history)


# --------------------------------------------------------------------------------------------------
# Durable resume on Postgres


@pytest.mark.parametrize(
    "how",
    [("--max-concurrency", "8"), ("--ainvoke",)],
    ids=["PostgresSaver-invoke", "AsyncPostgresSaver-ainvoke"],
)
def test_sigkill_mid_fan_out_then_resume_on_postgres(
    postgres: PostgresCluster, tmp_path: Path, how: tuple[str, ...]
) -> None:
    result = kill_mid_fan_out_then_resume(tmp_path, "--checkpointer", "postgres", *how, db=postgres.url)
    check_resumed_run(result)


def test_budget_interrupt_is_approved_from_another_connection(postgres: PostgresCluster) -> None:
    """``on_budget_exceeded="interrupt"``: the run stops before the cloud call that breaks the budget; a
    different process (here: connection) approves it later and the thread goes on without redoing jobs."""
    job_calls: list[str] = []

    def local(messages: list[BaseMessage]) -> str:
        job_calls.append(str(messages[1].content))
        found = "7,300" in str(messages[1].content).split("Task:")[0]
        return json.dumps({"explanation": "", "citation": None, "answer": "7,300 euros" if found else None})

    def cloud(messages: list[BaseMessage]) -> str:
        if "Write at most" in str(messages[1].content):
            return json.dumps({"tasks": [{"task": "Find the budget", "query": "budget", "advice": ""}]})
        return json.dumps(
            {"decision": "final", "answer": "7,300 euros", "feedback": "", "scratchpad": "", "reason": ""}
        )

    def graph_on(saver: PostgresSaver) -> Any:
        return build_minions(
            ScriptedChatModel(responder=local, model_name="smol"),
            ScriptedChatModel(responder=cloud, model_name="gpt-4o"),
            chunk_size=40,
            chunk_overlap=0,
            max_rounds=1,
            max_cloud_calls=1,
            on_budget_exceeded="interrupt",
        ).compile(checkpointer=saver)

    config: dict[str, Any] = {"configurable": {"thread_id": "minions-pg-interrupt"}}
    with PostgresSaver.from_conn_string(postgres.url) as saver:
        saver.setup()
        first = graph_on(saver).invoke({"question": "What is the budget?", "documents": [DOC]}, config=config)
    assert "__interrupt__" in first and "answer" not in first
    assert first["__interrupt__"][0].value["type"] == "cloudlocal.budget"
    jobs_run = len(job_calls)
    assert jobs_run >= 2
    with PostgresSaver.from_conn_string(postgres.url) as other:
        out = graph_on(other).invoke(Command(resume=True), config=config)
    assert out["answer"] == "7,300 euros"
    assert len(job_calls) == jobs_run  # the jobs were not run again
    assert out["usage"]["cloud"]["calls"] == 2 and out["usage"]["local"]["calls"] == jobs_run
    tally.run_completed()
