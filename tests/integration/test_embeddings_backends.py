"""The MiniLM backends on the real model (pulled and verified by ``pull_embedding_model()``):
the plain-PyTorch encoder reproduces onnxruntime exactly in float32 and within cosine 0.9999 in bf16,
so both backends record the same embedding name and one collection can be written by either."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from langgraph_cloudlocal.documents import Document, iter_chunks
from langgraph_cloudlocal.embeddings import (
    MINILM_NAME,
    MiniLMEmbeddings,
    pull_embedding_model,
    resolve_embeddings,
    select_embedding_backend,
)
from langgraph_cloudlocal.store import ChunkStore

pytestmark = pytest.mark.integration

TORCH_EXTRA = "the torch backend is an optional extra (fast-embeddings)"


def _prose(chars: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    subjects = ["The harbour master", "The council", "An auditor", "Local residents", "The rail operator"]
    verbs = ["reviewed", "approved", "postponed", "questioned", "published"]
    objects = [
        "the dredging contract for the northern quay",
        "a report on drinking water in Tromsø",
        "the night bus timetable",
        "plans for a second ferry terminal",
        "the budget of the public library",
    ]
    sentences: list[str] = []
    while sum(len(s) + 1 for s in sentences) < chars:
        sentences.append(
            f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} in {rng.randint(1990, 2024)}, "
            f"at a cost of {rng.randint(1, 999):,}.{rng.randint(0, 9)} million (ref. K{rng.randint(100, 9999)})."
        )
    return " ".join(sentences)[:chars]


def _texts() -> list[str]:
    chunks = [c.text for c in iter_chunks(Document(_prose(12_000)), "chars", 1000, 100)]
    return [
        *chunks,  # chunks of the default size, about 200 tokens each
        "Who approved the dredging contract?",  # a query
        "short",
        "",
        "Ünïcödé: Ærø, Malmö, São Paulo — and 3.5 × 10⁶ €",
        _prose(2_500, seed=3),  # over 256 tokens: several windows
    ]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def onnx() -> MiniLMEmbeddings:
    pull_embedding_model()  # a no-op when the verified files are cached
    return MiniLMEmbeddings(threads=2, backend="onnx")


@pytest.fixture(scope="module")
def reference(onnx: MiniLMEmbeddings) -> np.ndarray:
    return onnx.embed_array(_texts())


def test_onnx_workers_do_not_change_vectors(onnx: MiniLMEmbeddings, reference: np.ndarray) -> None:
    single = MiniLMEmbeddings(threads=1, backend="onnx")
    assert (single.backend, single.precision, single.threads) == ("onnx", "fp32", 1)
    assert np.abs(single.embed_array(_texts()) - reference).max() < 1e-6


def test_torch_fp32_reproduces_onnxruntime(reference: np.ndarray) -> None:
    """Same weights read from model.onnx, same graph written in torch: the same numbers."""
    pytest.importorskip("torch", reason=TORCH_EXTRA)
    torch_fp32 = MiniLMEmbeddings(threads=2, backend="torch", precision="fp32")
    assert (torch_fp32.backend, torch_fp32.precision) == ("torch", "fp32")
    assert np.abs(torch_fp32.embed_array(_texts()) - reference).max() < 1e-4


def test_torch_bf16_is_interchangeable_with_onnx(reference: np.ndarray) -> None:
    pytest.importorskip("torch", reason=TORCH_EXTRA)
    fast = MiniLMEmbeddings(threads=2, backend="torch", precision="bf16")
    vectors = fast.embed_array(_texts())
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = _cosines(vectors, reference)
    assert cosines.min() >= 0.999, cosines.min()  # measured: 0.9999 on 1,428 chunks of 1,000 chars
    assert fast.embedding_name == MINILM_NAME
    # queries rank the same way
    query = fast.embed_query("Who approved the dredging contract?")
    assert (
        np.argsort(reference @ np.asarray(query))[-3:].tolist()
        == np.argsort(reference @ reference[-5])[-3:].tolist()
    )


def test_torch_threads_do_not_change_vectors_much(reference: np.ndarray) -> None:
    pytest.importorskip("torch", reason=TORCH_EXTRA)
    one = MiniLMEmbeddings(threads=1, backend="torch").embed_array(_texts())
    two = MiniLMEmbeddings(threads=2, backend="torch").embed_array(_texts())
    assert np.abs(one - two).max() < 1e-5  # same batches, same kernels: only the threads differ


def test_auto_picks_what_select_embedding_backend_says() -> None:
    pull_embedding_model()
    auto = resolve_embeddings("minilm")
    assert isinstance(auto, MiniLMEmbeddings)
    assert auto.backend == select_embedding_backend("auto")
    assert MiniLMEmbeddings().backend == "onnx"  # the class alone keeps its old behaviour
    assert resolve_embeddings("minilm:onnx").backend == "onnx"  # type: ignore[attr-defined]


def test_a_collection_written_by_torch_is_searched_by_onnx(tmp_path: Path, onnx: MiniLMEmbeddings) -> None:
    pytest.importorskip("torch", reason=TORCH_EXTRA)
    fast = MiniLMEmbeddings(threads=2, backend="torch")
    text = _prose(6_000) + " The lighthouse keeper Ingrid Solberg repainted the lamp room in 1987."
    store = ChunkStore.persistent(tmp_path / "db", collection="mixed", embedding=fast)
    store.add_documents(Document(text))
    store.close()
    reopened = ChunkStore.persistent(
        tmp_path / "db", collection="mixed", embedding=onnx
    )  # same name: allowed
    hits = reopened.search("Who repainted the lighthouse lamp room?", k=2, lexical=False)
    assert any("Ingrid Solberg" in hit.text for hit in hits)
    reopened.close()
