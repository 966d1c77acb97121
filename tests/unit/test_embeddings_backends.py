"""MiniLM backends without the model files: backend selection, reading ONNX initializers, the
windowing / batching / pooling engine, and the plain-PyTorch BERT encoder against a numpy reference
on tiny random weights. The checks on the real model are in
tests/integration/test_embeddings_backends.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langgraph_cloudlocal import embeddings as emb
from langgraph_cloudlocal.embeddings import (
    EMBEDDING_BACKENDS,
    EmbeddingModelError,
    MiniLMEmbeddings,
    read_onnx_initializers,
    resolve_embeddings,
    select_embedding_backend,
)

# ------------------------------------------------------------------ backend selection


def test_backends_listed() -> None:
    assert EMBEDDING_BACKENDS == ("auto", "onnx", "torch")


def test_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="backend must be one of auto, onnx, torch"):
        select_embedding_backend("tensorflow")


def test_onnx_is_always_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_torch_unavailable_reason", lambda: "torch is not importable (test)")
    assert select_embedding_backend("onnx") == "onnx"


def test_auto_without_torch_is_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_torch_unavailable_reason", lambda: "torch is not importable (test)")
    assert select_embedding_backend("auto") == "onnx"


def test_torch_without_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_torch_unavailable_reason", lambda: "torch is not importable (test)")
    with pytest.raises(EmbeddingModelError, match=r"fast-embeddings.*torch==2\.13\.0"):
        select_embedding_backend("torch")


def test_auto_takes_torch_only_with_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_torch_unavailable_reason", lambda: None)
    monkeypatch.setattr(emb, "_torch_has_fast_bf16", lambda: True)
    assert select_embedding_backend("auto") == "torch"
    monkeypatch.setattr(emb, "_torch_has_fast_bf16", lambda: False)
    assert select_embedding_backend("auto") == "onnx"  # emulated bf16 / fp32 torch is no faster
    assert select_embedding_backend("torch") == "torch"  # asked for explicitly: still given


def test_bad_arguments_fail_before_touching_the_model(tmp_path: Path) -> None:
    for kwargs, message in (
        ({"backend": "gpu"}, "backend must be one of"),
        ({"precision": "int4"}, "precision must be one of"),
        ({"threads": 0}, "threads must be at least 1"),
    ):
        with pytest.raises(ValueError, match=message):
            MiniLMEmbeddings(tmp_path, **kwargs)


def test_a_missing_model_is_reported_for_every_backend(tmp_path: Path) -> None:
    for backend in EMBEDDING_BACKENDS:
        with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings"):
            MiniLMEmbeddings(tmp_path, backend=backend)


def test_minilm_specs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))  # nothing pulled there
    for spec in ("minilm", "minilm:auto", "minilm:onnx", "minilm:torch", None):
        with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings"):
            resolve_embeddings(spec)
    with pytest.raises(ValueError, match="unknown embedding spec"):
        resolve_embeddings("minilm:gpu")


def test_default_threads_is_positive() -> None:
    assert emb._default_threads() >= 1


# ------------------------------------------------------------------ reading ONNX initializers


def _tensor(model: Any, name: str, array: np.ndarray, data_type: int, *, raw: bool = True) -> None:
    tensor = model.graph.initializer.add()
    tensor.name = name
    tensor.data_type = data_type
    tensor.dims.extend(array.shape)
    if raw:
        tensor.raw_data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    elif data_type == 1:
        tensor.float_data.extend(array.ravel().tolist())
    elif data_type == 7:
        tensor.int64_data.extend(array.ravel().tolist())
    else:
        tensor.int32_data.extend(array.ravel().astype(np.int32).tolist())


def _model_bytes(tensors: dict[str, np.ndarray], *, raw: bool = True) -> bytes:
    codes = {np.dtype("float32"): 1, np.dtype("int8"): 3, np.dtype("int64"): 7, np.dtype("bool"): 9}
    model = emb._onnx_weights_class()()
    for name, array in tensors.items():
        _tensor(model, name, array, codes[array.dtype], raw=raw)
    return bytes(model.SerializeToString())


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_fields"])
def test_read_onnx_initializers_round_trips(raw: bool) -> None:
    rng = np.random.default_rng(0)
    tensors = {
        "w_q": rng.integers(-128, 128, size=(3, 5)).astype(np.int8),
        "w_scale": rng.random((1, 5)).astype(np.float32),
        "ids": np.arange(6, dtype=np.int64).reshape(1, 6),
        "scalar": np.array(0.5, dtype=np.float32),
        "flag": np.array(True),
    }
    read = read_onnx_initializers(_model_bytes(tensors, raw=raw))
    assert set(read) == set(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype, name
        assert read[name].shape == array.shape, name
        assert np.array_equal(read[name], array), name


def test_read_onnx_initializers_keeps_the_graph_subset_untouched() -> None:
    """The weights reader and the NaN-guard editor are separate message classes."""
    assert emb._onnx_weights_class() is not emb._onnx_model_class()


def test_external_data_is_refused() -> None:
    model = emb._onnx_weights_class()()
    tensor = model.graph.initializer.add()
    tensor.name, tensor.data_type, tensor.data_location = "w", 1, 1
    with pytest.raises(EmbeddingModelError, match="outside the model file"):
        read_onnx_initializers(model.SerializeToString())


def test_unsupported_type_is_refused() -> None:
    model = emb._onnx_weights_class()()
    tensor = model.graph.initializer.add()
    tensor.name, tensor.data_type = "w", 16  # bfloat16
    with pytest.raises(EmbeddingModelError, match="unsupported ONNX type 16"):
        read_onnx_initializers(model.SerializeToString())


# ------------------------------------------------------------------ a tiny BERT in the exporter's layout

HIDDEN, INTERMEDIATE, HEADS, LAYERS, VOCAB, POSITIONS = 8, 16, 2, 2, 30, 40


def _tiny_onnx_initializers(seed: int = 0) -> dict[str, np.ndarray]:
    """Initializers named as in the pinned model.onnx: named biases / LayerNorms, per-row int8
    embeddings, per-column int8 anonymous matrices ``(in, out)`` in graph order."""
    rng = np.random.default_rng(seed)
    init: dict[str, np.ndarray] = {}

    def f32(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def quantized(name: str, shape: tuple[int, int], axis: int) -> None:
        init[name + "_q"] = rng.integers(-127, 128, size=shape).astype(np.int8)
        scale_shape = (shape[0], 1) if axis == 0 else (1, shape[1])
        init[name + "_scale"] = (rng.random(scale_shape) * 0.01 + 0.002).astype(np.float32)

    e = "inner.embeddings."
    quantized(e + "word_embeddings.weight", (VOCAB, HIDDEN), 0)
    quantized(e + "position_embeddings.weight", (POSITIONS, HIDDEN), 0)
    init[e + "token_type_embeddings.weight"] = f32(2, HIDDEN)
    init[e + "LayerNorm.weight"] = 1 + f32(HIDDEN, scale=0.1)
    init[e + "LayerNorm.bias"] = f32(HIDDEN, scale=0.1)
    counter = 100
    for i in range(LAYERS):
        p = f"inner.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            init[p + f"attention.self.{n}.bias"] = f32(HIDDEN, scale=0.1)
        for n in ("attention.output.dense", "output.dense"):
            init[p + n + ".bias"] = f32(HIDDEN, scale=0.1)
        init[p + "intermediate.dense.bias"] = f32(INTERMEDIATE, scale=0.1)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            init[p + n + ".weight"] = 1 + f32(HIDDEN, scale=0.1)
            init[p + n + ".bias"] = f32(HIDDEN, scale=0.1)
        for shape in [(HIDDEN, HIDDEN)] * 4 + [(HIDDEN, INTERMEDIATE), (INTERMEDIATE, HIDDEN)]:
            quantized(f"val_{counter}", shape, 1)
            counter += 7
    init["val_9"] = np.array([1], dtype=np.int64)  # constants that are not weights are ignored
    return init


def _numpy_bert(init: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A direct float64 transcription of the exported graph: MatMul with ``(in, out)`` weights,
    q and k each scaled by head_dim ** -0.25, additive mask, erf GELU, post-LayerNorm."""
    from math import erf

    def deq(name: str) -> np.ndarray:
        return init[name + "_q"].astype(np.float64) * init[name + "_scale"]

    def norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w + b

    gelu = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / np.sqrt(2.0))))
    batch, tokens = ids.shape
    e = "inner.embeddings."
    x = deq(e + "word_embeddings.weight")[ids] + deq(e + "position_embeddings.weight")[:tokens]
    x = norm(
        x + init[e + "token_type_embeddings.weight"][0],
        init[e + "LayerNorm.weight"],
        init[e + "LayerNorm.bias"],
    )
    matrices = sorted(
        (k[:-2] for k in init if k.startswith("val_") and k.endswith("_q")), key=lambda k: int(k[4:])
    )
    head = HIDDEN // HEADS
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)
    for i in range(LAYERS):
        p = f"inner.encoder.layer.{i}."
        wq, wk, wv, wo, wu, wd = (deq(m) for m in matrices[6 * i : 6 * i + 6])

        def heads(y: np.ndarray) -> np.ndarray:
            return y.reshape(batch, tokens, HEADS, head).transpose(0, 2, 1, 3)

        q = heads(x @ wq + init[p + "attention.self.query.bias"]) * head**-0.25
        k = heads(x @ wk + init[p + "attention.self.key.bias"]) * head**-0.25
        v = heads(x @ wv + init[p + "attention.self.value.bias"])
        scores = q @ k.transpose(0, 1, 3, 2) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attended = (scores / scores.sum(-1, keepdims=True)) @ v
        attended = attended.transpose(0, 2, 1, 3).reshape(batch, tokens, HIDDEN)
        x = norm(
            x + attended @ wo + init[p + "attention.output.dense.bias"],
            init[p + "attention.output.LayerNorm.weight"],
            init[p + "attention.output.LayerNorm.bias"],
        )
        inner = gelu(x @ wu + init[p + "intermediate.dense.bias"])
        x = norm(
            x + inner @ wd + init[p + "output.dense.bias"],
            init[p + "output.LayerNorm.weight"],
            init[p + "output.LayerNorm.bias"],
        )
    return x


