"""The runner, registry and report with fake models: results, resume after an interrupted run,
failed items, report and plot on a tiny dataset."""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from rich.console import Console

from langgraph_cloudlocal.calls import call_text
from langgraph_cloudlocal.decisions import make_decision
from langgraph_cloudlocal.evaluation import registry
from langgraph_cloudlocal.evaluation.__main__ import main as eval_main
from langgraph_cloudlocal.evaluation.datasets import EvalItem, save_dataset
from langgraph_cloudlocal.evaluation.registry import (
    ProtocolError,
    ProtocolInfo,
    parse_protocol,
    parse_protocols,
)
from langgraph_cloudlocal.evaluation.report import compute_stats, pareto_front, write_report
from langgraph_cloudlocal.evaluation.results import iter_result_lines, latest_rows
from langgraph_cloudlocal.evaluation.runner import EvaluationError, run_evaluation
from langgraph_cloudlocal.prompts.baselines import answer_prompt
from langgraph_cloudlocal.protocols.common import (
    DecisionsField,
    ModelRoles,
    ProtocolInput,
    ProtocolOutput,
    RunSettings,
    UsageField,
    current_settings,
    usage_report,
)
from langgraph_cloudlocal.running import run_models
from langgraph_cloudlocal.testing import ScriptedChatModel

NAMES = ["alpha", "bravo", "echo", "delta", "india", "kilo"]  # vowels: the local model knows those


def _text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def _lookup(messages: list[BaseMessage]) -> tuple[str, str | None]:
    text = _text(messages)
    name = re.search(r"code of item (\w+)", text).group(1)  # type: ignore[union-attr]
    found = re.search(rf"Item {name}: (\d+)", text)
    return name, found.group(1) if found else None


def cloud_responder(messages: list[BaseMessage]) -> str:
    _, code = _lookup(messages)
    return f"The code is {code}.\nIt is listed in the document."


def local_responder(messages: list[BaseMessage]) -> str:
    name, code = _lookup(messages)
    return f"{code}" if name[0] in "aeiou" else "I do not know."


def fake_models(**overrides: Any) -> tuple[ScriptedChatModel, ScriptedChatModel]:
    local = ScriptedChatModel(responder=overrides.get("local", local_responder), model_name="fake-local")
    cloud = ScriptedChatModel(responder=overrides.get("cloud", cloud_responder), model_name="fake-cloud")
    return local, cloud


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    items = []
    for index, name in enumerate(NAMES):
        lines = [f"Item {other}: {100 + 7 * j + index}" for j, other in enumerate(NAMES)]
        gold = 100 + 7 * index + index
        items.append(
            EvalItem(
                f"What is the code of item {name}?",
                gold,
                ("Inventory\n" + "\n".join(lines) + "\n" + "filler text. " * 40,),
                id=f"item-{index}",
                meta={"category": "vowel" if name[0] in "aeiou" else "consonant"},
            )
        )
    return save_dataset(items, tmp_path / "tiny.jsonl")


# A stand-in for AdaSwitch: one knob, `threshold`; below 0.5 the cloud answers.
@dataclass
class SwitchSettings(RunSettings):
    threshold: float = 0.5


def create_fake_switch(local: Any, cloud: Any, **settings: Any) -> Any:
    roles = ModelRoles(local, cloud)

    class State(ProtocolInput, total=False):
        answer: str
        ledger: UsageField
        usage: dict
        decisions: DecisionsField

    def answer(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        run = current_settings(runtime.context, SwitchSettings)
        escalate = run.threshold < 0.5
        model = roles.cloud if escalate else roles.local
        prompt = answer_prompt(state["question"], state["documents"])
        result = call_text(model, [HumanMessage(prompt)])
        decision = make_decision(
            "fakeswitch", "answer", "escalate" if escalate else "keep", "test", threshold=run.threshold
        )
        usage = usage_report(
            result.usage,
            roles.local,
            roles.cloud,
            roles.prices,
            question=state["question"],
            documents=state["documents"],
            answer=result.text,
        )
        return {
            "answer": result.text,
            "ledger": result.usage,
            "usage": usage,
            "decisions": [decision, decision],
        }

    builder = StateGraph(
        State, context_schema=SwitchSettings, input_schema=ProtocolInput, output_schema=ProtocolOutput
    )
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile(name="fakeswitch")


@pytest.fixture
def fakeswitch(monkeypatch: pytest.MonkeyPatch) -> None:
    info = ProtocolInfo("fakeswitch", __name__, "create_fake_switch", shorthand="threshold")
    monkeypatch.setitem(registry.PROTOCOLS, "fakeswitch", info)


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=140)


