"""MinionS with scripted models: every branch of plan -> jobs -> filter -> synthesize."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypedDict

import httpx
import openai
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph

from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.protocols.minions import build_minions, create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel

# Three paragraphs; with chunk_size=120 each is its own chunk.
DOC = (
    "The lighthouse keeper, Ottoline Varga, logs the weather every morning at six.\n\n"
    "The Quillfeather project has a budget of 7,300 euros, approved in March 2025.\n\n"
    "The storeroom holds forty lanterns and two spare brass lenses for the lamp."
)
QUESTION = "What is the budget of the Quillfeather project?"
SMALL = {"chunk_size": 120, "chunk_overlap": 0}


def plan(*tasks: str | dict[str, str]) -> str:
    items = [t if isinstance(t, dict) else {"task": t, "query": t, "advice": ""} for t in tasks]
    return json.dumps({"tasks": items})


def synth(
    decision: str = "final", answer: str = "", feedback: str = "", scratchpad: str = "", reason: str = ""
) -> str:
    return json.dumps(
        {
            "decision": decision,
            "answer": answer,
            "feedback": feedback,
            "scratchpad": scratchpad,
            "reason": reason,
        }
    )


def job_reply(answer: str | None, citation: str | None = None, explanation: str = "") -> str:
    return json.dumps({"explanation": explanation, "citation": citation, "answer": answer})


class Cloud:
    """A scripted cloud: plan replies and synthesis replies, each consumed in order (last one repeats)."""

    def __init__(self, plans: list[str], syntheses: list[str]) -> None:
        self.plans, self.syntheses = list(plans), list(syntheses)
        self.model = ScriptedChatModel(responder=self._respond, model_name="gpt-4o")

    def _respond(self, messages: list[BaseMessage]) -> str:
        text = str(messages[-1].content)
        script = self.plans if "Write at most" in text else self.syntheses
        return script.pop(0) if len(script) > 1 else script[0]

    def prompts(self, kind: str) -> list[str]:
        marker = "Write at most" if kind == "plan" else "Worker findings"
        return [c["prompt"] for c in self.model.calls if marker in c["prompt"]]


def excerpt_of(messages: list[BaseMessage]) -> str:
    """The chunk text of a job prompt (also on a retry, which appends messages)."""
    return str(messages[1].content).split("Task:")[0]


def budget_worker(messages: list[BaseMessage]) -> str:
    """Finds the budget in the chunk that has it; nothing elsewhere."""
    excerpt = excerpt_of(messages)
    if "7,300" in excerpt:
        return job_reply("7,300 euros", "a budget of 7,300 euros", "the excerpt states the budget")
    return job_reply(None, None, "not in this excerpt")


def local_model(responder: Callable[[list[BaseMessage]], str] = budget_worker) -> ScriptedChatModel:
    return ScriptedChatModel(responder=responder, model_name="smol")


def kinds(out: dict[str, Any]) -> list[str]:
    return [d["decision"] for d in out["decisions"]]


def run(
    cloud: Cloud, local: ScriptedChatModel | None = None, *, config: dict | None = None, **settings: Any
) -> dict:
    graph = create_minions(local or local_model(), cloud.model, **(SMALL | settings))
    return graph.invoke({"question": QUESTION, "documents": [DOC]}, config=config)


# --------------------------------------------------------------------------------------------------


def test_final_answer_in_round_one() -> None:
    cloud = Cloud(
        [plan("Find the project budget")], [synth("final", "7,300 euros", reason="worker found it")]
    )
    local = local_model()
    out = run(cloud, local)
    assert out["answer"] == "7,300 euros"
    assert kinds(out) == ["all_chunks", "plan", "answer"]
    assert out["decisions"][-1]["reason"] == "worker found it"
    # One job per chunk, each its own local call.
    assert len(out["jobs"]) == 3 and len(local.calls) == 3
    row = next(j for j in out["jobs"] if j["answer"])
    assert row == row | {
        "round": 1,
        "task": "Find the project budget",
        "answer": "7,300 euros",
        "failed": False,
    }
    assert row["citation"] == "a budget of 7,300 euros" and row["chunk_id"] and row["document_id"]
    assert sum(1 for j in out["jobs"] if j["answer"] is None) == 2
    assert out["rounds"] == [
        {
            "round": 1,
            "tasks": ["Find the project budget"],
            "jobs": 3,
            "answered": 1,
            "failed": 0,
            "unread_chunks": [],
            "decision": "answer",
        }
    ]
    usage = out["usage"]
    assert usage["cloud"]["calls"] == 2 and usage["local"]["calls"] == 3
    assert usage["local"]["input_tokens"] > 0 and usage["cloud"]["output_tokens"] > 0
    assert usage["private_chars_to_cloud"] == 0
    # The cloud reads only the filtered outputs: no document text, no null jobs.
    for prompt in (c["prompt"] for c in cloud.model.calls):
        assert "lighthouse keeper" not in prompt and "forty lanterns" not in prompt
    findings = cloud.prompts("synth")[0]
    assert "7,300 euros" in findings and "not in this excerpt" not in findings
    # The chunk comes before the task in each job prompt (prompt cache).
    prompt = local.calls[0]["prompt"]
    assert prompt.index("Excerpt:") < prompt.index("Task: Find the project budget")


def test_another_round_carries_feedback_and_scratchpad() -> None:
    cloud = Cloud(
        [plan("Who keeps the lighthouse?"), plan("Find the project budget")],
        [
            synth(
                "another_round",
                feedback="FEEDBACK-budget-missing",
                scratchpad="NOTES-keeper-is-Varga",
                reason="no budget yet",
            ),
            synth("final", "7,300 euros"),
        ],
    )
    out = run(cloud)
    assert kinds(out) == ["all_chunks", "plan", "another_round", "plan", "answer"]
    assert out["decisions"][2]["reason"] == "no budget yet"
    first_plan, second_plan = cloud.prompts("plan")
    assert "FEEDBACK" not in first_plan and "Round 1 of 3" in first_plan
    assert "FEEDBACK-budget-missing" in second_plan and "NOTES-keeper-is-Varga" in second_plan
    assert "Round 2 of 3" in second_plan
    assert "NOTES-keeper-is-Varga" in cloud.prompts("synth")[1]  # the scratchpad reaches synthesis too
    assert [r["round"] for r in out["rounds"]] == [1, 2]
    assert out["rounds"][0]["feedback"] == "FEEDBACK-budget-missing"
    assert {j["round"] for j in out["jobs"]} == {1, 2} and len(out["jobs"]) == 6
    assert out["answer"] == "7,300 euros"


def test_last_round_must_answer() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("another_round", "7,300 euros", feedback="more please")])
    out = run(cloud, max_rounds=1)
    assert kinds(out) == ["all_chunks", "plan", "forced_answer"]
    assert out["answer"] == "7,300 euros"
    assert "This is the last round" in cloud.prompts("synth")[0]


def test_round_cap_from_run_context() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("another_round", "7,300 euros", feedback="more")])
    graph = create_minions(local_model(), cloud.model, **SMALL)
    out = graph.invoke({"question": QUESTION, "documents": [DOC]}, context={"max_rounds": 1})
    assert kinds(out)[-1] == "forced_answer"


def test_empty_forced_answer_uses_the_best_job_answer() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("another_round", "", feedback="more")])
    out = run(cloud, max_rounds=1)
    assert out["answer"] == "7,300 euros"
    assert kinds(out)[-1] == "local_answer"


def test_budget_stop_at_synthesis_answers_locally() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("final", "never")])
    out = run(cloud, max_cloud_calls=1)
    assert kinds(out) == ["all_chunks", "plan", "budget_stop", "local_answer"]
    assert out["answer"] == "7,300 euros"
    assert "found locally" in out["decisions"][-1]["reason"]
    assert out["usage"]["cloud"]["calls"] == 1
    assert len(cloud.model.calls) == 1


def test_no_cloud_budget_runs_the_question_locally() -> None:
    cloud = Cloud([plan("never")], [synth("final", "never")])
    out = run(cloud, max_cloud_calls=0)
    assert cloud.model.calls == []
    assert kinds(out) == ["all_chunks", "budget_stop", "plan", "budget_stop", "local_answer"]
    assert "the question itself is the only task" in out["decisions"][2]["reason"]
    assert {j["task"] for j in out["jobs"]} == {QUESTION}
    assert out["answer"] == "7,300 euros" and out["usage"]["cloud"]["calls"] == 0


def test_budget_stop_at_a_later_plan_synthesizes_from_what_it_has() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("another_round", feedback="check")])
    out = run(cloud, max_cloud_calls=2)
    assert kinds(out) == ["all_chunks", "plan", "another_round", "budget_stop", "budget_stop", "local_answer"]
    assert {j["round"] for j in out["jobs"]} == {1}  # no new jobs after the stop
    assert out["answer"] == "7,300 euros"


def test_token_budget_is_checked_before_every_cloud_call() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, max_cloud_tokens=10)
    assert cloud.model.calls == []
    assert "cloud token cap" in out["decisions"][1]["reason"]


def test_job_failures_are_recorded_not_raised() -> None:
    def worker(messages: list[BaseMessage]) -> str:
        excerpt = excerpt_of(messages)
        if "lighthouse" in excerpt:
            raise ConnectionRefusedError("server gone")
        if "storeroom" in excerpt:
            return "I cannot say."  # unreadable, every attempt
        return budget_worker(messages)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(worker), job_retries=0, structured_retries=1)
    assert out["answer"] == "7,300 euros"
    failed = [j for j in out["jobs"] if j["failed"]]
    assert len(failed) == 2
    errors = sorted(j["error"] for j in failed)
    assert errors[0].startswith("ModelCallError") and errors[1].startswith("unreadable output")
    failure = next(d for d in out["decisions"] if d["decision"] == "job_failed")
    assert failure["reason"].startswith("2 of 3 job(s) failed") and failure["score"] == pytest.approx(2 / 3)
    assert out["rounds"][0]["failed"] == 2 and out["rounds"][0]["answered"] == 1
    # failed calls are counted: 1 unreachable + 1 unreadable (2 attempts)
    assert out["usage"]["local"]["failed_calls"] == 2


def test_job_retry_after_a_connection_error() -> None:
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def flaky(messages: list[BaseMessage]) -> str:
        key = str(messages[-1].content)[:60]
        with lock:
            attempts[key] = attempts.get(key, 0) + 1
            first = attempts[key] == 1
        if first:
            raise ConnectionRefusedError("blip")
        return budget_worker(messages)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(flaky), job_retries=1)
    assert not any(j["failed"] for j in out["jobs"])
    assert all(j["attempts"] == 2 for j in out["jobs"])


def test_a_job_whose_prompt_is_too_long_is_not_retried() -> None:
    attempts = []

    def overflow(messages: list[BaseMessage]) -> str:
        if "lighthouse" not in excerpt_of(messages):
            return budget_worker(messages)
        attempts.append(1)
        body = {
            "code": 400,
            "message": "request (5034 tokens) exceeds the available context size (2048 tokens)",
        }
        request = httpx.Request("POST", "http://127.0.0.1:8080/v1/chat/completions")
        response = httpx.Response(400, request=request, json={"error": body})
        raise openai.BadRequestError(f"Error code: 400 - {body['message']}", response=response, body=body)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(overflow), job_retries=2)
    failed = [j for j in out["jobs"] if j["failed"]]
    assert len(failed) == 1 and failed[0]["error"].startswith("PromptTooLongError")
    assert failed[0]["attempts"] == 1 and len(attempts) == 1
    assert all(j["attempts"] == 1 for j in out["jobs"])


def test_copied_template_is_no_answer_and_made_up_citations_are_flagged() -> None:
    def worker(messages: list[BaseMessage]) -> str:
        excerpt = excerpt_of(messages)
        if "lighthouse" in excerpt:  # copies the JSON template (SmolLM2 does this)
            return job_reply(
                "short answer, or null if the excerpt does not say", "exact words from the excerpt"
            )
        if "storeroom" in excerpt:  # an answer with a citation the excerpt does not contain
            return job_reply("9,000 euros", "the budget is 9,000 euros", "made up")
        return job_reply("7,300 euros", '"A budget of 7,300 EUROS."', "quoted with other case and quotes")

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(worker))
    rows = {j["chunk_id"].split(":")[1]: j for j in out["jobs"]}
    copied, budget, storeroom = rows["0"], rows["1"], rows["2"]
    assert copied["answer"] is None and copied["citation"] is None and copied["repeated_template"]
    assert budget["citation_in_excerpt"] is True and not budget["repeated_template"]
    assert storeroom["citation_in_excerpt"] is False
    doubtful = next(d for d in out["decisions"] if d["decision"] == "doubtful_findings")
    assert doubtful["reason"].startswith("1 job(s) copied the prompt's template")
    # The made-up finding's value (9,000) is not in its excerpt while 7,300 is: set aside, never shown.
    assert storeroom["value_in_excerpt"] is False and budget["value_in_excerpt"] is True
    assert "1 finding(s) set aside for a better-attributed one" in doubtful["reason"]
    assert doubtful["score"] == pytest.approx(2 / 3)
    synthesis_prompt = cloud.prompts("synthesize")[0]
    assert "short answer, or null" not in synthesis_prompt  # the copied template never reaches the cloud
    # One line for the task with the value and how many excerpts agree; the quotes stay local unless
    # quotes_to_cloud is set.
    assert "1. Find the budget: 7,300 euros (1 excerpt(s))" in synthesis_prompt
    assert "9,000" not in synthesis_prompt and "A budget of 7,300 EUROS" not in synthesis_prompt


def test_a_finding_whose_quote_is_not_in_its_excerpt_is_flagged_to_the_cloud() -> None:
    def worker(messages: list[BaseMessage]) -> str:
        if "7,300" in excerpt_of(messages):  # the right value, with a quote the excerpt does not hold
            return job_reply("7,300 euros", "the budget is 7,300 euros in total")
        return job_reply(None)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(worker))
    doubtful = next(d for d in out["decisions"] if d["decision"] == "doubtful_findings")
    assert "1 finding(s) cite words not in their excerpt" in doubtful["reason"]
    assert "7,300 euros (1 excerpt(s), its quote is not in the excerpt)" in cloud.prompts("synthesize")[0]


def test_no_doubtful_findings_decision_when_every_citation_is_found() -> None:
    out = run(Cloud([plan("Find the budget")], [synth("final", "7,300 euros")]))
    assert "doubtful_findings" not in kinds(out)
    assert [j["citation_in_excerpt"] for j in out["jobs"]].count(True) == 1


def budget_only_worker(messages: list[BaseMessage]) -> str:
    """Finds the budget only when the task asks for it."""
    if "budget" not in str(messages[1].content).split("Task:")[1]:
        return job_reply(None, None, "not in this excerpt")
    return budget_worker(messages)


def test_a_round_without_findings_plans_again_without_asking_the_cloud_to_synthesize() -> None:
    cloud = Cloud(
        [plan("Find the lighthouse keeper's salary"), plan("Find the budget")],
        [synth("final", "7,300 euros")],
    )
    out = run(cloud, local_model(budget_only_worker), max_rounds=3)
    assert out["answer"] == "7,300 euros"
    assert len(cloud.prompts("plan")) == 2 and len(cloud.prompts("synthesize")) == 1
    skipped = out["decisions"][2]
    assert skipped["decision"] == "another_round" and skipped["node"] == "synthesize"
    assert "not asked to synthesize" in skipped["reason"] and skipped["tokens"] == 0
    second_plan = cloud.prompts("plan")[1]
    assert (
        "No worker found an answer in round 1" in second_plan and "lighthouse keeper's salary" in second_plan
    )
    assert [r["decision"] for r in out["rounds"]] == ["another_round", "answer"]
    assert out["usage"]["cloud_calls"] == 3  # two plans, one synthesis


def test_a_round_without_findings_can_still_ask_the_cloud() -> None:
    cloud = Cloud([plan("Find the lighthouse keeper's salary")], [synth("final", "unknown")])
    out = run(cloud, local_model(budget_only_worker), max_rounds=3, synthesize_without_findings=True)
    assert len(cloud.prompts("synthesize")) == 1 and out["answer"] == "unknown"
    assert (
        "1. Find the lighthouse keeper's salary: not found (3 excerpt(s) read)"
        in cloud.prompts("synthesize")[0]
    )


def test_the_last_round_synthesizes_even_without_findings() -> None:
    cloud = Cloud([plan("Find the lighthouse keeper's salary")], [synth("final", "not in the documents")])
    out = run(cloud, local_model(budget_only_worker), max_rounds=2)
    assert len(cloud.prompts("plan")) == 2 and len(cloud.prompts("synthesize")) == 1
    assert out["answer"] == "not in the documents"


def test_job_timeout() -> None:
    def slow(messages: list[BaseMessage]) -> str:
        if "lighthouse" in str(messages[-1].content):
            time.sleep(6.0)
        return budget_worker(messages)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    started = time.perf_counter()
    out = run(cloud, local_model(slow), job_retries=0, job_timeout_s=0.2)
    assert (
        time.perf_counter() - started < 5.0
    )  # the run did not wait for the slow job (margin for a busy machine)
    failed = [j for j in out["jobs"] if j["failed"]]
    assert len(failed) == 1 and failed[0]["error"].startswith("JobTimeout")


def test_malformed_json_is_repaired_or_retried() -> None:
    replies: dict[str, list[str]] = {}
    lock = threading.Lock()

    def sloppy(messages: list[BaseMessage]) -> str:
        text = str(messages[-1].content)
        if "could not be used" in text:  # the retry after an unreadable reply
            return job_reply(None)
        excerpt = text.split("Task:")[0]
        if "7,300" in excerpt:
            return "```json\n{'explanation': 'stated', 'citation': 'budget of 7,300 euros', 'answer': '7,300 euros',}\n```"
        with lock:
            replies.setdefault("bad", []).append(text)
        return "no idea"

    cloud = Cloud(
        [
            'Here is my plan: {"tasks": [{"task": "Find the budget", "query": "budget", "advice": "a number",}]}'
        ],
        ['{"decision": "final", "answer": "7,300 euros", "feedback": "", "scratchpad": "", "reason": "ok"'],
    )
    out = run(cloud, local_model(sloppy))
    assert out["answer"] == "7,300 euros"
    assert not any(j["failed"] for j in out["jobs"])
    assert [j["answer"] for j in out["jobs"]].count("7,300 euros") == 1
    assert out["usage"]["local"]["calls"] == 5  # 1 repaired + 2 x (bad, retried)
    assert out["usage"]["cloud"]["calls"] == 2


def test_null_like_answers_are_filtered() -> None:
    def vague(messages: list[BaseMessage]) -> str:
        if "7,300" in excerpt_of(messages):
            return job_reply("7,300 euros")
        return job_reply("Not mentioned.", "null")

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(vague))
    assert [j["answer"] for j in out["jobs"]].count(None) == 2
    assert "Not mentioned" not in cloud.prompts("synth")[0]


def test_unusable_plan_falls_back_to_the_question() -> None:
    cloud = Cloud(["I would look for the budget."], [synth("final", "7,300 euros")])
    out = run(cloud, structured_retries=0)
    assert "plan_failed" in kinds(out)
    assert {j["task"] for j in out["jobs"]} == {QUESTION}
    assert out["usage"]["cloud"]["failed_calls"] == 1


def test_unreadable_synthesis_answers_locally() -> None:
    cloud = Cloud([plan("Find the budget")], ["the answer is somewhere"])
    out = run(cloud, structured_retries=0)
    assert out["answer"] == "7,300 euros" and kinds(out)[-1] == "local_answer"
    assert "could not be read" in out["decisions"][-1]["reason"]


def test_task_and_job_caps() -> None:
    cloud = Cloud([plan("A", "B", "C", "D")], [synth("final", "x")])
    out = run(cloud, max_tasks_per_round=2, max_jobs_per_round=4, max_rounds=1)
    assert {j["task"] for j in out["jobs"]} == {"A", "B"}
    # Tasks share the cap in turn: A, B, A, B.
    assert [j["task"] for j in sorted(out["jobs"], key=lambda j: (j["chunk_id"], j["task"]))].count("A") == 2
    planned = next(d for d in out["decisions"] if d["decision"] == "plan")
    assert "2 more dropped by max_tasks_per_round=2" in planned["reason"]
    # A and B read the first two chunks; the third was read by no one, and the run says so.
    read = {j["chunk_id"] for j in out["jobs"]}
    assert len(read) == 2 and len(out["rounds"][0]["unread_chunks"]) == 1
    assert out["rounds"][0]["unread_chunks"][0] not in read and "jobs_capped" in kinds(out)


def test_a_cap_that_leaves_chunks_unread_says_which() -> None:
    cloud = Cloud([plan("A", "B")], [synth("final", "x")])
    out = run(cloud, max_jobs_per_round=2, max_rounds=1)
    read = {j["chunk_id"] for j in out["jobs"]}
    assert len(out["jobs"]) == 2 and len(read) == 1  # A and B on the first chunk, in turn
    capped = next(d for d in out["decisions"] if d["decision"] == "jobs_capped")
    unread = out["rounds"][0]["unread_chunks"]
    assert len(unread) == 2 and not read & set(unread)
    assert capped["threshold"] == 2 and capped["score"] == 2
    assert all(chunk_id in capped["reason"] for chunk_id in unread)


def test_no_cap_by_default_every_job_runs() -> None:
    cloud = Cloud([plan("A", "B", "C", "D")], [synth("final", "x")])
    out = run(cloud)
    assert len(out["jobs"]) == 4 * 3 and "jobs_capped" not in kinds(out)  # 12 < the default cap of 64


class TemperatureModel(ScriptedChatModel):
    """Records the temperature each call was made at."""

    temperature: float = 0.0
    seen: list = []

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Any:
        self.seen.append(self.temperature)
        return super()._generate(messages, stop, run_manager, **kwargs)


def test_several_samples_per_job() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    local = TemperatureModel(responder=budget_worker, model_name="smol", seen=[])
    out = run(cloud, local, samples_per_job=2, sample_temperature=0.9)
    assert len(out["jobs"]) == 6 and sorted({j["sample"] for j in out["jobs"]}) == [0, 1]
    assert local.seen == [0.9] * 6 and local.temperature == 0.0  # sampled on a copy


def test_citations_relayed_to_the_cloud_are_measured() -> None:
    quote = "The Quillfeather project has a budget of 7,300 euros, approved in March 2025."

    def quoting(messages: list[BaseMessage]) -> str:
        if "7,300" in excerpt_of(messages):
            return job_reply("7,300 euros", quote)
        return job_reply(None)

    out = run(Cloud([plan("Find the budget")], [synth("final", "7,300 euros")]), local_model(quoting))
    assert out["usage"]["quoted_chars_to_cloud"] == 0  # quotes stay local by default
    assert out["usage"]["private_chars_to_cloud"] == 0
    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(quoting), quotes_to_cloud=True)
    usage = out["usage"]
    # measured from the synthesis request: the citation, and at most the line breaks around it (which
    # the prompt and the document share)
    assert len(quote) <= usage["private_chars_to_cloud"] <= len(quote) + 2
    assert usage["quoted_chars_to_cloud"] >= len(quote)
    # DOC's values: Ottoline Varga, 7,300, 2025; the citation carries the last two
    assert (usage["sensitive_values_to_cloud"], usage["sensitive_values_total"]) == (2, 3)


def test_concurrency_is_bounded_by_max_concurrency() -> None:
    live, peak = 0, 0
    lock = threading.Lock()

    def counting(messages: list[BaseMessage]) -> str:
        nonlocal live, peak
        with lock:
            live += 1
            peak = max(peak, live)
        time.sleep(0.05)
        with lock:
            live -= 1
        return job_reply(None)

    docs = [f"Note {i}: nothing of interest here at all, just filler text." for i in range(8)]
    cloud = Cloud([plan("Find the budget")], [synth("final", "none")])
    graph = create_minions(local_model(counting), cloud.model, **SMALL, max_rounds=1)
    out = graph.invoke({"question": QUESTION, "documents": docs}, config={"max_concurrency": 2})
    assert len(out["jobs"]) == 8 and 1 <= peak <= 2


@pytest.mark.parametrize(
    ("config", "settings", "waves"),
    [
        ({"max_concurrency": 3}, {}, [3, 3, 2]),
        ({}, {"job_wave_size": 5}, [5, 3]),
        ({"max_concurrency": 8}, {}, [8]),
    ],
)
def test_jobs_run_in_waves_that_each_end_in_a_checkpoint(
    config: dict[str, Any], settings: dict[str, Any], waves: list[int]
) -> None:
    # Waves no larger than max_concurrency: every job of a wave starts at once, so its result is saved
    # before the next wave starts (a crash then loses no finished job).
    docs = [f"Note {i}: nothing of interest here at all, just filler text." for i in range(8)]
    cloud = Cloud([plan("Find the budget")], [synth("final", "none")])
    graph = create_minions(
        local_model(lambda m: job_reply(None)), cloud.model, **(SMALL | settings), max_rounds=1
    )
    jobs_per_wave: list[int] = [0]
    stream = graph.stream({"question": QUESTION, "documents": docs}, config=config, stream_mode="updates")
    for update in stream:
        if "job" in update:
            jobs_per_wave[-1] += 1
        elif "wave_done" in update:
            jobs_per_wave.append(0)
    assert jobs_per_wave == [*waves, 0]


def test_bad_input_fails_before_any_call() -> None:
    cloud = Cloud([plan("x")], [synth("final", "x")])
    local = local_model()
    graph = create_minions(local, cloud.model)
    for bad in (
        {"question": QUESTION},
        {"question": QUESTION, "documents": []},
        {"question": "", "documents": [DOC]},
        {"question": QUESTION, "documents": ["  "]},
        {"question": QUESTION, "document_ids": ["doc-1"]},  # ids need a store
    ):
        with pytest.raises(InputError):
            graph.invoke(bad)
    with pytest.raises(InputError):
        graph.invoke({"question": QUESTION, "documents": [DOC]}, context={"retrieval": "on"})
    assert cloud.model.calls == [] and local.calls == []
    for settings in (
        {"max_rounds": 0},
        {"retrieval": "maybe"},
        {"chunk_size": 100, "chunk_overlap": 90},
        {"x": 1},
    ):
        with pytest.raises(InputError):
            create_minions(local, cloud.model, **settings)


def test_builder_twin_and_name() -> None:
    cloud = Cloud([plan("x")], [synth("final", "x")])
    builder = build_minions(local_model(), cloud.model)
    assert set(builder.nodes) == {"prepare", "plan", "job", "wave_done", "filter", "synthesize"}
    assert create_minions(local_model(), cloud.model).name == "minions"
    assert create_minions(local_model(), cloud.model, name="readers").name == "readers"


class ParentState(TypedDict, total=False):
    question: str
    documents: list[str]
    answer: str
    report: str


def parent_graph(sub: Any) -> Any:
    def load(state: ParentState) -> dict:
        return {"documents": [DOC]}

    def report(state: ParentState) -> dict:
        return {"report": f"Answer: {state['answer']}"}

    parent = StateGraph(ParentState)
    parent.add_node("load", load)
    parent.add_node("minions", sub)
    parent.add_node("report", report)
    parent.add_edge(START, "load")
    parent.add_edge("load", "minions")
    parent.add_edge("minions", "report")
    parent.add_edge("report", END)
    return parent.compile()


def test_minions_as_a_node_of_a_parent_graph() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    sub = create_minions(local_model(), cloud.model, **SMALL)
    out = parent_graph(sub).invoke({"question": QUESTION})
    assert out["report"] == "Answer: 7,300 euros"


async def test_async_and_subgraph_streaming_show_rounds_and_jobs() -> None:
    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = await create_minions(local_model(), cloud.model, **SMALL).ainvoke(
        {"question": QUESTION, "documents": [DOC]}
    )
    assert out["answer"] == "7,300 euros"

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    parent = parent_graph(create_minions(local_model(), cloud.model, **SMALL))
    events = [
        (ns, mode, data)
        async for ns, mode, data in parent.astream(
            {"question": QUESTION}, stream_mode=["updates", "custom"], subgraphs=True
        )
    ]
    inner = [next(iter(data)) for ns, mode, data in events if ns and mode == "updates"]
    assert inner == ["prepare", "plan", "job", "job", "job", "wave_done", "filter", "synthesize"]
    progress = [d for ns, mode, d in events if mode == "custom" and d["type"] == "cloudlocal.progress"]
    job_progress = [p for p in progress if p["phase"] == "jobs" and p["jobs_done"] > 0]
    assert sorted(p["jobs_done"] for p in job_progress) == [1, 2, 3]
    assert all(p["jobs_total"] == 3 and p["round"] == 1 for p in job_progress)
    assert [ns for ns, mode, d in events if mode == "updates" and ns][0][0].startswith("minions:")


# --------------------------------------------------------------------------------------------------
# Retrieval from a ChunkStore (in memory, with a deterministic keyword embedding: no network)

VOCABULARY = ("budget", "lighthouse", "keeper", "lantern", "storeroom", "weather", "euros", "lens")


class KeywordEmbeddings(Embeddings):
    """A vector of keyword counts: chunks about the query's words come first."""

    def _vector(self, text: str) -> list[float]:
        lowered = text.lower()
        return [float(lowered.count(word)) + 0.01 for word in VOCABULARY]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


