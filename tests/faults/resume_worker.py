"""A MinionS run in its own process, for the kill-and-resume tests (tests/integration/test_resume.py).

    python -m tests.faults.resume_worker start  --db runs.sqlite --thread T --log calls.log [--block-after K]
    python -m tests.faults.resume_worker resume --db runs.sqlite --thread T --log calls.log

The local model is a scripted fake that appends one line per call to ``--log`` ("start CHUNK" before,
"end CHUNK" after), so the test can count how often each job's model call ran across both processes.
With ``--block-after K`` every local call after the K-th blocks forever: the process is then stuck in the
middle of the fan-out with exactly K jobs finished, and the test SIGKILLs it. The cloud is scripted too
("cloud plan" / "cloud synthesize" lines). ``--checkpointer postgres --db URL`` uses PostgresSaver;
``--ainvoke`` runs the graph with ``ainvoke`` on the async saver, as LangGraph Server does.

The final output (answer, usage, jobs, decisions) is printed as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.protocols.minions import build_minions
from langgraph_cloudlocal.testing import ScriptedChatModel

N_SECTIONS = 6
DOC = "\n\n".join(
    f"Section {i}. The depot in district {i} holds {200 + i} barrels of lamp oil." for i in range(N_SECTIONS)
)
QUESTION = "How many barrels does the depot in district 4 hold?"
SETTINGS = {"chunk_size": 80, "chunk_overlap": 0, "max_rounds": 1, "job_retries": 0}


def section_of(text: str) -> int:
    excerpt = text.split("Task:")[0]
    for i in range(N_SECTIONS):
        if f"district {i} " in excerpt:
            return i
    return -1


class CallLog:
    """Appends one line per event with a single write (O_APPEND), so lines from threads never mix."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())
        os.fsync(self.fd)


def make_models(log: CallLog, block_after: int | None, job_seconds: float) -> tuple[Any, Any]:
    lock = threading.Lock()
    count = {"calls": 0}

    def local(messages: list[BaseMessage]) -> str:
        section = section_of(str(messages[1].content))
        with lock:
            count["calls"] += 1
            ordinal = count["calls"]
        log.write(f"start {section}")
        if block_after is not None and ordinal > block_after:
            threading.Event().wait()  # stuck, like a hung model server: the test SIGKILLs the process
        time.sleep(job_seconds)
        log.write(f"end {section}")
        return json.dumps({"explanation": "stated", "citation": None, "answer": f"{200 + section} barrels"})

    def cloud(messages: list[BaseMessage]) -> str:
        text = str(messages[1].content)
        if "Write at most" in text:
            log.write("cloud plan")
            return json.dumps({"tasks": [{"task": "How many barrels?", "query": "barrels", "advice": ""}]})
        log.write("cloud synthesize")
        return json.dumps(
            {
                "decision": "final",
                "answer": "204 barrels",
                "feedback": "",
                "scratchpad": "",
                "reason": "found",
            }
        )

    return (
        ScriptedChatModel(responder=local, model_name="smollm2"),
        ScriptedChatModel(responder=cloud, model_name="gpt-4o"),
    )


@asynccontextmanager
async def async_checkpointer(kind: str, where: str) -> Any:
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(where) as saver:
            yield saver
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(where) as saver:
            await saver.setup()
            yield saver


@contextmanager
def checkpointer(kind: str, where: str) -> Any:
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(where) as saver:
            yield saver
    else:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(where) as saver:
            saver.setup()
            yield saver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--checkpointer", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--block-after", type=int, default=None)
    parser.add_argument("--max-concurrency", type=int, default=0)
    parser.add_argument("--job-seconds", type=float, default=0.05)
    parser.add_argument("--durability", choices=["sync", "async", "exit"], default=None)
    parser.add_argument(
        "--ainvoke", action="store_true", help="async checkpointer and ainvoke (as LangGraph Server)"
    )
    args = parser.parse_args(argv)

    log = CallLog(args.log)
    local, cloud = make_models(log, args.block_after if args.mode == "start" else None, args.job_seconds)
    config: dict[str, Any] = {"configurable": {"thread_id": args.thread}}
    if args.max_concurrency:
        config["max_concurrency"] = args.max_concurrency
    kwargs = {"durability": args.durability} if args.durability else {}
    inputs = {"question": QUESTION, "documents": [DOC]} if args.mode == "start" else None
    if args.ainvoke:

        async def run() -> dict[str, Any]:
            async with async_checkpointer(args.checkpointer, args.db) as saver:
                graph = build_minions(local, cloud, **SETTINGS).compile(checkpointer=saver)
                return await graph.ainvoke(inputs, config=config, **kwargs)

        out = asyncio.run(run())
    else:
        with checkpointer(args.checkpointer, args.db) as saver:
            graph = build_minions(local, cloud, **SETTINGS).compile(checkpointer=saver)
            out = graph.invoke(inputs, config=config, **kwargs)
    log.write("process done")
    print(json.dumps({k: out.get(k) for k in ("answer", "usage", "jobs", "decisions")}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
