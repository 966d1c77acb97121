"""The `cloudlocal` command end to end, as a user runs it, against the real SmolLM2 in both roles."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

MEMO = Path(__file__).parents[2] / "examples" / "data" / "quarterly_memo.md"


def _cloudlocal(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langgraph_cloudlocal.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SMALL_RUNS = {
    "local-only": [],
    "minion": ["--set", "max_rounds=1"],
    "minions": ["--set", "max_rounds=1", "--set", "max_tasks_per_round=1"],
    "adaswitch": ["--set", "max_steps=2"],
}


@pytest.mark.parametrize("protocol", list(SMALL_RUNS))
def test_run_json_output_parses(smollm2_spec: str, protocol: str) -> None:
    result = _cloudlocal(
        "run", "--protocol", protocol, "--document", str(MEMO), "--question", "Who leads the Eastern region?",
        "--local", smollm2_spec, "--cloud", smollm2_spec, "--set", "local_max_tokens=48",
        "--set", "cloud_max_tokens=96", *SMALL_RUNS[protocol], "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)
    assert payload["protocol"] == protocol and isinstance(payload["answer"], str)
    usage = payload["usage"]
    assert usage["local"]["calls"] >= 1 and usage["local"]["output_tokens"] > 0
    assert payload["decisions"], "every protocol records at least one decision"
    # measured from the cloud requests (the real worker may quote): within the documents' size
    assert 0 <= usage["private_chars_to_cloud"] <= usage["document_chars"]


def test_run_tables_show_answer_usage_and_decisions(smollm2_spec: str) -> None:
    result = _cloudlocal(
        "run", "-p", "minion", "-d", str(MEMO), "-q", "What was Q3 revenue?", "--local", smollm2_spec,
        "--cloud", smollm2_spec, "--set", "max_rounds=1", "--set", "local_max_tokens=48",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for heading in ("Answer", "Usage", "Decisions", "cloud-only"):
        assert heading in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-q", "x", "-p", "nope"], "unknown protocol"),
        (["run", "-q", " ", "-p", "local-only"], "question"),
        (["run", "-q", "x", "-d", "/nonexistent/file.txt"], "not found"),
        (["run", "-q", "x", "--local", "gpt-4o"], "openai-compatible"),
        (["run", "--bogus"], "No such option"),
        (
            ["run", "-q", "x", "-p", "local-only", "--set", "max_rounds=2", "--local", "ollama:x"],
            "unknown setting",
        ),
        (["calibrate", "--dataset", "x.jsonl", "--thresholds", "0.5,1.5"], "between 0 and 1"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    result = _cloudlocal(*args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_minions_run_keeps_chunks_in_the_store_and_a_second_question_does_not_embed_again(
    smollm2_spec: str, tmp_path: Path
) -> None:
    """`cloudlocal run --store DIR`: the first run embeds the document into ChromaDB, the second (a new
    process, a new question) finds it stored. The retrieval decision says how many chunks were embedded."""
    reasons = []
    for question in ("Who leads the Eastern region?", "How many containers did the Northern region ship?"):
        result = _cloudlocal(
            "run", "-p", "minions", "-d", str(MEMO), "-q", question, "--local", smollm2_spec,
            "--cloud", smollm2_spec, "--store", str(tmp_path / "chunks"), "--set", "max_rounds=1",
            "--set", "max_tasks_per_round=1", "--set", "local_max_tokens=48", "--set", "cloud_max_tokens=96",
            "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        payload = json.loads(result.stdout)
        first = payload["decisions"][0]
        assert first["decision"] == "retrieval", first
        reasons.append(first["reason"])
    assert "0 chunk(s) embedded now" not in reasons[0]
    assert "0 chunk(s) embedded now" in reasons[1] and "already stored" in reasons[1]
    assert (tmp_path / "chunks").is_dir()


def test_store_none_chunks_per_run(smollm2_spec: str) -> None:
    result = _cloudlocal(
        "run", "-p", "minions", "-d", str(MEMO), "-q", "Who leads the Eastern region?", "--local", smollm2_spec,
        "--cloud", smollm2_spec, "--store", "none", "--set", "max_rounds=1", "--set", "max_tasks_per_round=1",
        "--set", "local_max_tokens=48", "--set", "cloud_max_tokens=96", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["decisions"][0]["decision"] == "all_chunks"