FILLER = "Nothing else of note happened on the island that season, and the ferry ran on time."
LONG_DOC = "\n\n".join(
    [DOC.split("\n\n")[0], FILLER, FILLER, DOC.split("\n\n")[1], FILLER, DOC.split("\n\n")[2]]
)


@pytest.fixture
def store() -> Any:
    from langgraph_cloudlocal.store import ChunkStore

    chunk_store = ChunkStore.in_memory(collection="minions-test", embedding=KeywordEmbeddings())
    yield chunk_store
    chunk_store.close()


def test_retrieval_runs_jobs_on_the_top_chunks(store: Any) -> None:
    cloud = Cloud(
        [plan({"task": "Find the project budget", "query": "budget euros", "advice": "a number"})],
        [synth("final", "7,300 euros")],
    )
    graph = create_minions(local_model(), cloud.model, store=store, **SMALL, retrieval_min_chars=200, top_k=1)
    out = graph.invoke({"question": QUESTION, "documents": [LONG_DOC]})
    assert kinds(out) == ["retrieval", "plan", "answer"]
    assert ">= retrieval_min_chars=200" in out["decisions"][0]["reason"]
    assert len(out["jobs"]) == 1 and out["jobs"][0]["answer"] == "7,300 euros"
    assert store.count() == 6  # the documents were added to the store
    assert "6 chunks" in cloud.prompts("plan")[0] and "best match them" in cloud.prompts("plan")[0]
    assert out["usage"]["document_chars"] == len(LONG_DOC)


