"""MiniLM's two precisions on the real model (pulled and verified by ``pull_embedding_model()``):
int8 (onnxruntime's own quantisation of the verified model, the default of ``resolve_embeddings`` and
``ChunkStore``) stays within cosine 0.99 of float32 on chunks and ranks the same passages first, so both
record the same embedding name and one collection can be written by either."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from langgraph_cloudlocal.documents import Document, iter_chunks
from langgraph_cloudlocal.embeddings import (
    INT8_MODEL_FILENAME,
    MINILM_NAME,
    MiniLMEmbeddings,
    build_int8_model,
    pull_embedding_model,
    resolve_embeddings,
)
from langgraph_cloudlocal.store import ChunkStore

pytestmark = pytest.mark.integration


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
def fp32() -> MiniLMEmbeddings:
    pull_embedding_model()  # a no-op when the verified files are cached
    return MiniLMEmbeddings(threads=2, precision="fp32")


@pytest.fixture(scope="module")
def int8() -> MiniLMEmbeddings:
    pull_embedding_model()
    return MiniLMEmbeddings(threads=2, precision="int8")


@pytest.fixture(scope="module")
def reference(fp32: MiniLMEmbeddings) -> np.ndarray:
    return fp32.embed_array(_texts())


def test_workers_do_not_change_vectors(reference: np.ndarray) -> None:
    single = MiniLMEmbeddings(threads=1)
    assert (single.precision, single.threads) == ("fp32", 1)
    assert np.abs(single.embed_array(_texts()) - reference).max() < 1e-6


def test_the_int8_model_is_onnxruntimes_own_quantisation(int8: MiniLMEmbeddings, tmp_path: Path) -> None:
    """The pulled model.int8.onnx is what onnxruntime's tools make from the verified model.onnx (the
    build is deterministic), with every projection an integer product, and it is what "int8" runs."""
    import onnx

    rebuilt = build_int8_model(int8.model_dir / "model.onnx", tmp_path / INT8_MODEL_FILENAME)
    assert rebuilt.read_bytes() == (int8.model_dir / INT8_MODEL_FILENAME).read_bytes()
    ops = Counter(node.op_type for node in onnx.load(rebuilt).graph.node)
    assert (
        ops["MatMulInteger"] == 36
    )  # 6 layers x (query, key, value, attention output, intermediate, output)
    assert ops["MatMul"] == 12  # the two attention products per layer stay in float
    assert int8.model_file == int8.model_dir / INT8_MODEL_FILENAME


def test_int8_stays_close_to_fp32(int8: MiniLMEmbeddings, reference: np.ndarray) -> None:
    vectors = int8.embed_array(_texts())
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = _cosines(vectors, reference)
    chunks = len(_texts()) - 5
    # measured: 0.990-0.996 on chunks of 1,000 characters; 0.97-0.98 on one-word texts
    assert cosines[:chunks].min() >= 0.985, cosines[:chunks].min()
    assert cosines.min() >= 0.95, cosines.min()
    assert cosines.max() < 1 - 1e-5  # really another computation, not float32 again
    assert int8.embedding_name == MINILM_NAME


def test_int8_ranks_passages_as_fp32_does(int8: MiniLMEmbeddings, reference: np.ndarray) -> None:
    passages = reference[: len(_texts()) - 5]
    for question in ("Who approved the dredging contract?", "night buses", "costs of the library"):
        exact = np.argsort(passages @ np.asarray(MiniLMEmbeddings(threads=1).embed_query(question)))
        fast = np.argsort(passages @ np.asarray(int8.embed_query(question)))
        assert set(fast[-3:]) & set(exact[-3:]), question  # the top three overlap
        assert fast[-1] in exact[-3:], question


def test_the_default_is_int8() -> None:
    pull_embedding_model()
    default = resolve_embeddings("minilm")
    assert isinstance(default, MiniLMEmbeddings) and default.precision == "int8"
    assert MiniLMEmbeddings().precision == "fp32"  # the class alone keeps sentence-transformers' numbers
    assert resolve_embeddings("minilm:fp32").precision == "fp32"  # type: ignore[attr-defined]


def test_a_collection_written_in_int8_is_searched_in_fp32(
    tmp_path: Path, int8: MiniLMEmbeddings, fp32: MiniLMEmbeddings
) -> None:
    text = _prose(6_000) + " The lighthouse keeper Ingrid Solberg repainted the lamp room in 1987."
    store = ChunkStore.persistent(tmp_path / "db", collection="mixed", embedding=int8)
    store.add_documents(Document(text))
    store.close()
    reopened = ChunkStore.persistent(tmp_path / "db", collection="mixed", embedding=fp32)  # same name
    hits = reopened.search("Who repainted the lighthouse lamp room?", k=2, lexical=False)
    assert any("Ingrid Solberg" in hit.text for hit in hits)
    reopened.close()
