"""MiniLM without the model files: arguments, specs, the int8 graph rewrite on a tiny graph, and the
windowing / batching / pooling engine on a fake model. The checks on the real model (int8 against
float32, the rewrite counted on model.onnx) are in tests/integration/test_embeddings_backends.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langgraph_cloudlocal import embeddings as emb
from langgraph_cloudlocal.embeddings import (
    EMBEDDING_PRECISIONS,
    EmbeddingModelError,
    MiniLMEmbeddings,
    quantize_matmuls,
    resolve_embeddings,
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


# ------------------------------------------------------------------ the int8 rewrite on a tiny graph

_INT8, _FLOAT = 3, 1


def _graph(*nodes: tuple[str, list[str], list[str]], initializers: dict[str, int]) -> bytes:
    """A graph of (op_type, inputs, outputs) nodes and named initializers of the given ONNX types."""
    model = emb._onnx_model_class()()
    for op_type, inputs, outputs in nodes:
        node = model.graph.node.add(op_type=op_type)
        node.input.extend(inputs)
        node.output.extend(outputs)
    for name, data_type in initializers.items():
        model.graph.initializer.add(name=name, data_type=data_type)
    model.opset_import.add(domain="", version=17)
    return bytes(model.SerializeToString())


def _nodes(model_bytes: bytes) -> list[tuple[str, str, list[str]]]:
    model = emb._onnx_model_class().FromString(model_bytes)
    return [(n.op_type, n.domain, list(n.input)) for n in model.graph.node]


def test_dequantised_matmuls_become_dynamic_int8_products() -> None:
    original = _graph(
        ("Cast", ["w_q"], ["w_f"]),
        ("Mul", ["w_f", "w_scale"], ["w"]),
        ("MatMul", ["x", "w"], ["y"]),
        ("Relu", ["y"], ["z"]),
        initializers={"w_q": _INT8, "w_scale": _FLOAT},
    )
    rewritten, count = quantize_matmuls(original)
    assert count == 1
    assert _nodes(rewritten) == [
        ("DynamicQuantizeMatMul", "com.microsoft", ["x", "w_q", "w_scale"]),
        ("Relu", "", ["y"]),
    ]
    model = emb._onnx_model_class().FromString(rewritten)
    assert ("com.microsoft", 1) in [(o.domain, o.version) for o in model.opset_import]


def test_matmuls_that_are_not_dequantised_int8_are_left_alone() -> None:
    original = _graph(
        ("Cast", ["a_q"], ["a_f"]),  # float weights, not int8
        ("Mul", ["a_f", "a_scale"], ["a"]),
        ("MatMul", ["x", "a"], ["y"]),
        ("Cast", ["b_q"], ["b_f"]),  # the dequantised matrix is read twice
        ("Mul", ["b_f", "b_scale"], ["b"]),
        ("MatMul", ["x", "b"], ["y2"]),
        ("Add", ["b", "y2"], ["y3"]),
        ("MatMul", ["x", "x"], ["y4"]),  # activations times activations (attention)
        initializers={"a_q": _FLOAT, "a_scale": _FLOAT, "b_q": _INT8, "b_scale": _FLOAT},
    )
    rewritten, count = quantize_matmuls(original)
    assert (rewritten, count) == (original, 0)


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