def test_retrieval_off_or_short_documents_use_all_chunks(store: Any) -> None:
    for settings, why in (
        ({"retrieval": "off"}, "retrieval is off"),
        ({"retrieval_min_chars": 8000}, "< retrieval_min_chars=8000"),
    ):
        cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
        graph = create_minions(local_model(), cloud.model, store=store, **SMALL, **settings)
        out = graph.invoke({"question": QUESTION, "documents": [LONG_DOC]})
        assert kinds(out)[0] == "all_chunks" and why in out["decisions"][0]["reason"]
        assert len(out["jobs"]) == 6
    assert store.count() == 0  # nothing was stored without retrieval


def test_retrieval_on_always_retrieves(store: Any) -> None:
    cloud = Cloud(
        [plan({"task": "Who keeps the lighthouse?", "query": "lighthouse keeper", "advice": ""})],
        [synth("final", "Varga")],
    )
    graph = create_minions(
        local_model(), cloud.model, store=store, **SMALL, retrieval="on", top_k=2, max_rounds=1
    )
    out = graph.invoke({"question": QUESTION, "documents": [DOC]})
    assert kinds(out)[0] == "retrieval" and len(out["jobs"]) == 2
    assert out["jobs"][0]["chunk_id"] in {c.id for c in store.search("lighthouse keeper", k=1)}