# --------------------------------------------------------------------------------------------------
# Registry


def test_parse_protocols() -> None:
    specs = parse_protocols("local-only, cloud,adaswitch@0.3,adaswitch@0.5,local-only")
    assert [s.label for s in specs] == ["local-only", "cloud-only", "adaswitch@0.3", "adaswitch@0.5"]
    assert specs[2].context == {"threshold": 0.3}
    spec = parse_protocol("minions@max_rounds=2+mode=fast+strict=true")
    assert spec.name == "minions" and spec.context == {"max_rounds": 2, "mode": "fast", "strict": True}
    assert spec.label == "minions@max_rounds=2+mode=fast+strict=true"
    assert [s.label for s in parse_protocols(["minion", "minions"])] == ["minion", "minions"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-only", "unknown protocol"),
        ("adaswitch@", "nothing after"),
        ("adaswitch@high", "must be a number"),
        ("minion@0.3", "no '@value' shorthand"),
        ("minions@rounds", "no '@value' shorthand"),
        ("minions@=3", "SETTING=VALUE"),
        (" , ", "no protocol"),
    ],
)
def test_parse_protocol_errors(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_protocols(text)


def test_build_checks_setting_values_before_any_item_runs() -> None:
    local, cloud = fake_models()
    for text, message in [
        ("cloud-only@reasoning=bogus", "reasoning must be 'brief' or 'steps'"),
        ("minions@max_rounds=0", "max_rounds must be >= 1"),
        ("adaswitch@1.5", "between 0 and 1"),
        ("local-only@max_cloud_usd=-1", "max_cloud_usd"),
        ("minions@max_rounds=x", "max_rounds must be a number"),
    ]:
        with pytest.raises(ProtocolError, match=message):
            parse_protocol(text).build(local, cloud)
    assert parse_protocol("cloud-only@reasoning=steps").build(local, cloud).name == "cloud_only"


def test_build_checks_settings_and_availability(monkeypatch: pytest.MonkeyPatch, fakeswitch: None) -> None:
    local, cloud = fake_models()
    with pytest.raises(ProtocolError, match="no setting"):
        parse_protocol("fakeswitch@thresh=0.3").build(local, cloud)
    assert parse_protocol("fakeswitch@0.3").build(local, cloud).name == "fakeswitch"
    missing = ProtocolInfo("ghost", "langgraph_cloudlocal.protocols.ghost_protocol", "create_ghost")
    monkeypatch.setitem(registry.PROTOCOLS, "ghost", missing)
    with pytest.raises(ProtocolError, match="not available"):
        parse_protocol("ghost").build(local, cloud)
    no_factory = ProtocolInfo("ghost2", "langgraph_cloudlocal.protocols.baselines", "create_ghost")
    monkeypatch.setitem(registry.PROTOCOLS, "ghost2", no_factory)
    with pytest.raises(ProtocolError, match="has no create_ghost"):
        parse_protocol("ghost2").build(local, cloud)


# --------------------------------------------------------------------------------------------------
# A full run: results, report, plot


def test_run_writes_results_report_and_plot(tmp_path: Path, dataset: Path, fakeswitch: None) -> None:
    local, cloud = fake_models()
    out = tmp_path / "run"
    console = _quiet()
    summary = run_evaluation(
        "local-only,cloud-only,fakeswitch@0.2,fakeswitch@0.8",
        dataset,
        out,
        local,
        cloud,
        max_concurrency=3,
        console=console,
        command="cloudlocal eval ...",
    )
    assert not summary.interrupted and summary.ran == 24 and summary.skipped == 0 and summary.errors == 0
    assert summary.models == {"local": "fake-local", "cloud": "fake-cloud"}
    rows = list(iter_result_lines(out / "results.jsonl"))
    assert len(rows) == 24
    for row in rows:
        for name in (
            "question",
            "protocol",
            "prediction",
            "gold",
            "correct",
            "usage",
            "decisions",
            "wall_seconds",
        ):
            assert name in row
        assert row["status"] == "ok" and row["match"]["metric"] == "numeric"
    by_protocol = {s.protocol: s for s in summary.stats}
    assert by_protocol["cloud-only"].accuracy == 1.0
    assert by_protocol["local-only"].accuracy == 0.5
    assert by_protocol["fakeswitch@0.2"].accuracy == 1.0 and by_protocol["fakeswitch@0.8"].accuracy == 0.5
    assert by_protocol["fakeswitch@0.2"].decisions == 12  # two decisions an item
    cloud_only = by_protocol["cloud-only"]
    assert cloud_only.cloud_only_source == "measured" and cloud_only.reduction == pytest.approx(1.0)
    assert cloud_only.private_chars_to_cloud > 0 and cloud_only.cloud_input_tokens > 0
    local_only = by_protocol["local-only"]
    assert local_only.cloud_usd == 0 and local_only.reduction is None and local_only.recovered == 0.5
    assert local_only.cloud_only_usd == pytest.approx(cloud_only.cloud_usd)  # measured from cloud-only rows
    assert local_only.categories == {"vowel": [3, 3], "consonant": [0, 3]}

    report = (out / "report.md").read_text()
    assert "| Protocol | Items | Accuracy | Cloud in tok | Cloud out tok | Cloud $ | Cloud-only $ |" in report
    for label in ("`local-only`", "`cloud-only`", "`fakeswitch@0.2`", "`fakeswitch@0.8`"):
        assert label in report
    assert "50.0% (3/6)" in report and "100.0% (6/6)" in report and "∞ (no cloud)" in report
    assert "priced like gpt-4o" in report and "cloud-only accuracy" in report
    assert "local `fake-local`, cloud `fake-cloud`" in report and "cost_accuracy.png" in report
    assert "Command: `cloudlocal eval ...`" in report and "| Errors |" not in report
    png = (out / "cost_accuracy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    summary_json = json.loads((out / "summary.json").read_text())
    assert {s["protocol"] for s in summary_json["stats"]} == set(by_protocol)
    assert "acc" in console.file.getvalue() and "Report:" in console.file.getvalue()  # type: ignore[attr-defined]


def test_pareto_front() -> None:
    points = [(0.0, 0.4), (1.0, 0.9), (0.5, 0.8), (0.6, 0.7), (2.0, 0.9), (0.0, 0.3), (3.0, 0.95)]
    assert pareto_front(points) == [0, 2, 1, 6]
    assert pareto_front([]) == []


def test_cloud_only_cost_falls_back_to_the_estimate(tmp_path: Path, dataset: Path) -> None:
    local, cloud = fake_models()
    summary = run_evaluation("local-only", dataset, tmp_path / "r", local, None, progress=False, plot=False)
    (stats,) = summary.stats
    assert stats.cloud_only_source == "estimated" and stats.cloud_only_usd > 0 and stats.recovered is None
    report = (tmp_path / "r" / "report.md").read_text()
    assert "estimate" in report and "*" in report
    assert summary.plot_path is None and not (tmp_path / "r" / "cost_accuracy.png").exists()


# --------------------------------------------------------------------------------------------------
# Resume


class _Counter:
    def __init__(self, responder: Any, fail_at: int | None = None, exc: BaseException | None = None) -> None:
        self.responder = responder
        self.calls = 0
        self.fail_at = fail_at
        self.exc = exc
        self.lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage]) -> str:
        with self.lock:
            self.calls += 1
            calls = self.calls
        if self.fail_at is not None and calls >= self.fail_at:
            raise self.exc or KeyboardInterrupt
        return self.responder(messages)


