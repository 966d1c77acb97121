"""langgraph.json and graphs/: what `langgraph dev`, Studio and LangGraph Server load.

The graph modules are imported the way langgraph-api imports them (by file path), with model specs in the
environment that need no server to build."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_cloudlocal.protocols import get_protocol

# ChatOpenAI probes socket options when built (refused here, harmlessly).
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "langgraph.json").read_text())
# Nothing listens there; building a graph never connects.
DUMMY_SPEC = "openai-compatible:dummy@http://127.0.0.1:9/v1"

SHARED_FIELDS = {
    "max_cloud_tokens",
    "max_cloud_usd",
    "max_cloud_calls",
    "on_budget_exceeded",
    "local_max_tokens",
    "cloud_max_tokens",
    "local_model",
    "cloud_model",
}
# Each protocol's own knobs that Studio must show (thresholds, rounds, retrieval).
OWN_FIELDS = {
    "minion": {"max_rounds"},
    "minions": {"max_rounds", "max_tasks_per_round", "retrieval", "top_k", "chunk_size"},
    "adaswitch": {"threshold", "max_steps", "verifier"},
    "local_only": set(),
    "cloud_only": set(),
}


def _protocol_module_exists(graph_id: str) -> bool:
    return importlib.util.find_spec(get_protocol(graph_id).module) is not None


LANDED = [g for g in OWN_FIELDS if _protocol_module_exists(g)]


def load_graph_module(graph_id: str) -> ModuleType:
    path, _, _ = CONFIG["graphs"][graph_id].partition(":")
    file = (ROOT / path).resolve()
    name = f"_cloudlocal_graphs_{graph_id}"
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", DUMMY_SPEC)
    monkeypatch.setenv("CLOUDLOCAL_CLOUD_MODEL", DUMMY_SPEC)


def test_config_is_valid_for_the_langgraph_cli() -> None:
    from langgraph_cli.config import validate_config_file

    config = validate_config_file(ROOT / "langgraph.json")
    assert config["python_version"] == "3.11"
    assert config["dependencies"] == ["."]
    assert config["env"] == ".env"
    assert (ROOT / ".env.example").exists(), "langgraph.json reads .env; .env.example shows what goes in it"


def test_every_landed_protocol_is_served() -> None:
    for graph_id in LANDED:
        assert graph_id in CONFIG["graphs"], f"{graph_id} is in the package but not in langgraph.json"
    for target in CONFIG["graphs"].values():
        path, _, variable = target.partition(":")
        assert variable == "graph"
        assert (ROOT / path).is_file(), target


@pytest.mark.usefixtures("model_env")
@pytest.mark.parametrize("graph_id", LANDED)
def test_graph_module_builds_from_the_environment(graph_id: str) -> None:
    from langgraph.graph.state import CompiledStateGraph

    graph = load_graph_module(graph_id).graph
    assert isinstance(graph, CompiledStateGraph)
    assert graph.name == graph_id


@pytest.mark.usefixtures("model_env")
@pytest.mark.parametrize("graph_id", LANDED)
def test_studio_shows_the_run_settings(graph_id: str) -> None:
    schema = load_graph_module(graph_id).graph.get_context_jsonschema()
    fields = set(schema["properties"])
    missing = (SHARED_FIELDS | OWN_FIELDS[graph_id]) - fields
    assert not missing, f"{graph_id}: context fields missing in Studio: {sorted(missing)}"
    for name in SHARED_FIELDS | OWN_FIELDS[graph_id]:
        assert "default" in schema["properties"][name], f"{graph_id}.{name} has no default for Studio"


@pytest.mark.usefixtures("model_env")
@pytest.mark.parametrize("graph_id", LANDED)
def test_studio_gets_input_and_output_schemas(graph_id: str) -> None:
    graph = load_graph_module(graph_id).graph
    assert "question" in graph.get_input_jsonschema()["properties"]
    assert "answer" in graph.get_output_jsonschema()["properties"]


@pytest.mark.parametrize("graph_id", [g for g in LANDED if g != "local_only"])
def test_missing_model_env_fails_at_import_with_a_clear_message(
    graph_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_cloudlocal.models import ModelSpecError

    monkeypatch.delenv("CLOUDLOCAL_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", DUMMY_SPEC)
    monkeypatch.delenv("CLOUDLOCAL_CLOUD_MODEL", raising=False)
    with pytest.raises(ModelSpecError) as info:
        load_graph_module(graph_id)
    message = str(info.value)
    assert message.startswith(f"graphs/{graph_id}.py: set CLOUDLOCAL_LOCAL_MODEL and CLOUDLOCAL_CLOUD_MODEL")
    assert ".env.example" in message and "CLOUDLOCAL_CLOUD_MODEL is not set" in message


def test_local_only_needs_no_cloud_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", DUMMY_SPEC)
    monkeypatch.delenv("CLOUDLOCAL_CLOUD_MODEL", raising=False)
    assert load_graph_module("local_only").graph is not None


def test_embedded_spec_without_a_server_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from langgraph_cloudlocal.embedded import EmbeddedModelError

    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))  # an empty server registry
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", "embedded:smollm2")
    monkeypatch.setenv("CLOUDLOCAL_CLOUD_MODEL", "embedded:smollm2")
    with pytest.raises(EmbeddedModelError, match="cloudlocal serve"):
        load_graph_module("minion")


# --------------------------------------------------------------------------------------------------
# The template project (examples/template): its config is valid and its own tests pass.

TEMPLATE = ROOT / "examples" / "template"


def test_template_config_is_valid() -> None:
    import tomllib

    from langgraph_cli.config import validate_config_file

    config = validate_config_file(TEMPLATE / "langgraph.json")
    for target in config["graphs"].values():
        assert (TEMPLATE / target.partition(":")[0]).is_file(), target
    assert (TEMPLATE / ".env.example").is_file()
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("langgraph-cloudlocal") for dep in project["dependencies"])


def test_template_server_module_builds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLOCAL_LOCAL_MODEL", DUMMY_SPEC)
    monkeypatch.setenv("CLOUDLOCAL_CLOUD_MODEL", DUMMY_SPEC)
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    spec = importlib.util.spec_from_file_location("_template_server", TEMPLATE / "src/my_app/server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        for name in [n for n in sys.modules if n == "my_app" or n.startswith("my_app.")]:
            del sys.modules[name]
    assert module.graph.name == "my_app"
    assert "local_only_below_chars" in module.graph.get_context_jsonschema()["properties"]


def test_template_tests_pass() -> None:
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(TEMPLATE / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--disable-socket"]
        + ["--allow-unix-socket", "tests"],
        cwd=TEMPLATE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.usefixtures("model_env")
@pytest.mark.parametrize("module", ["minions", "minion"])
@pytest.mark.parametrize(
    ("location", "constructor"),
    [
        ("/tmp/chunks", "persistent"),
        ("http://127.0.0.1:8000", "server"),
        ("memory", "in_memory"),
        ("none", None),
    ],
)
def test_retrieving_graphs_use_the_chunk_store_from_the_environment(
    module: str, location: str, constructor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    opened: list[tuple[str, str]] = []
    for name in ("persistent", "server", "in_memory"):
        monkeypatch.setattr(
            ChunkStore,
            name,
            classmethod(lambda cls, *args, _n=name: opened.append((_n, args[0])) or object()),
        )
    monkeypatch.setenv("CLOUDLOCAL_CHUNK_STORE", location)
    assert load_graph_module(module).graph.name == module
    # The same rule as `cloudlocal run --store` and `cloudlocal eval --store` (open_chunk_store).
    if constructor is None:
        assert opened == []
    elif constructor == "in_memory":
        assert opened == [("in_memory", "corpus")]
    else:
        assert opened == [(constructor, location)]


@pytest.mark.usefixtures("model_env")
def test_without_the_variable_the_graphs_keep_chunks_in_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from langgraph_cloudlocal.store import ChunkStore

    opened: list[str] = []
    monkeypatch.setattr(
        ChunkStore, "persistent", classmethod(lambda cls, *args: opened.append(args[0]) or object())
    )
    monkeypatch.delenv("CLOUDLOCAL_CHUNK_STORE", raising=False)
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))
    load_graph_module("minions")
    assert opened == [str(tmp_path / "chunks")]