def test_documents_by_id_from_the_store(store: Any) -> None:
    from langgraph_cloudlocal.documents import Document

    ids = store.add_documents([Document(LONG_DOC, id="memo")], chunk_size=120, overlap=0)
    assert ids == ["memo"]
    for settings, first in (
        ({"retrieval_min_chars": 200, "top_k": 2}, "retrieval"),
        ({"retrieval": "off"}, "all_chunks"),
    ):
        cloud = Cloud(
            [plan({"task": "Find the budget", "query": "budget", "advice": ""})],
            [synth("final", "7,300 euros")],
        )
        graph = create_minions(local_model(), cloud.model, store=store, **settings)
        out = graph.invoke({"question": QUESTION, "document_ids": ids})
        assert kinds(out)[0] == first and out["answer"] == "7,300 euros"
        assert {j["document_id"] for j in out["jobs"]} == {"memo"}
        # The text is rebuilt from the chunks' offsets: the cloud-only estimate and privacy checks see it all.
        assert out["usage"]["document_chars"] == len(LONG_DOC)
    with pytest.raises(InputError, match="not in the store"):
        graph.invoke({"question": QUESTION, "document_ids": ["no-such-doc"]})


def test_plan_schema_caps_the_task_list_for_constrained_decoding() -> None:
    from langgraph_cloudlocal.prompts.minions import JobOutput, plan_schema

    schema = plan_schema(2).model_json_schema()
    assert schema["properties"]["tasks"]["maxItems"] == 2
    assert plan_schema(2) is plan_schema(2)
    assert len(plan_schema(2).model_validate({"tasks": [{"task": "a"}] * 3}).tasks) == 3  # lenient
    # Every job field is required in the schema (so it is written) but optional when parsing.
    assert set(JobOutput.model_json_schema()["required"]) == {"citation", "answer"}
    assert JobOutput.model_validate({"answer": "x"}).citation is None