def test_weights_are_dequantized_and_laid_out_for_linear() -> None:
    init = _tiny_onnx_initializers()
    weights = emb._minilm_weights_from_onnx(init)
    e = "inner.embeddings."
    word = init[e + "word_embeddings.weight_q"].astype(np.float32) * init[e + "word_embeddings.weight_scale"]
    assert np.array_equal(weights["word"], word)
    assert np.array_equal(weights["token_type"], init[e + "token_type_embeddings.weight"][0])
    assert len(weights["layers"]) == LAYERS
    first = weights["layers"][0]
    assert first["qkv_w"].shape == (3 * HIDDEN, HIDDEN)
    assert first["up_w"].shape == (INTERMEDIATE, HIDDEN)
    assert first["down_w"].shape == (HIDDEN, INTERMEDIATE)
    query = init["val_100_q"].astype(np.float32) * init["val_100_scale"]  # (in, out)
    assert np.array_equal(first["qkv_w"][:HIDDEN], query.T)
    bias = init["inner.encoder.layer.0.attention.self.key.bias"]
    assert np.array_equal(first["qkv_b"][HIDDEN : 2 * HIDDEN], bias)


def test_weights_with_a_missing_matrix_are_refused() -> None:
    init = _tiny_onnx_initializers()
    del init["val_100_q"], init["val_100_scale"]
    with pytest.raises(EmbeddingModelError, match="expected layout"):
        emb._minilm_weights_from_onnx(init)