def test_resume_after_an_interrupted_run(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "run"
    # Ctrl-C arrives during the 4th cloud call (cloud-only, item 4).
    interrupted_cloud = _Counter(cloud_responder, fail_at=4)
    local, cloud = fake_models(cloud=interrupted_cloud)
    console = _quiet()
    first = run_evaluation(
        "local-only,cloud-only", dataset, out, local, cloud, max_concurrency=1, console=console
    )
    assert first.interrupted
    assert "Interrupted" in console.file.getvalue()  # type: ignore[attr-defined]
    done = latest_rows(out / "results.jsonl")
    assert 0 < len(done) < 12 and all(r["status"] == "ok" for r in done.values())
    assert (out / "report.md").exists()  # a partial report is written
    # ... and the process died while writing a line.
    with (out / "results.jsonl").open("a") as handle:
        handle.write('{"key": "tiny|item-5|cloud-only", "dataset": "ti')

    local_calls, cloud_calls = _Counter(local_responder), _Counter(cloud_responder)
    local, cloud = fake_models(local=local_calls, cloud=cloud_calls)
    second = run_evaluation(
        "local-only,cloud-only", dataset, out, local, cloud, max_concurrency=2, console=_quiet()
    )
    assert not second.interrupted and second.skipped == len(done) and second.ran == 12 - len(done)
    assert local_calls.calls + cloud_calls.calls == 12 - len(done)  # nothing done twice
    lines = (out / "results.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line is gone
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 12
    assert {s.protocol: s.accuracy for s in second.stats} == {"local-only": 0.5, "cloud-only": 1.0}

    # A third run has nothing to do and needs no models at all (no embedded server is started).
    third = run_evaluation("local-only,cloud-only", dataset, out, None, None, progress=False)
    assert third.ran == 0 and third.skipped == 12 and third.report_path is not None


def test_failed_items_are_recorded_then_retried(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "run"
    broken = _Counter(cloud_responder, fail_at=5, exc=RuntimeError("server fell over"))
    local, cloud = fake_models(cloud=broken)
    first = run_evaluation("cloud-only", dataset, out, local, cloud, progress=False)
    assert first.errors == 2 and first.ran == 6
    errors = [r for r in latest_rows(out / "results.jsonl").values() if r["status"] == "error"]
    assert (
        len(errors) == 2
        and "RuntimeError: server fell over" in errors[0]["error"]
        and not errors[0]["correct"]
    )
    assert "| Errors |" in (out / "report.md").read_text()
    (stats,) = first.stats
    assert stats.errors == 2 and stats.accuracy == pytest.approx(4 / 6)

    calls = _Counter(cloud_responder)
    local, cloud = fake_models(cloud=calls)
    second = run_evaluation("cloud-only", dataset, out, local, cloud, progress=False)
    assert calls.calls == 2 and second.ran == 2 and second.errors == 0
    (stats,) = second.stats
    assert stats.errors == 0 and stats.accuracy == 1.0


def test_limit_and_several_datasets(tmp_path: Path, dataset: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(dataset.read_text())
    local, cloud = fake_models()
    summary = run_evaluation(
        ["cloud-only"],
        [dataset, other],
        tmp_path / "r",
        local,
        cloud,
        limit=2,
        progress=True,
        console=_quiet(),
    )
    assert summary.datasets == {"tiny": 2, "other": 2} and summary.ran == 4
    assert [s.dataset for s in summary.stats] == ["tiny", "other"]
    assert "## tiny" in summary.report_path.read_text()  # type: ignore[union-attr]
    with pytest.raises(EvaluationError, match="both named"):
        run_evaluation("cloud-only", [dataset, dataset], tmp_path / "r2", local, cloud, progress=False)


def test_refuses_to_mix_results_of_other_models(tmp_path: Path, dataset: Path) -> None:
    local, cloud = fake_models()
    run_evaluation("cloud-only", dataset, tmp_path / "r", local, cloud, limit=1, progress=False)
    other_cloud = ScriptedChatModel(responder=cloud_responder, model_name="another-cloud")
    with pytest.raises(EvaluationError, match="another-cloud"):
        run_evaluation("cloud-only", dataset, tmp_path / "r", local, other_cloud, progress=False)


def test_bad_arguments(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(EvaluationError, match="max_concurrency"):
        run_evaluation("cloud-only", dataset, tmp_path, max_concurrency=0)
    with pytest.raises(EvaluationError, match="limit"):
        run_evaluation("cloud-only", dataset, tmp_path, limit=0)


def test_models_given_or_from_the_environment_start_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    local, cloud = fake_models()
    with run_models(local, None, need_cloud=False) as (got_local, got_cloud, names):
        assert got_local is local and got_cloud is None and names["cloud"].startswith("(none")
    with run_models(None, cloud, need_local=False) as (got_local, got_cloud, names):
        assert got_local is cloud and got_cloud is cloud  # the cloud stands in for the unused local role
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", "ollama:llama3.2:3b")
    monkeypatch.setenv("CLOUDLOCAL_CLOUD_MODEL", "openai-compatible:big@http://127.0.0.1:9/v1")
    with run_models(None, None) as (got_local, got_cloud, names):
        assert got_local == "ollama:llama3.2:3b"
        assert names == {"local": "ollama:llama3.2:3b", "cloud": "openai-compatible:big"}


def test_report_can_be_rewritten_and_tolerates_odd_rows(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    rows = [
        {
            "key": "d|1|cloud-only",
            "dataset": "d",
            "item_id": "1",
            "protocol": "cloud-only",
            "status": "ok",
            "correct": True,
        },
        {
            "key": "d|1|minion",
            "dataset": "d",
            "item_id": "1",
            "protocol": "minion",
            "status": "ok",
            "correct": False,
            "usage": None,
        },
    ]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "garbage\n")
    report = write_report(out)
    assert [s.protocol for s in report.stats] == ["cloud-only", "minion"]
    assert report.stats[1].recovered == 0.0 and report.plot_path is not None
    assert compute_stats([]) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No results yet" in write_report(empty).report_path.read_text()


def test_module_cli(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_main(["generate", "--out", str(tmp_path / "ds"), "--count", "3", "--seed", "1"]) == 0
    assert (tmp_path / "ds" / "records.jsonl").exists() and (tmp_path / "ds" / "arithmetic.jsonl").exists()
    assert (
        eval_main(["run", "--protocol", "nope", "--dataset", str(dataset), "--out", str(tmp_path / "o")]) == 2
    )
    assert "unknown protocol" in capsys.readouterr().err
    assert eval_main(["report", str(tmp_path / "o")]) == 2  # the failed run created nothing
    local, cloud = fake_models()
    run_evaluation("cloud-only", dataset, tmp_path / "o", local, cloud, limit=1, progress=False)
    assert eval_main(["report", str(tmp_path / "o")]) == 0
    assert "`cloud-only`" in capsys.readouterr().out


def test_items_failing_while_stopping_are_not_recorded(tmp_path: Path, dataset: Path) -> None:
    """Ctrl-C also stops model servers in the same process group: items that then fail are run again
    on resume rather than recorded as errors."""
    import time

    calls = _Counter(cloud_responder)

    def cloud(messages: list[BaseMessage]) -> str:
        calls(messages)
        if calls.calls == 1:
            time.sleep(0.1)
            raise KeyboardInterrupt
        time.sleep(0.6)
        raise ConnectionError("server stopped")

    local, cloud_model = fake_models(cloud=cloud)
    summary = run_evaluation(
        "cloud-only", dataset, tmp_path / "r", local, cloud_model, max_concurrency=2, console=_quiet()
    )
    assert summary.interrupted and calls.calls >= 2  # connection errors are retried by the graph
    assert list(iter_result_lines(tmp_path / "r" / "results.jsonl")) == []