# --------------------------------------------------------------------------------------------------
# Entity tasks: jobs only where the name is, findings attributed, the supervisor reads one line a task

REVIEW = (
    "# Review\n\nTwelve companies filed.\n\n"
    "## Aldor Systems\n\nAldor Systems makes sensors. Revenue for 2023 was $161 million. "
    "It is often confused with Aldor Logistics, which reported $507 million of revenue for 2023.\n\n"
    "## Brevik Labs\n\nBrevik Labs makes flour. Revenue for 2023 was $88 million.\n\n"
    "## Aldor Logistics\n\nAldor Logistics runs ferries. Revenue for 2023 was $507 million."
)


def revenue_worker(messages: list[BaseMessage]) -> str:
    """Reads the first revenue sentence of its excerpt, whoever it is about; on the Aldor Systems section,
    it falls for the namesake's figure (what SmolLM2 does)."""
    excerpt = excerpt_of(messages)
    if "Aldor Systems makes" in excerpt:
        return job_reply("507", "Aldor Logistics, which reported $507 million of revenue for 2023")
    for sentence in excerpt.replace("\n", " ").split(". "):
        if "Revenue for 2023" in sentence:
            return job_reply(sentence.split("$")[1].split(" ")[0], sentence)
    return job_reply(None)


def test_chunking_auto_cuts_markdown_by_section_and_jobs_run_where_the_entity_is_named() -> None:
    cloud = Cloud(
        [
            plan(
                {"entity": "Aldor Logistics", "task": "2023 revenue"},
                {"entity": "Brevik Labs", "task": "2023 revenue"},
            )
        ],
        [synth("final", "595")],
    )
    local = local_model(revenue_worker)
    graph = create_minions(local, cloud.model)
    out = graph.invoke(
        {"question": "Combined 2023 revenue of Aldor Logistics and Brevik Labs?", "documents": [REVIEW]}
    )
    jobs = {(j["entity"], j["section"].split(" > ")[-1]) for j in out["jobs"]}
    # Aldor Logistics is named in its own section and in Aldor Systems'; Brevik Labs in its own only.
    assert jobs == {
        ("Aldor Logistics", "Aldor Systems"),
        ("Aldor Logistics", "Aldor Logistics"),
        ("Brevik Labs", "Brevik Labs"),
    }
    assert all(j["chosen_by"] == "named" for j in out["jobs"]) and len(local.calls) == 3
    planned = next(d for d in out["decisions"] if d["decision"] == "plan")
    assert "task 1 on the chunks that name its entity (2 job(s))" in planned["reason"]
    table = cloud.prompts("synthesize")[0]
    assert "1. Aldor Logistics | 2023 revenue: 507 (2 excerpt(s))" in table
    assert "2. Brevik Labs | 2023 revenue: 88 (1 excerpt(s))" in table