def test_weights_with_a_missing_bias_are_refused() -> None:
    init = _tiny_onnx_initializers()
    del init["inner.encoder.layer.1.output.dense.bias"]
    with pytest.raises(EmbeddingModelError, match="no weight 'inner.encoder.layer.1.output.dense.bias'"):
        emb._minilm_weights_from_onnx(init)


def test_weights_survive_the_onnx_round_trip() -> None:
    init = _tiny_onnx_initializers()
    read = read_onnx_initializers(_model_bytes(init))
    for name, array in init.items():
        assert np.array_equal(read[name], array), name


# ------------------------------------------------------------------ the torch encoder


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    lengths = [9, 6, 3]
    ids = np.zeros((3, 9), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, VOCAB, size=n)
        mask[row, :n] = 1
    return ids, mask


def test_torch_encoder_matches_the_numpy_reference() -> None:
    pytest.importorskip("torch", reason="the torch backend is an optional extra (fast-embeddings)")
    init = _tiny_onnx_initializers()
    encoder = emb._TorchEncoder(emb._minilm_weights_from_onnx(init), heads=HEADS, dtype="fp32")
    ids, mask = _batch()
    got = encoder(ids, mask)
    want = _numpy_bert(init, ids, mask)
    assert got.dtype == np.float32 and got.shape == (3, 9, HIDDEN)
    for row, n in enumerate(mask.sum(1)):  # padded positions are not compared (nor used)
        assert np.abs(got[row, :n] - want[row, :n]).max() < 1e-4


