"""A small research assistant: your own LangGraph graph that calls MinionS as a subgraph.

The parent graph has its own state (a topic, sub-questions, findings, a report). ``plan`` asks the local
model to split the topic into a few questions; ``research`` runs once per question (LangGraph ``Send``)
and calls the compiled MinionS graph, reading its ``answer`` and ``usage``; ``report`` writes the
findings and what they cost. The parent's checkpointer is inherited by the subgraph, the run settings
(``context``) flow down to it, and ``stream(..., subgraphs=True)`` shows MinionS's decisions under the
parent's node, which is how it looks in Studio too.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/research_assistant.py
    .venv/bin/python examples/research_assistant.py --topic "Risks and staffing" --document my_notes.md
"""

from __future__ import annotations

import argparse
import operator
import re
from typing import Annotated, Any, TypedDict

from _demo import DATA, demo_models, say, short
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from langgraph_cloudlocal import create_minions, load_document, resolve_model
from langgraph_cloudlocal.protocols.minions import MinionsSettings

DEFAULT_TOPIC = "How the Riverside clinic performed in 2025"


class ResearchState(TypedDict, total=False):
    topic: str
    documents: list[str]
    max_questions: int
    questions: list[str]
    findings: Annotated[list[dict[str, Any]], operator.add]  # one per question, from parallel branches
    report: str


class QuestionTask(TypedDict):
    question: str
    documents: list[str]


def parse_questions(text: str, limit: int) -> list[str]:
    """Lines that look like questions, without list markers; small models number them or not."""
    questions = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
        if line.endswith("?") and len(line) > 10 and line not in questions:
            questions.append(line)
    return questions[:limit]


def build_research_assistant(local: Any, cloud: Any, *, planner_max_tokens: int = 128) -> CompiledStateGraph:
    """The parent graph. ``local``/``cloud``: model specs or chat models (MinionS gets both)."""
    planner = resolve_model(local, "local", max_tokens=planner_max_tokens).model
    minions = create_minions(local, cloud, name="minions")

    def plan(state: ResearchState) -> dict[str, Any]:
        limit = state.get("max_questions") or 2
        reply = planner.invoke(
            [
                SystemMessage("You help a researcher. Reply with questions only, one per line."),
                HumanMessage(
                    f"Topic: {state['topic']}\nWrite {limit} short factual questions about this topic."
                ),
            ]
        )
        questions = parse_questions(str(reply.content), limit)
        if not questions:  # a small model may not write a clean list: fall back to the topic itself
            questions = [state["topic"].rstrip("?.") + "?"]
        return {"questions": questions}

    def fan_out(state: ResearchState) -> list[Send]:
        return [
            Send("research", {"question": q, "documents": state["documents"]}) for q in state["questions"]
        ]

    def research(task: QuestionTask, runtime: Runtime[MinionsSettings]) -> dict[str, Any]:
        # MinionS as a subgraph: its own input/output schema, called from a node of this graph. The run's
        # context (MinionsSettings) and checkpointer reach it without being passed.
        out = minions.invoke({"question": task["question"], "documents": task["documents"]})
        usage = out["usage"]
        return {
            "findings": [
                {
                    "question": task["question"],
                    "answer": out["answer"],
                    "cloud_cost_usd": usage.get("cloud_cost_usd", 0.0),
                    "cloud_only_cost_usd": usage.get("cloud_only_cost_usd", 0.0),
                    "private_chars_to_cloud": usage.get("private_chars_to_cloud", 0),
                    "decisions": len(out["decisions"]),
                }
            ]
        }

    def report(state: ResearchState) -> dict[str, Any]:
        findings = sorted(state.get("findings", []), key=lambda f: state["questions"].index(f["question"]))
        lines = [f"# {state['topic']}", ""]
        for f in findings:
            lines += [f"**{f['question']}**", "", f["answer"] or "(no answer)", ""]
        spent = sum(f["cloud_cost_usd"] for f in findings)
        cloud_only = sum(f["cloud_only_cost_usd"] for f in findings)
        private = sum(f["private_chars_to_cloud"] for f in findings)
        lines.append(
            f"_Cloud spend ${spent:.5f} (cloud-only estimate ${cloud_only:.5f}); "
            f"document characters sent to the cloud: {private}._"
        )
        return {"report": "\n".join(lines)}

    builder = StateGraph(ResearchState, context_schema=MinionsSettings)
    builder.add_node("plan", plan)
    builder.add_node("research", research)
    builder.add_node("report", report)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan_out, ["research"])
    builder.add_edge("research", "report")
    builder.add_edge("report", END)
    return builder.compile(checkpointer=InMemorySaver(), name="research_assistant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--document", default=str(DATA / "northwind_annual_report.pdf"))
    parser.add_argument("--questions", type=int, default=2, help="how many sub-questions to research")
    parser.add_argument(
        "--quick", action="store_true", help="tiny limits for a smoke run (used by the tests)"
    )
    args = parser.parse_args()

    text = load_document(args.document).text
    context: dict[str, Any] = {"max_rounds": 2, "max_tasks_per_round": 2}
    if args.quick:
        args.questions = 1
        context = {"max_rounds": 1, "max_tasks_per_round": 1, "chunk_size": 600, "structured_retries": 0}
        context |= {"local_max_tokens": 64, "cloud_max_tokens": 128}

    with demo_models() as (local, cloud):
        graph = build_research_assistant(local, cloud, planner_max_tokens=48 if args.quick else 128)
        inputs = {"topic": args.topic, "documents": [text], "max_questions": args.questions}
        config = {"configurable": {"thread_id": "research-1"}, "max_concurrency": 4}
        for namespace, mode, payload in graph.stream(
            inputs, config, context=context, stream_mode=["updates", "custom"], subgraphs=True
        ):
            where = " > ".join(part.split(":")[0] for part in namespace) or "parent"
            if mode == "custom" and payload.get("type") == "cloudlocal.decision":
                say(f"  [{where}] {payload['node']}: {payload['decision']} - {short(payload['reason'], 70)}")
            elif mode == "updates" and not namespace:
                for node, update in payload.items():
                    if node == "plan":
                        say(f"[parent] plan: {update['questions']}")
                    elif node == "research":
                        finding = update["findings"][0]
                        say(f"[parent] research done: {short(finding['question'], 60)}")
        state = graph.get_state(config).values  # the parent's checkpoint holds the whole run

    say("\n" + state["report"])


if __name__ == "__main__":
    main()