def test_a_finding_quoting_a_similar_name_is_set_aside() -> None:
    cloud = Cloud([plan({"entity": "Aldor Systems", "task": "2023 revenue"})], [synth("final", "161")])
    out = create_minions(local_model(revenue_worker), cloud.model, max_rounds=2).invoke(
        {"question": "What was the 2023 revenue of Aldor Systems?", "documents": [REVIEW]}
    )
    first = [j for j in out["jobs"] if j["round"] == 1]
    (row,) = first  # only the Aldor Systems section names Aldor Systems
    assert row["answer"] == "507" and row["attribution"] == "other_entity"
    # Round 1's only finding was about the namesake: set aside, so round 2 plans again without asking the
    # cloud; the last round's synthesis reads "not found", never 507.
    assert kinds(out).count("another_round") == 1
    (table,) = cloud.prompts("synthesize")
    assert "1. Aldor Systems | 2023 revenue: not found (1 excerpt(s) read)" in table and "507" not in table
    doubtful = next(d for d in out["decisions"] if d["decision"] == "doubtful_findings")
    assert "1 finding(s) set aside" in doubtful["reason"]
    assert "1 quoting a similar but different name" in doubtful["reason"]


def test_attribution_rules() -> None:
    from langgraph_cloudlocal.prompts.minions import attribute_finding

    assert attribute_finding("Aldor Systems", "Aldor Systems booked $161 million", None) == "named"
    assert (
        attribute_finding("Aldor Systems", "Revenue was $161 million", "Review > Aldor Systems")
        == "own_section"
    )
    assert attribute_finding("Aldor Systems", "Revenue was $88 million", "Review > Brevik Labs") == "unclear"
    assert (
        attribute_finding(
            "Aldor Systems", "unlike Aldor Logistics, with $507 million", "Review > Aldor Systems"
        )
        == "other_entity"
    )
    assert attribute_finding("", "anything", None) == "named"  # a task without an entity


