"""ChunkStore on an in-memory (and on-disk) Chroma with a small deterministic embedding, all without
network (the embedding model's pull and verification: tests/unit/test_embeddings_backends.py)."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from langgraph_cloudlocal.documents import Document, EmptyDocumentError, UnsupportedDocumentError
from langgraph_cloudlocal.embeddings import (
    EmbeddingModelError,
    embedding_name,
    resolve_embeddings,
)
from langgraph_cloudlocal.store import ChunkStore, EmbeddingMismatchError, StoreError, exact_terms


class HashedBagOfWords(Embeddings):
    """Deterministic toy embedding: each word adds 1 to one of 64 hashed dimensions."""

    embedding_name = "test:hashed-bag-of-words"

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * 64
        for word in text.lower().split():
            word = word.strip(".,?!:;")
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts_embedded += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class BlindToTheName(Embeddings):
    """An embedding that cannot see the rare name: chunks holding it point away from every query."""

    embedding_name = "test:blind"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # Distinct vectors (identical ones make HNSW's neighbour graph degenerate), all near the
        # query's direction except for chunks with the name, which are orthogonal to it.
        vectors = []
        for text in texts:
            digest = hashlib.md5(text.encode()).digest()
            jitter = [b / 2550 for b in digest[:6]]
            vectors.append([0.0, 1.0, *jitter] if "Zebulon" in text else [1.0, 0.0, *jitter])
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return [1.0] + [0.0] * 7


def _market_text(rare_at: int = 37) -> str:
    paragraphs = [
        f"Stall {i} sells apples and pears at the Tuesday market in the old square." for i in range(60)
    ]
    paragraphs[rare_at] = "The ledger was signed by Zebulon Quartermaine, who paid 4,718 crowns."
    return "\n\n".join(paragraphs)


@pytest.fixture
def store() -> ChunkStore:
    with ChunkStore.in_memory("unit-corpus", embedding=HashedBagOfWords()) as s:
        yield s


# ------------------------------------------------------------------ adding


def test_add_documents_returns_ids_and_stores_chunks(store: ChunkStore) -> None:
    ids = store.add_documents(
        [_market_text(), Document("A note about ferries.", id="ferries")], chunk_size=300
    )
    assert ids[1] == "ferries" and ids[0].startswith("text-")
    assert store.count() == store.count([ids[0]]) + 1
    assert store.document_ids() == sorted(ids)


def test_reingesting_is_a_no_op(store: ChunkStore) -> None:
    embedding = store._embeddings
    assert isinstance(embedding, HashedBagOfWords)
    first = store.add_documents(_market_text(), chunk_size=300, overlap=30)
    count, embedded = store.count(), embedding.texts_embedded
    assert store.add_documents(_market_text(), chunk_size=300, overlap=30) == first
    assert store.count() == count
    assert embedding.texts_embedded == embedded  # nothing was embedded again


def test_new_chunking_replaces_the_old_chunks(store: ChunkStore) -> None:
    (doc_id,) = store.add_documents(_market_text(), chunk_size=300, overlap=0)
    before = {c.id for c in store.get_chunks([doc_id])}
    store.add_documents(_market_text(), chunk_size=800, overlap=0)
    after = store.get_chunks([doc_id])
    assert not before & {c.id for c in after}
    assert [c.position for c in after] == list(range(len(after)))
    assert store.count() == len(after)


def test_get_chunks_in_document_order_then_position(store: ChunkStore) -> None:
    a, b = store.add_documents(
        [Document(_market_text(), id="b-doc"), Document(_market_text(5), id="a-doc")], chunk_size=300
    )
    chunks = store.get_chunks([a, b])
    assert [c.document_id for c in chunks] == [a] * store.count([a]) + [b] * store.count([b])
    assert [c.position for c in chunks if c.document_id == a] == list(range(store.count([a])))
    assert chunks[0].metadata["source"] == "b-doc" and chunks[0].metadata["strategy"] == "chars"
    assert [c.document_id for c in store.get_chunks()][0] == "a-doc"  # without ids: sorted by id
    assert store.get_chunks([]) == []


def test_chunk_metadata_round_trips_through_chroma(store: ChunkStore) -> None:
    doc = Document(
        "# Title\n\nBody text here.", id="md", source="notes.md", kind="markdown", metadata={"year": 2024}
    )
    store.add_documents(doc, chunking="markdown")
    (chunk,) = store.get_chunks(["md"])
    assert chunk.text == "# Title\n\nBody text here."
    assert chunk.metadata["section"] == "Title"
    assert chunk.metadata["year"] == 2024
    assert chunk.source == "notes.md" and chunk.position == 0


def test_delete_document(store: ChunkStore) -> None:
    store.add_documents([Document(_market_text(), id="keep"), Document("Delete me soon.", id="drop")])
    assert store.delete_document("drop") == 1
    assert store.document_ids() == ["keep"]
    assert store.delete_document("drop") == 0


def test_bad_input_is_refused_before_anything_is_written(store: ChunkStore, tmp_path: Path) -> None:
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(EmptyDocumentError):
        store.add_documents(["A good document.", "   "])
    with pytest.raises(UnsupportedDocumentError):
        store.add_documents(["A good document.", binary])
    with pytest.raises(ValueError, match="unknown chunking strategy"):
        store.add_documents("A good document.", chunking="sentences")
    with pytest.raises(StoreError, match="max_chars"):
        store.add_documents(["short", _market_text()], max_chars=1000)
    assert store.count() == 0


def test_embedding_that_returns_garbage_gets_a_clear_error() -> None:
    class WrongCount(HashedBagOfWords):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return super().embed_documents(texts)[:-1]

    class NotFinite(HashedBagOfWords):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float("nan")] * 64 for _ in texts]

    for bad, message in ((WrongCount(), "shape"), (NotFinite(), "NaN")):
        with ChunkStore.in_memory(embedding=bad) as s, pytest.raises(StoreError, match=message):
            s.add_documents(["one text.", "two texts."])


# ------------------------------------------------------------------ searching


def test_search_finds_the_matching_chunk_and_respects_document_filters(store: ChunkStore) -> None:
    store.add_documents(
        [
            Document("Ferries leave the northern pier every hour.", id="ferries"),
            Document("Bicycles can be rented near the station.", id="bikes"),
            Document("Ferries to the island are cancelled in storms.", id="storms"),
        ]
    )
    top = store.search("when do ferries leave the pier", k=1, lexical=False)
    assert [c.document_id for c in top] == ["ferries"]
    assert top[0].metadata["retrieval"] == "dense" and top[0].score is not None
    only = store.search("when do ferries leave the pier", k=3, document_ids=["bikes", "storms"])
    assert {c.document_id for c in only} <= {"bikes", "storms"} and len(only) == 2
    assert store.search("ferries", document_ids=[]) == []


def test_lexical_fallback_finds_a_rare_name_the_embedding_misses() -> None:
    with ChunkStore.in_memory(embedding=BlindToTheName()) as s:
        s.add_documents(_market_text(), chunking="paragraph", chunk_size=100)
        question = "What did Zebulon Quartermaine pay?"
        assert all("Zebulon" not in c.text for c in s.search(question, k=3, lexical=False))
        hits = s.search(question, k=3)
        assert "Zebulon" in hits[0].text
        assert hits[0].metadata["retrieval"] in ("lexical", "dense+lexical")


def test_lexical_fallback_finds_an_exact_number() -> None:
    with ChunkStore.in_memory(embedding=BlindToTheName()) as s:
        s.add_documents(
            _market_text(rare_at=12).replace("Zebulon", "Someone"), chunking="paragraph", chunk_size=100
        )
        hits = s.search("who paid 4,718 crowns", k=2)
        assert "4,718" in hits[0].text


def test_exact_terms_pick_names_numbers_codes_and_quotes() -> None:
    terms = exact_terms('What did Zebulon pay for part XK-47 on 2021-05-03, and who wrote "the blue ledger"?')
    assert terms[0] == "the blue ledger"
    assert {"Zebulon", "XK-47", "2021-05-03"} <= set(terms)
    assert "What" not in terms and "pay" not in terms
    assert exact_terms("what is the capital of france") == []


def test_search_checks_its_arguments(store: ChunkStore) -> None:
    with pytest.raises(ValueError, match="non-empty query"):
        store.search("  ")
    with pytest.raises(ValueError, match="positive integer"):
        store.search("x", k=0)
    assert store.search("anything at all") == []  # empty store


def test_langchain_documents_and_loaders_are_ingested(store: ChunkStore) -> None:
    from langchain_core.document_loaders import BaseLoader
    from langchain_core.documents import Document as LangChainDocument

    class TwoFiles(BaseLoader):
        def lazy_load(self):  # type: ignore[no-untyped-def]
            yield LangChainDocument(page_content="Ferries leave hourly.", metadata={"source": "a.txt"})
            yield LangChainDocument(page_content="Bikes are for rent.", metadata={"source": "b.txt"})

    given = LangChainDocument(page_content="The pier is closed.", id="pier", metadata={"source": "pier.md"})
    ids = store.add_documents([given, TwoFiles()])
    assert ids[0] == "pier" and ids[1].startswith("a-") and ids[2].startswith("b-")
    assert store.add_documents(TwoFiles()) == ids[1:]  # one loader alone, same ids again
    assert [c.metadata["source"] for c in store.get_chunks(ids)] == ["pier.md", "a.txt", "b.txt"]


def test_as_retriever_returns_langchain_documents_best_first(store: ChunkStore) -> None:
    from langchain_core.documents import Document as LangChainDocument
    from langchain_core.retrievers import BaseRetriever

    store.add_documents(
        [
            Document("Ferries leave the northern pier every hour.", id="ferries"),
            Document("Bicycles can be rented near the station.", id="bikes"),
            Document("Ferries to the island are cancelled in storms.", id="storms"),
        ]
    )
    retriever = store.as_retriever(k=1, lexical=False)
    assert isinstance(retriever, BaseRetriever)
    (hit,) = retriever.invoke("when do ferries leave the pier")
    assert isinstance(hit, LangChainDocument)
    (chunk,) = store.search("when do ferries leave the pier", k=1, lexical=False)
    assert (hit.id, hit.page_content) == (chunk.id, chunk.text)
    assert hit.metadata["document_id"] == "ferries" and hit.metadata["score"] == chunk.score
    # search_kwargs as VectorStore.as_retriever takes them; document filters apply
    filtered = store.as_retriever(search_kwargs={"k": 3, "document_ids": ["bikes", "storms"]})
    assert {d.metadata["document_id"] for d in filtered.invoke("ferries")} == {"bikes", "storms"}
    assert store.as_retriever(document_ids=[]).invoke("ferries") == []


async def test_as_retriever_works_async_and_in_a_chain(store: ChunkStore) -> None:
    from langchain_core.runnables import RunnableLambda

    store.add_documents(Document("The vault code is 4718.", id="vault"))
    retriever = store.as_retriever(k=1, tags=["chunks"], name="vault-retriever")
    assert retriever.name == "vault-retriever" and retriever.tags == ["chunks"]
    docs = await retriever.ainvoke("what is the vault code")
    assert [d.metadata["document_id"] for d in docs] == ["vault"]
    chain = retriever | RunnableLambda(lambda found: "\n".join(d.page_content for d in found))
    assert chain.invoke("vault code 4718") == "The vault code is 4718."


def test_as_retriever_checks_its_arguments(store: ChunkStore) -> None:
    with pytest.raises(ValueError, match="unknown search_kwargs \\['fetch_k'\\]"):
        store.as_retriever(search_kwargs={"fetch_k": 20})
    with pytest.raises(ValueError, match="positive integer"):
        store.as_retriever(k=0)
    with pytest.raises(ValueError, match="positive integer"):
        store.as_retriever(search_kwargs={"k": True})
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.as_retriever().invoke("anything")


# ------------------------------------------------------------------ stores and collections


def test_in_memory_stores_are_isolated() -> None:
    with ChunkStore.in_memory("same-name", embedding=HashedBagOfWords()) as a:
        a.add_documents("Only in store a.")
        with ChunkStore.in_memory("same-name", embedding=HashedBagOfWords()) as b:
            assert b.count() == 0
        assert a.count() == 1


def test_persistent_store_survives_reopening(tmp_path: Path) -> None:
    with ChunkStore.persistent(tmp_path / "chunks", embedding=HashedBagOfWords()) as s:
        ids = s.add_documents(_market_text(), chunk_size=300)
        count = s.count()
    reopened = ChunkStore.persistent(tmp_path / "chunks", embedding=HashedBagOfWords())
    assert reopened.count() == count
    reopened.add_documents(_market_text(), chunk_size=300)
    assert reopened.count() == count and reopened.document_ids() == ids


def test_mixing_embeddings_in_one_collection_is_refused(tmp_path: Path) -> None:
    ChunkStore.persistent(tmp_path, "corpus", embedding=HashedBagOfWords()).add_documents("Some text.")
    with pytest.raises(EmbeddingMismatchError, match="test:hashed-bag-of-words"):
        ChunkStore.persistent(tmp_path, "corpus", embedding=BlindToTheName())
    ChunkStore.persistent(tmp_path, "other-corpus", embedding=BlindToTheName())  # a new collection is fine


def test_persistent_path_must_be_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ChunkStore.persistent(path, embedding=HashedBagOfWords())


@pytest.mark.parametrize("name", ["x", "has space", "-leading", "a" * 600, "a..b"])
def test_invalid_collection_names_are_refused_early(name: str) -> None:
    with pytest.raises(ValueError, match="collection name"):
        ChunkStore.in_memory(name, embedding=HashedBagOfWords())


def test_closed_store_refuses_work() -> None:
    s = ChunkStore.in_memory(embedding=HashedBagOfWords())
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.count()


def test_server_url_is_checked() -> None:
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        ChunkStore.server("ftp://example", embedding=HashedBagOfWords())


# ------------------------------------------------------------------ embeddings


def test_embedding_names() -> None:
    assert embedding_name(HashedBagOfWords()) == "test:hashed-bag-of-words"
    ollama = resolve_embeddings("ollama:nomic-embed-text")
    assert embedding_name(ollama) == "ollama:nomic-embed-text"

    def chroma_style(input: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in input]

    wrapped = resolve_embeddings(chroma_style)
    assert wrapped.embed_query("x") == [1.0, 0.0]
    assert embedding_name(wrapped).startswith("chroma:")
    with pytest.raises(ValueError, match="unknown embedding spec"):
        resolve_embeddings("sentence-transformers:all-MiniLM")


def test_default_store_without_the_model_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLOUDLOCAL_CACHE_DIR", str(tmp_path))
    with pytest.raises(EmbeddingModelError, match="cloudlocal pull embeddings"):
        ChunkStore.in_memory()
    assert not os.listdir(tmp_path)  # nothing was downloaded or created
