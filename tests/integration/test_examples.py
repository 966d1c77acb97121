"""Every example script runs: the key-less ones for real (SmolLM2 for both roles, ``--quick`` limits),
the one that needs an OpenAI key up to its clear message that the key is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT_S = 600

# script -> (extra arguments, lines the output must contain)
KEYLESS: dict[str, tuple[list[str], list[str]]] = {
    "minions_over_pdf.py": (
        [],
        ["stored ", " chunks in memory:", "answer (", "jobs (", "decisions:", "usage:", "cloud $"],
    ),
    "adaswitch_threshold_sweep.py": ([], ["threshold", "accuracy", "0.00", "1.00", "escalated ="]),
    "research_assistant.py": (
        [],
        ["[parent] plan:", "[research] ", "[parent] research done", "_Cloud spend $"],
    ),
    "stream_decisions.py": (
        ["--protocol", "minion"],
        ["supervisor: ASK", "progress: round=1", "answer:", "cloud $"],
    ),
    "chat_model_react_agent.py": ([], ["question:", "decision:", "turns:", "  ai [", "usage: local"]),
    "minions_conversation.py": ([], ["turn 1:", "turn 2:", "the cloud saw 1 earlier turn(s)", "cloud $"]),
}
NEEDS_KEY = {"ollama_and_openai.py"}


def _env(spec: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CLOUDLOCAL_LOCAL_MODEL", "CLOUDLOCAL_CLOUD_MODEL"):
        env.pop(name, None)
    if spec:
        env["CLOUDLOCAL_LOCAL_MODEL"] = env["CLOUDLOCAL_CLOUD_MODEL"] = spec
    env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false", PYTHONUNBUFFERED="1", **extra)
    return env


def _run(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_every_example_is_covered() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(KEYLESS) | NEEDS_KEY, "add the new example to KEYLESS or NEEDS_KEY"


def test_every_example_documents_how_to_run_it() -> None:
    for name in set(KEYLESS) | NEEDS_KEY:
        text = (EXAMPLES / name).read_text()
        assert text.startswith('"""'), name
        assert f"examples/{name}" in text.split('"""')[1], f"{name}: the docstring must show how to run it"


@pytest.fixture(scope="module")
def embeddings_pulled() -> None:
    from langgraph_cloudlocal.embeddings import pull_embedding_model

    pull_embedding_model()  # a no-op when the verified files are cached (scripts/setup.sh pulls them)


@pytest.mark.usefixtures("embeddings_pulled")
@pytest.mark.parametrize("script", sorted(KEYLESS))
def test_keyless_example_runs(script: str, smollm2_spec: str) -> None:
    args, expected = KEYLESS[script]
    result = _run(script, [*args, "--quick"], _env(smollm2_spec))
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{output[-4000:]}"
    for text in expected:
        assert text in result.stdout, f"{script}: {text!r} not in its output:\n{result.stdout[-4000:]}"


def test_openai_example_says_the_key_is_missing() -> None:
    result = _run("ollama_and_openai.py", [], _env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "OPENAI_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