def test_torch_encoder_padding_does_not_leak() -> None:
    pytest.importorskip("torch", reason="the torch backend is an optional extra (fast-embeddings)")
    encoder = emb._TorchEncoder(
        emb._minilm_weights_from_onnx(_tiny_onnx_initializers()), heads=HEADS, dtype="fp32"
    )
    ids, mask = _batch()
    together = encoder(ids, mask)
    alone = encoder(ids[2:, :3], mask[2:, :3])
    assert np.abs(together[2, :3] - alone[0]).max() < 1e-5


def test_torch_encoder_in_bf16_stays_close() -> None:
    pytest.importorskip("torch", reason="the torch backend is an optional extra (fast-embeddings)")
    weights = emb._minilm_weights_from_onnx(_tiny_onnx_initializers())
    ids, mask = _batch()
    fp32 = emb._TorchEncoder(weights, heads=HEADS, dtype="fp32")(ids, mask)
    bf16 = emb._TorchEncoder(weights, heads=HEADS, dtype="bf16")(ids, mask)
    assert bf16.dtype == np.float32
    rows = mask.astype(bool)
    a, b = fp32[rows], bf16[rows]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99


def test_torch_encoder_rejects_unknown_precision() -> None:
    pytest.importorskip("torch", reason="the torch backend is an optional extra (fast-embeddings)")
    with pytest.raises(ValueError, match="dtype must be"):
        emb._TorchEncoder(emb._minilm_weights_from_onnx(_tiny_onnx_initializers()), heads=HEADS, dtype="int8")


def test_torch_workers_leave_the_callers_thread_count_alone() -> None:
    torch = pytest.importorskip("torch", reason="the torch backend is an optional extra (fast-embeddings)")
    encoder = emb._TorchEncoder(
        emb._minilm_weights_from_onnx(_tiny_onnx_initializers()), heads=HEADS, dtype="fp32"
    )
    before = torch.get_num_threads()
    seen: list[int] = []

    class Spy:
        always_in_workers = True
        worker_init = staticmethod(encoder.worker_init)
        parallel = staticmethod(encoder.parallel)

        def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            seen.append(torch.get_num_threads())
            return encoder(ids, mask)

    emb._embed_windows(
        [[1, 2, 3], [4, 5], [6]], Spy(), cls=1, sep=2, dimension=HIDDEN, window=8, batch_tokens=8, workers=2
    )
    assert seen and set(seen) == {1}  # each worker runs torch single-threaded
    assert torch.get_num_threads() == before
    fresh: list[int] = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [before]  # threads started later get the usual count again


# ------------------------------------------------------------------ windowing, batching, pooling


class TableRunner:
    """A fake model: the hidden state of token t is row t of a fixed table (so pooling is checkable)."""

    def __init__(self, dimension: int = 4, vocab: int = 50) -> None:
        self.table = np.random.default_rng(2).standard_normal((vocab, dimension)).astype(np.float32)
        self.shapes: list[tuple[int, int]] = []
        self.threads: set[str] = set()
        self.inits = 0
        self._lock = threading.Lock()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._lock:
            self.shapes.append(ids.shape)
            self.threads.add(threading.current_thread().name)
        hidden = self.table[ids]
        hidden[mask == 0] = 1e6  # padding must never reach the result
        return hidden

    def worker_init(self) -> None:
        with self._lock:
            self.inits += 1


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
    assert 1 <= parallel_runner.inits <= 3


def test_no_texts_no_runs() -> None:
    runner = TableRunner()
    out = emb._embed_windows([], runner, cls=1, sep=2, dimension=4, workers=4)
    assert out.shape == (0, 4) and runner.shapes == []