def test_an_entity_no_chunk_names_falls_back_to_every_chunk() -> None:
    cloud = Cloud([plan({"entity": "Zebulon Works", "task": "2023 revenue"})], [synth("final", "x")])
    out = create_minions(local_model(revenue_worker), cloud.model, max_rounds=1).invoke(
        {"question": "What was the 2023 revenue of Zebulon Works?", "documents": [REVIEW]}
    )
    assert {j["chosen_by"] for j in out["jobs"]} == {"all"} and len(out["jobs"]) == 4


class CountingEmbeddings(KeywordEmbeddings):
    """KeywordEmbeddings that count the chunks they embed (queries apart)."""

    def __init__(self) -> None:
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)


def test_a_second_question_on_the_same_document_does_not_embed_it_again(tmp_path: Any) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    counts = []
    for question in (QUESTION, "Who keeps the lighthouse?"):
        embeddings = CountingEmbeddings()
        # A new store object on the same folder each time, as each `cloudlocal run` opens it.
        with ChunkStore.persistent(tmp_path / "chunks", embedding=embeddings) as store:
            cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
            out = create_minions(local_model(), cloud.model, chunk_store=store, **SMALL, max_rounds=1).invoke(
                {"question": question, "documents": [LONG_DOC]}
            )
            counts.append(embeddings.embedded)
            assert kinds(out)[0] == "retrieval"
            reason = out["decisions"][0]["reason"]
    assert counts == [6, 0]
    assert "0 chunk(s) embedded now, 6 already stored" in reason


def test_chunk_store_and_its_older_name_store_are_one_argument(store: Any) -> None:
    cloud = Cloud([plan("x")], [synth("final", "x")])
    with pytest.raises(InputError, match="give the ChunkStore once"):
        create_minions(local_model(), cloud.model, chunk_store=store, store=object())


def test_the_plan_holds_one_task_per_name_in_the_question() -> None:
    from langgraph_cloudlocal.protocols.minions import tasks_allowed

    assert tasks_allowed("Who is the chief executive of Brevik Textiles?", 4) == 1
    assert tasks_allowed("Combined revenue of Garnet Health, Oakham Pharma and Westbury Textiles?", 4) == 3
    assert tasks_allowed("Which has more staff: Ivers Marine or Ivers Systems?", 4) == 2
    assert tasks_allowed("What was Q3 revenue?", 4) == 4  # no names: the setting decides
    assert tasks_allowed("Compare A Co, B Co, C Co, D Co and E Co.", 3) == 3  # never above the setting
    # A question naming one company: the (scripted) cloud plans three tasks, the harness keeps one.
    cloud = Cloud([plan("a", "b", "c")], [synth("final", "x")])
    out = create_minions(local_model(), cloud.model, max_rounds=1, **SMALL).invoke(
        {"question": "What is the budget of the Quillfeather Project?", "documents": [DOC]}
    )
    assert {j["task"] for j in out["jobs"]} == {"a"}
    planned = next(d for d in out["decisions"] if d["decision"] == "plan")
    assert "2 more dropped by the question's 1 name(s)" in planned["reason"]


def test_an_entity_in_too_many_chunks_picks_none_out() -> None:
    review = REVIEW + "".join(
        f"\n\n## Filler {i}\n\nIn 2023 nothing happened at Filler {i}." for i in range(14)
    )
    cloud = Cloud([plan({"entity": "2023", "task": "anything"})], [synth("final", "x")])
    out = create_minions(local_model(revenue_worker), cloud.model, max_rounds=1, max_named_chunks=12).invoke(
        {"question": "What happened in 2023?", "documents": [review]}
    )
    # "2023" is in 17 chunks (> max_named_chunks): no retrieval store here, so every chunk is read, and the
    # decision says so rather than pretending the name picked them.
    assert {j["chosen_by"] for j in out["jobs"]} == {"all"}


def test_a_job_that_quotes_the_sentence_but_leaves_the_value_null_reports_the_sentence() -> None:
    def worker(messages: list[BaseMessage]) -> str:
        excerpt = excerpt_of(messages)
        if "7,300" in excerpt:
            return job_reply(None, "a budget of 7,300 euros")  # the sentence, no value
        if "storeroom" in excerpt:
            return job_reply(None, "a budget of 9,000 euros")  # a sentence the excerpt does not hold
        return job_reply(None)

    cloud = Cloud([plan("Find the budget")], [synth("final", "7,300 euros")])
    out = run(cloud, local_model(worker))
    answered = [j for j in out["jobs"] if j["answer"]]
    assert [j["answer"] for j in answered] == ["a budget of 7,300 euros"]
    assert "a budget of 7,300 euros (1 excerpt(s))" in cloud.prompts("synthesize")[0]


def test_a_false_sum_in_the_cloud_working_is_recomputed() -> None:
    from langgraph_cloudlocal.protocols.minions import checked_arithmetic

    assert checked_arithmetic("1515 + 2358 + 823 = 4689", "4689") == "4696"
    assert checked_arithmetic("1515 + 2358 + 823 = 4696", "4696") is None  # right: nothing to correct
    assert checked_arithmetic("12,810 is more than 7,560", "Ivers Systems") is None  # not a sum
    reply = json.dumps({"working": "7,300 + 1,200 = 8,000", "answer": "8,000 euros", "decision": "final"})
    cloud = Cloud([plan("Find the budget")], [reply])
    out = run(cloud)
    assert out["answer"] == "8500"
    fixed = next(d for d in out["decisions"] if d["decision"] == "arithmetic_corrected")
    assert "recomputed as 8500" in fixed["reason"]
