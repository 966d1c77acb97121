"""ChunkStore: document chunks in ChromaDB, embedded on disk, in memory, or on a Chroma server.

One collection holds one corpus. Every chunk carries ``document_id`` and ``position`` in its Chroma
metadata, so searches and listings can be restricted to documents.

Embeddings are computed here, never by Chroma: Chroma's built-in default would download a model at
run time. The default is the offline :class:`~langgraph_cloudlocal.embeddings.MiniLMEmbeddings`
(pull it once with ``cloudlocal pull embeddings``); any LangChain ``Embeddings`` works (e.g.
``"ollama:nomic-embed-text"``). The collection records the embedding's name, and opening it with a
different one is an error rather than a silent mix of incomparable vectors.

Retrieval (:meth:`ChunkStore.search`)
    *Dense* search (cosine similarity of embeddings) always runs. The *lexical* fallback runs when
    ``lexical=True`` (the default) and the query contains exact terms: numbers (``4,718``, ``2021-05``),
    words with digits or inner capitals (``XK-47``, ``McAllister``), capitalised names that are not
    common question words, and quoted phrases. For each term Chroma's ``$contains`` document filter
    finds the chunks holding it verbatim (case-sensitive); those are ranked by BM25 term weights
    (idf from how many chunks hold the term, saturated term frequency), and both rankings are merged
    by reciprocal-rank fusion. A term found in more than :data:`LEXICAL_TERM_LIMIT` chunks is too
    common to help and is dropped. So a rare name or number in the question finds its chunk even
    when the embedding does not rank it.

Bad input and large files
    ``add_documents`` loads and checks every document before it writes anything: empty text, binary
    data, unsupported file types, unreadable or encrypted PDFs raise a
    :class:`~langgraph_cloudlocal.documents.DocumentError` naming the document. A large text file
    (over 8 MB) is streamed: chunks are embedded and written ``batch_size`` at a time, so memory
    stays bounded (Chroma's index grows with the number of chunks, not with the file). Time grows
    with the text: one million characters took 39-47 s of wall time on 2 shared cores with the int8
    ONNX model (about 43 CPU-seconds; ``benchmarks/bench_ingest.py``), so a 50 MB file takes 30-40
    minutes; pass ``max_chars`` to refuse documents above a size instead.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlparse

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LangChainDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from langgraph_cloudlocal.documents import (
    Chunk,
    Document,
    DocumentSource,
    _iter_loaded,
    iter_chunks,
    resolve_chunking,
)
from langgraph_cloudlocal.embeddings import MINILM_NAME, resolve_embeddings
from langgraph_cloudlocal.embeddings import embedding_name as _embedding_name_of
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.timing import busy

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = [
    "CHUNK_STORE_ENV",
    "EmbeddingSpec",
    "default_store_location",
    "open_chunk_store",
    "LEXICAL_TERM_LIMIT",
    "ChunkStore",
    "ChunkStoreRetriever",
    "EmbeddingMismatchError",
    "StoreError",
    "exact_terms",
]

logger = logging.getLogger(__name__)

EmbeddingSpec: TypeAlias = "Embeddings | str | Callable[[list[str]], Any] | None"
"""An embedding as :class:`ChunkStore` takes it: ``None`` or ``"minilm"`` (the offline default),
``"ollama:MODEL"``, any LangChain ``Embeddings``, or a function from texts to vectors."""

LEXICAL_TERM_LIMIT = 200
"""A lexical term held by more chunks than this is too common to rank with."""

_EMBEDDING_KEY = "cloudlocal_embedding"
_DIMENSION_KEY = "cloudlocal_dimension"
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_RRF_K = 60  # reciprocal-rank fusion constant (the usual value)


class StoreError(CloudLocalError, RuntimeError):
    """The chunk store cannot do what was asked; the message says why."""


class EmbeddingMismatchError(StoreError):
    """The collection holds vectors from a different embedding than the one given."""


def _chroma_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)  # never phone home, and no socket in unit tests


_ADAPTER_CLASS: Any = None


def _chroma_adapter_class() -> Any:
    """A Chroma ``EmbeddingFunction`` over our embeddings, registered under one name.

    It records the embedding's name in the collection configuration, and lets plain Chroma clients
    that open the collection (with this package imported) embed with the same model. Defined lazily
    so that importing this module does not import chromadb.
    """
    global _ADAPTER_CLASS
    if _ADAPTER_CLASS is not None:
        return _ADAPTER_CLASS
    from chromadb.api.types import Documents, EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class CloudlocalEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, embeddings: Any = None, name: str = "") -> None:
            self._embeddings = embeddings
            self._name = name

        def __call__(self, input: Documents) -> Any:
            if self._embeddings is None:
                raise StoreError(
                    f"this collection was embedded with {self._name!r}; open it with "
                    "langgraph_cloudlocal.ChunkStore and that embedding"
                )
            return _embed_array(self._embeddings, list(input))

        @staticmethod
        def name() -> str:
            return "langgraph-cloudlocal"

        def default_space(self) -> Any:
            return "cosine"

        def get_config(self) -> dict[str, Any]:
            return {"embedding": self._name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> Any:
            name = str(config.get("embedding", ""))
            embeddings = None
            if name == MINILM_NAME:
                try:
                    embeddings = resolve_embeddings("minilm")
                except Exception:  # not pulled: calling the function then says what to do
                    embeddings = None
            return CloudlocalEmbeddingFunction(embeddings, name)

    _ADAPTER_CLASS = CloudlocalEmbeddingFunction
    return _ADAPTER_CLASS


def _embed_array(embeddings: Any, texts: list[str]) -> Any:
    """Embed with whatever API is fastest, and check the result before it reaches Chroma."""
    import numpy as np

    with busy("embedding"):
        if hasattr(embeddings, "embed_array"):
            vectors = np.asarray(embeddings.embed_array(texts), dtype=np.float32)
        else:
            vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts) or vectors.shape[1] == 0:
        raise StoreError(
            f"{_embedding_name_of(embeddings)} returned vectors of shape {vectors.shape} for {len(texts)} texts"
        )
    if not np.isfinite(vectors).all():
        raise StoreError(f"{_embedding_name_of(embeddings)} returned NaN or infinite values")
    return vectors


def _embed_query(embeddings: Any, query: str) -> Any:
    """Embed a query with ``embed_query``: some models embed queries and documents differently."""
    import numpy as np

    with busy("embedding"):
        vector = np.asarray(embeddings.embed_query(query), dtype=np.float32)
    if vector.ndim != 1 or vector.shape[0] == 0 or not np.isfinite(vector).all():
        raise StoreError(f"{_embedding_name_of(embeddings)} returned an unusable query vector {vector.shape}")
    return vector[None, :]


def _document_filter(document_ids: Sequence[str] | None) -> dict[str, Any] | None:
    if document_ids is None:
        return None
    ids = list(dict.fromkeys(document_ids))
    if len(ids) == 1:
        return {"document_id": ids[0]}
    return {"document_id": {"$in": ids}}


# Words that start questions or sentences; capitalised, they are still not names.
_COMMON_WORDS = frozenset(
    """a an and are as at be by can could did do does for from give had has have how i if in is it
    its list many may much name of on or please show should tell that the their there these this
    those to was we were what when where which who whom whose why will with would you your find
    summarize summarise describe explain according compare between after before during all any each
    document documents text report page section chapter table figure answer question""".split()
)
_QUOTED = re.compile(r"\"([^\"]{2,80})\"|“([^”]{2,80})”|'([^']{3,80})'")
_TERM = re.compile(r"[\w][\w'’.,/:&-]*[\w]|\w")


def exact_terms(query: str, limit: int = 8) -> list[str]:
    """Terms of a query worth matching verbatim: quoted phrases, numbers, codes and names.

    Args:
        query: The question or search text.
        limit: At most this many terms.

    Returns:
        The terms, quoted phrases first, without repeats.

    Example:
        >>> exact_terms('What did Zebulon pay for part XK-47 on 2021-05-03, and who wrote "the blue ledger"?')
        ['the blue ledger', 'Zebulon', 'XK-47', '2021-05-03']
    """
    terms: list[str] = []
    for match in _QUOTED.finditer(query):
        phrase = next(g for g in match.groups() if g)
        terms.append(phrase.strip())
    unquoted = _QUOTED.sub(" ", query)
    for match in _TERM.finditer(unquoted):
        token = match.group().strip(".,:'’")
        if not token:
            continue
        has_digit = any(ch.isdigit() for ch in token)
        inner_capital = any(ch.isupper() for ch in token[1:])
        capitalised = token[0].isupper() and token.lower() not in _COMMON_WORDS and len(token) > 1
        if has_digit or inner_capital or capitalised:
            terms.append(token)
    return list(dict.fromkeys(terms))[:limit]


def _bm25_weight(term: str, text: str, document_frequency: int, total: int) -> float:
    idf = math.log(1 + (total - document_frequency + 0.5) / (document_frequency + 0.5))
    frequency = text.count(term)
    k1 = 1.2  # BM25's usual saturation; length normalisation off (chunks are of similar length)
    return idf * frequency * (k1 + 1) / (frequency + k1)


class ChunkStore:
    """Chunks of documents in one Chroma collection, with offline embeddings.

    Build it with :meth:`persistent` (embedded, on disk), :meth:`in_memory` (embedded, gone when
    the store is), or :meth:`server` (a ``chroma run`` server over HTTP); all three behave the same.
    Pass it to a protocol as ``chunk_store=``; use :meth:`as_retriever` where LangChain code wants a
    retriever. The constructor takes a Chroma client for cases the three do not cover.

    Args:
        client: A Chroma client (``chromadb.PersistentClient``, ``HttpClient``, ...).
        collection: The collection holding this corpus (3-512 letters, digits, ``.``, ``_``, ``-``).
        embedding: The embedding: ``None`` or ``"minilm"`` (the offline MiniLM, pulled once with
            ``cloudlocal pull embeddings``), ``"ollama:MODEL"``, or any LangChain ``Embeddings``.
        embedding_name: The name recorded in the collection; by default derived from the embedding.
        batch_size: Chunks embedded and written at a time (capped by the client's maximum).
        location: Where the data lives, for messages.
        on_close: Called once by :meth:`close`.

    Raises:
        ValueError: A collection name Chroma refuses, or ``batch_size`` below 1.
        EmbeddingMismatchError: The collection holds vectors of another embedding.
        EmbeddingModelError: The default MiniLM is not pulled.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> store = ChunkStore.in_memory(embedding=DeterministicFakeEmbedding(size=16))
        >>> store.add_documents(["The ledger was signed by Zebulon Quartermaine.", "Apples and pears."])
        ['text-a54ae06c3e91', 'text-fc1791902420']
        >>> store.search("Who signed for Zebulon?", k=1)[0].text
        'The ledger was signed by Zebulon Quartermaine.'
        >>> store.close()
    """

    def __init__(
        self,
        client: Any,
        collection: str = "corpus",
        *,
        embedding: EmbeddingSpec = None,
        embedding_name: str | None = None,
        batch_size: int = 256,
        location: str = "",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        _check_collection_name(collection)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self._client = client
        self._embeddings = resolve_embeddings(embedding)
        self.embedding_name = embedding_name or _embedding_name_of(self._embeddings)
        self.collection_name = collection
        self.location = location
        self._on_close = on_close
        self._closed = False
        # What the last add_documents call did: documents, chunks, embedded (new), replaced (stale).
        self.last_ingest: dict[str, int] = {}
        try:
            max_batch = int(client.get_max_batch_size())
        except Exception:
            max_batch = 5000
        self.batch_size = max(1, min(batch_size, max_batch))
        self._collection = self._open_collection()

    # ---------------------------------------------------------------- constructors

    @classmethod
    def persistent(
        cls,
        path: str | os.PathLike[str] = "./chunks",
        collection: str = "corpus",
        *,
        embedding: EmbeddingSpec = None,
        embedding_name: str | None = None,
        batch_size: int = 256,
    ) -> ChunkStore:
        """A store in an embedded Chroma (``PersistentClient``) keeping its data in a folder.

        Args:
            path: The folder (created if missing).
            collection: The collection holding this corpus.
            embedding: The embedding: ``None`` or ``"minilm"`` (the offline MiniLM, pulled once with
                ``cloudlocal pull embeddings``), ``"ollama:MODEL"``, or any LangChain ``Embeddings``.
            embedding_name: The name recorded in the collection; by default derived from the embedding.
            batch_size: Chunks embedded and written at a time (capped by the client's maximum).

        Returns:
            The store.

        Raises:
            StoreError: ``path`` is a file.
            EmbeddingMismatchError: The collection holds vectors of another embedding.
            EmbeddingModelError: The default MiniLM is not pulled (checked before the folder is made).

        Example:
            >>> store = ChunkStore.persistent("./chunks")  # doctest: +SKIP
        """
        import chromadb

        folder = Path(path).expanduser()
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"{folder} is a file; a persistent ChunkStore needs a folder")
        _check_collection_name(collection)
        embeddings = resolve_embeddings(embedding)  # fail on a missing model before creating folders
        folder.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(folder), settings=_chroma_settings())
        return cls(
            client,
            collection,
            embedding=embeddings,
            embedding_name=embedding_name,
            batch_size=batch_size,
            location=str(folder),
        )

    @classmethod
    def in_memory(
        cls,
        collection: str = "corpus",
        *,
        embedding: EmbeddingSpec = None,
        embedding_name: str | None = None,
        batch_size: int = 256,
    ) -> ChunkStore:
        """An embedded, in-memory Chroma for one-off runs; its data goes when the store is closed.

        Chroma keeps one in-memory system per process, so each store gets its own database in it:
        two in-memory stores never see each other's chunks.

        Args:
            collection: The collection holding this corpus.
            embedding: The embedding: ``None`` or ``"minilm"`` (the offline MiniLM, pulled once with
                ``cloudlocal pull embeddings``), ``"ollama:MODEL"``, or any LangChain ``Embeddings``.
            embedding_name: The name recorded in the collection; by default derived from the embedding.
            batch_size: Chunks embedded and written at a time (capped by the client's maximum).

        Returns:
            The store.

        Example:
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> with ChunkStore.in_memory(embedding=DeterministicFakeEmbedding(size=8)) as store:
            ...     store.count()
            0
        """
        import chromadb

        _check_collection_name(collection)
        embeddings = resolve_embeddings(embedding)
        settings = _chroma_settings()
        database = f"cloudlocal_{uuid.uuid4().hex}"
        admin = chromadb.AdminClient(settings)
        admin.create_database(database)
        client = chromadb.EphemeralClient(settings=settings, database=database)

        def drop() -> None:
            try:
                admin.delete_database(database)
            except Exception:  # the process may be shutting down
                pass

        store = cls(
            client,
            collection,
            embedding=embeddings,
            embedding_name=embedding_name,
            batch_size=batch_size,
            location=f"memory:{database}",
            on_close=drop,
        )
        weakref.finalize(store, drop)
        return store

    @classmethod
    def server(
        cls,
        url: str = "http://127.0.0.1:8000",
        collection: str = "corpus",
        *,
        embedding: EmbeddingSpec = None,
        embedding_name: str | None = None,
        headers: dict[str, str] | None = None,
        batch_size: int = 256,
    ) -> ChunkStore:
        """A store on a Chroma server (``chroma run --path DIR --host 127.0.0.1 --port 8000``) over HTTP.

        Args:
            url: The server, ``http(s)://HOST:PORT``.
            collection: The collection holding this corpus.
            embedding: The embedding: ``None`` or ``"minilm"`` (the offline MiniLM, pulled once with
                ``cloudlocal pull embeddings``), ``"ollama:MODEL"``, or any LangChain ``Embeddings``.
            embedding_name: The name recorded in the collection; by default derived from the embedding.
            headers: HTTP headers for every request (e.g. an auth token).
            batch_size: Chunks embedded and written at a time (capped by the client's maximum).

        Returns:
            The store.

        Raises:
            ValueError: ``url`` is not ``http(s)://HOST:PORT``.
            StoreError: No Chroma server answers there.

        Example:
            >>> store = ChunkStore.server("http://127.0.0.1:8000", collection="team")  # doctest: +SKIP
        """
        import chromadb

        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"Chroma server URL must look like http://HOST:PORT, got {url!r}")
        _check_collection_name(collection)
        embeddings = resolve_embeddings(embedding)
        ssl = parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=ssl, headers=headers, settings=_chroma_settings()
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach a Chroma server at {url} ({type(exc).__name__}: {exc}). Start one with "
                f"`chroma run --path ./chunks --host 127.0.0.1 --port {port}`"
            ) from exc
        return cls(
            client,
            collection,
            embedding=embeddings,
            embedding_name=embedding_name,
            batch_size=batch_size,
            location=url,
        )

    # ---------------------------------------------------------------- collection

    def _open_collection(self) -> Any:
        adapter = _chroma_adapter_class()(self._embeddings, self.embedding_name)
        try:
            collection = self._client.get_or_create_collection(
                self.collection_name,
                embedding_function=adapter,
                metadata={_EMBEDDING_KEY: self.embedding_name},
                configuration={"hnsw": {"space": "cosine"}},
            )
        except ValueError as exc:
            # Chroma refuses a collection created with another (non-default) embedding function.
            raise EmbeddingMismatchError(
                f"collection {self.collection_name!r} at {self.location} was not created by ChunkStore with "
                f"this embedding ({exc}); use another collection name"
            ) from exc
        recorded = (collection.metadata or {}).get(_EMBEDDING_KEY)
        if recorded is None:
            if collection.count() > 0:
                raise EmbeddingMismatchError(
                    f"collection {self.collection_name!r} at {self.location} already holds "
                    f"{collection.count()} items that ChunkStore did not write; use another collection name"
                )
            collection.modify(metadata={**(collection.metadata or {}), _EMBEDDING_KEY: self.embedding_name})
        elif recorded != self.embedding_name:
            raise EmbeddingMismatchError(
                f"collection {self.collection_name!r} at {self.location} holds vectors from {recorded!r}, "
                f"but this store embeds with {self.embedding_name!r}. Mixing them would make search "
                f"meaningless: open it with that embedding, or use another collection name"
            )
        return collection

    def _check_dimension(self, dimension: int) -> None:
        metadata = self._collection.metadata or {}
        recorded = metadata.get(_DIMENSION_KEY)
        if recorded is None:
            self._collection.modify(metadata={**metadata, _DIMENSION_KEY: dimension})
        elif int(recorded) != dimension:
            raise EmbeddingMismatchError(
                f"{self.embedding_name!r} now returns {dimension}-dimensional vectors, but collection "
                f"{self.collection_name!r} holds {recorded}-dimensional ones"
            )

    # ---------------------------------------------------------------- writing

    def add_documents(
        self,
        documents: DocumentSource | Iterable[DocumentSource],
        *,
        chunking: str = "chars",
        chunk_size: int | None = None,
        overlap: int | None = None,
        tokenizer: Any = None,
        max_chars: int | None = None,
        **load_options: Any,
    ) -> list[str]:
        """Chunk, embed and store documents.

        All are loaded and checked before anything is written. Idempotent: chunks already stored
        (same id, i.e. same document, position and text) are skipped, so re-ingesting costs only the
        chunking. When a document is ingested with a different chunking, its old chunks are replaced.
        Large files stream: chunks are embedded and written ``batch_size`` at a time.
        :attr:`last_ingest` then says how many chunks were made, embedded and replaced.

        Args:
            documents: One or many paths, strings of text, bytes, :class:`Document` objects,
                LangChain ``Document`` objects or LangChain loaders (one document per source).
            chunking: The chunking strategy (see :mod:`langgraph_cloudlocal.documents`).
            chunk_size: The chunk size; default per strategy.
            overlap: The overlap; default per strategy.
            tokenizer: For ``chunking="tokens"``: a tokenizer or span function.
            max_chars: Refuse any document longer than this, before embedding starts.
            **load_options: For :func:`~langgraph_cloudlocal.documents.load_document`: ``encoding``,
                ``password``, ``kind``, ``metadata``, ``name``.

        Returns:
            The documents' ids, in order.

        Raises:
            DocumentError: A document cannot be loaded (nothing is written).
            ValueError: A bad chunking strategy, size or overlap.
            StoreError: A document is over ``max_chars``, or Chroma refuses the chunks.
        """
        self._check_open()
        resolve_chunking(chunking, chunk_size, overlap)  # a bad strategy fails before any loading
        docs = list(_iter_loaded(documents, load_options, expand_folders=False))
        if max_chars is not None:
            for doc in docs:
                if doc.char_count > max_chars:
                    raise StoreError(
                        f"{doc.source or doc.id} has {doc.char_count:,} characters, over max_chars={max_chars:,}"
                    )
        self.last_ingest = {"documents": len(docs), "chunks": 0, "embedded": 0, "replaced": 0}
        for doc in docs:
            self._add_one(doc, chunking, chunk_size, overlap, tokenizer)
        return [doc.id for doc in docs]

    def _add_one(
        self, doc: Document, chunking: str, size: int | None, overlap: int | None, tokenizer: Any
    ) -> None:
        started = time.perf_counter()
        existing = set(self._collection.get(where={"document_id": doc.id}, include=[])["ids"])
        produced: set[str] = set()
        pending: list[Chunk] = []
        written = 0
        for chunk in iter_chunks(doc, chunking, size, overlap, tokenizer=tokenizer):
            if chunk.id in produced:  # cannot happen with position in the id; guards Chroma's duplicate error
                continue
            produced.add(chunk.id)
            if chunk.id in existing:
                continue
            pending.append(chunk)
            if len(pending) >= self.batch_size:
                self._write(pending)
                written += len(pending)
                pending = []
        if pending:
            self._write(pending)
            written += len(pending)
        if not produced:
            raise StoreError(f"{doc.source or doc.id}: chunking produced no chunks (is it only whitespace?)")
        stale = existing - produced
        if stale:
            self._collection.delete(ids=sorted(stale))
        for key, count in (("chunks", len(produced)), ("embedded", written), ("replaced", len(stale))):
            self.last_ingest[key] = self.last_ingest.get(key, 0) + count
        logger.info(
            "ingested %s: %d chunks (%d new, %d kept, %d replaced) in %.2f s",
            doc.id,
            len(produced),
            written,
            len(produced) - written,
            len(stale),
            time.perf_counter() - started,
        )

    def _write(self, chunks: list[Chunk]) -> None:
        texts = [c.text for c in chunks]
        vectors = _embed_array(self._embeddings, texts)
        self._check_dimension(int(vectors.shape[1]))
        metadatas = [{**c.metadata, "document_id": c.document_id, "position": c.position} for c in chunks]
        try:
            self._collection.add(
                ids=[c.id for c in chunks], embeddings=vectors, documents=texts, metadatas=metadatas
            )
        except Exception as exc:
            raise StoreError(
                f"Chroma refused {len(chunks)} chunks of {chunks[0].document_id} "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def delete_document(self, document_id: str) -> int:
        """Remove a document's chunks.

        Args:
            document_id: The document's id.

        Returns:
            How many chunks were removed (0 for an unknown id).
        """
        self._check_open()
        ids = self._collection.get(where={"document_id": document_id}, include=[])["ids"]
        if ids:
            self._collection.delete(ids=ids)
        return len(ids)

    # ---------------------------------------------------------------- reading

    def count(self, document_ids: Sequence[str] | None = None) -> int:
        """Number of chunks.

        Args:
            document_ids: Count only the chunks of these documents (all when ``None``).

        Returns:
            The number of chunks.
        """
        self._check_open()
        if document_ids is None:
            return int(self._collection.count())
        if not document_ids:
            return 0
        return len(self._collection.get(where=_document_filter(document_ids), include=[])["ids"])

    def document_ids(self) -> list[str]:
        """Ids of the documents in the store.

        Returns:
            The ids, sorted.
        """
        self._check_open()
        ids: set[str] = set()
        for _, _, metadata in self._iterate(None, with_text=False):
            ids.add(str(metadata["document_id"]))
        return sorted(ids)

    def get_chunks(self, document_ids: Sequence[str] | None = None) -> list[Chunk]:
        """All chunks, or all chunks of some documents.

        Args:
            document_ids: Only these documents' chunks (all when ``None``).

        Returns:
            The chunks grouped by document in the order given (else by id), in position order within
            each.
        """
        self._check_open()
        if document_ids is not None and not document_ids:
            return []
        chunks = [
            _to_chunk(chunk_id, text or "", metadata)
            for chunk_id, text, metadata in self._iterate(_document_filter(document_ids))
        ]
        order = {doc_id: i for i, doc_id in enumerate(dict.fromkeys(document_ids or []))}
        chunks.sort(key=lambda c: (order.get(c.document_id, len(order)), c.document_id, c.position))
        return chunks

    def _iterate(
        self, where: dict[str, Any] | None, with_text: bool = True
    ) -> Iterable[tuple[str, str | None, dict[str, Any]]]:
        """``(id, text, metadata)`` of every matching chunk, fetched a page at a time."""
        page = 1000
        offset = 0
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        while True:
            result = self._collection.get(where=where, include=include, limit=page, offset=offset)
            ids = result["ids"]
            texts = result["documents"] if with_text else [None] * len(ids)
            yield from zip(ids, texts, result["metadatas"], strict=True)
            if len(ids) < page:
                return
            offset += page

    def search(
        self,
        query: str,
        k: int = 4,
        document_ids: Sequence[str] | None = None,
        lexical: bool = True,
    ) -> list[Chunk]:
        """The ``k`` chunks most relevant to ``query``, best first, optionally only from ``document_ids``.

        Dense retrieval always runs; with ``lexical=True`` exact terms of the query (numbers, codes,
        names, quoted phrases) are also looked up verbatim and the two rankings are fused (see the
        module docs).

        Args:
            query: The question or search text.
            k: How many chunks to return.
            document_ids: Search only these documents (all when ``None``).
            lexical: Also match the query's exact terms verbatim and fuse the rankings.

        Returns:
            Up to ``k`` chunks, best first. ``chunk.score`` is the fused score (higher is better);
            ``chunk.metadata`` gains ``retrieval`` (``"dense"``, ``"lexical"`` or ``"dense+lexical"``)
            and ``distance`` (cosine distance, for dense hits).

        Raises:
            ValueError: An empty query, or ``k`` below 1.
            StoreError: The store is closed.
        """
        self._check_open()
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search needs a non-empty query string")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if document_ids is not None and not document_ids:
            return []
        where = _document_filter(document_ids)
        total = self.count(document_ids)
        if total == 0:
            return []
        candidates = min(total, max(2 * k, k + 4))

        found: dict[str, Chunk] = {}
        fused: dict[str, float] = {}
        sources: dict[str, set[str]] = {}

        vector = _embed_query(self._embeddings, query)
        dense = self._collection.query(
            query_embeddings=vector,
            n_results=candidates,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        for rank, (chunk_id, text, metadata, distance) in enumerate(
            zip(
                dense["ids"][0],
                dense["documents"][0],
                dense["metadatas"][0],
                dense["distances"][0],
                strict=True,
            )
        ):
            chunk = _to_chunk(chunk_id, text, metadata)
            chunk.metadata["distance"] = float(distance)
            found[chunk_id] = chunk
            fused[chunk_id] = 1.0 / (_RRF_K + rank + 1)
            sources.setdefault(chunk_id, set()).add("dense")

        if lexical:
            for rank, chunk in enumerate(self._lexical(query, where, total)[:candidates]):
                kept = found.setdefault(chunk.id, chunk)
                fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (_RRF_K + rank + 1)
                sources.setdefault(kept.id, set()).add("lexical")

        # Ties (one list's rank r against the other's rank r) go to the exact match.
        ranked = sorted(fused, key=lambda cid: (-fused[cid], "lexical" not in sources[cid]))
        results = []
        for chunk_id in ranked[:k]:
            chunk = found[chunk_id]
            chunk.score = fused[chunk_id]
            chunk.metadata["retrieval"] = "+".join(s for s in ("dense", "lexical") if s in sources[chunk_id])
            results.append(chunk)
        return results

    def chunks_containing(
        self, phrase: str, document_ids: Sequence[str] | None = None, limit: int | None = None
    ) -> list[Chunk]:
        """Every chunk whose text contains a phrase verbatim (case-sensitive, Chroma's ``$contains``).

        Args:
            phrase: The text to find.
            document_ids: Only in these documents (all when ``None``).
            limit: At most this many chunks.

        Returns:
            The chunks, in document and position order.

        Raises:
            ValueError: An empty phrase.
        """
        self._check_open()
        if not isinstance(phrase, str) or not phrase.strip():
            raise ValueError("chunks_containing needs a non-empty phrase")
        if document_ids is not None and not document_ids:
            return []
        result = self._collection.get(
            where=_document_filter(document_ids),
            where_document={"$contains": phrase.strip()},
            include=["documents", "metadatas"],
            limit=limit,
        )
        chunks = [
            _to_chunk(chunk_id, text, metadata)
            for chunk_id, text, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            )
        ]
        return sorted(chunks, key=lambda c: (c.document_id, c.position))

    def _lexical(self, query: str, where: dict[str, Any] | None, total: int) -> list[Chunk]:
        """Chunks holding the query's exact terms verbatim, ranked by BM25 weights."""
        terms = exact_terms(query)
        if not terms:
            return []
        hits: dict[str, Chunk] = {}
        frequency: dict[str, int] = {}
        for term in terms:
            result = self._collection.get(
                where=where,
                where_document={"$contains": term},
                include=["documents", "metadatas"],
                limit=LEXICAL_TERM_LIMIT + 1,
            )
            if not result["ids"] or len(result["ids"]) > LEXICAL_TERM_LIMIT:
                continue  # absent, or too common to tell chunks apart
            frequency[term] = len(result["ids"])
            for chunk_id, text, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            ):
                hits.setdefault(chunk_id, _to_chunk(chunk_id, text, metadata))
        scores = {
            chunk_id: sum(_bm25_weight(t, chunk.text, df, total) for t, df in frequency.items())
            for chunk_id, chunk in hits.items()
        }
        return sorted(hits.values(), key=lambda c: (-scores[c.id], c.document_id, c.position))

    def as_retriever(
        self,
        *,
        k: int = 4,
        document_ids: Sequence[str] | None = None,
        lexical: bool = True,
        search_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ChunkStoreRetriever:
        """This store as a LangChain retriever, for chains and agents that take a ``BaseRetriever``.

        The retriever runs :meth:`search` and returns each chunk as a LangChain ``Document`` (see
        :meth:`~langgraph_cloudlocal.documents.Chunk.to_langchain`), best first.

        Args:
            k: How many chunks each query returns.
            document_ids: Search only these documents (all when ``None``).
            lexical: Also match the query's exact terms verbatim (see :meth:`search`).
            search_kwargs: The same three settings as a dict, as ``VectorStore.as_retriever`` takes
                them (``{"k": 8}``); they override the keyword arguments.
            **kwargs: Other ``BaseRetriever`` fields: ``tags``, ``metadata``, ``name``.

        Returns:
            A :class:`ChunkStoreRetriever` over this store.

        Raises:
            ValueError: ``k`` is not a positive integer, or ``search_kwargs`` has an unknown key.

        Example:
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> store = ChunkStore.in_memory(embedding=DeterministicFakeEmbedding(size=16))
            >>> store.add_documents(["The ledger was signed by Zebulon Quartermaine.", "Apples and pears."])
            ['text-a54ae06c3e91', 'text-fc1791902420']
            >>> retriever = store.as_retriever(k=1)
            >>> [(d.page_content, d.metadata["document_id"]) for d in retriever.invoke("Who is Zebulon?")]
            [('The ledger was signed by Zebulon Quartermaine.', 'text-a54ae06c3e91')]
            >>> store.close()
        """
        settings: dict[str, Any] = {"k": k, "document_ids": document_ids, "lexical": lexical}
        unknown = set(search_kwargs or {}) - set(settings)
        if unknown:
            raise ValueError(
                f"unknown search_kwargs {sorted(unknown)}; ChunkStore searches take k, document_ids, lexical"
            )
        settings.update(search_kwargs or {})
        if not isinstance(settings["k"], int) or isinstance(settings["k"], bool) or settings["k"] < 1:
            raise ValueError(f"k must be a positive integer, got {settings['k']!r}")
        if settings["document_ids"] is not None:
            settings["document_ids"] = list(settings["document_ids"])
        return ChunkStoreRetriever(store=self, **settings, **kwargs)

    # ---------------------------------------------------------------- lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this ChunkStore is closed")

    def close(self) -> None:
        """Release the store; an in-memory store's data is dropped."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> ChunkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ChunkStore(location={self.location!r}, collection={self.collection_name!r}, "
            f"embedding={self.embedding_name!r})"
        )


class ChunkStoreRetriever(BaseRetriever):
    """A LangChain retriever over a :class:`ChunkStore`; build it with :meth:`ChunkStore.as_retriever`.

    ``ChunkStore`` is not itself a LangChain ``VectorStore``: its ``search`` (hybrid dense + lexical,
    returning :class:`~langgraph_cloudlocal.documents.Chunk` objects) and ``add_documents`` (which
    chunks whole documents and returns document ids) would clash with ``VectorStore``'s methods of
    the same names. A retriever is the LangChain interface that fits what the store does.

    Example:
        >>> retriever = store.as_retriever(k=3, document_ids=["report-1a2b3c4d5e6f"])  # doctest: +SKIP
        >>> docs = retriever.invoke("total revenue in 2023")  # doctest: +SKIP
        >>> docs[0].metadata["document_id"], docs[0].metadata["score"]  # doctest: +SKIP
        ('report-1a2b3c4d5e6f', 0.032)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ChunkStore
    """The store searched."""
    k: int = Field(default=4, ge=1)
    """How many chunks each query returns."""
    document_ids: list[str] | None = None
    """Search only these documents (all when ``None``)."""
    lexical: bool = True
    """Also match the query's exact terms verbatim."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LangChainDocument]:
        chunks = self.store.search(query, k=self.k, document_ids=self.document_ids, lexical=self.lexical)
        return [chunk.to_langchain() for chunk in chunks]


CHUNK_STORE_ENV = "CLOUDLOCAL_CHUNK_STORE"


def default_store_location() -> str:
    """Where the CLI, ``cloudlocal eval`` and the ``langgraph dev`` graphs keep chunks when told nothing.

    Returns:
        ``$CLOUDLOCAL_CHUNK_STORE``, else the folder ``chunks`` in ``$CLOUDLOCAL_CACHE_DIR`` or
        ``~/.cache/langgraph-cloudlocal`` (so a second question on the same document does not embed
        it again).

    Example:
        >>> default_store_location()  # doctest: +SKIP
        '/home/me/.cache/langgraph-cloudlocal/chunks'
    """
    given = os.environ.get(CHUNK_STORE_ENV, "").strip()
    if given:
        return given
    root = os.environ.get("CLOUDLOCAL_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "langgraph-cloudlocal"
    return str(base / "chunks")


def open_chunk_store(location: str | None = None, collection: str = "corpus") -> ChunkStore | None:
    """The chunk store a location names, one rule everywhere (CLI ``--store``, ``cloudlocal eval``,
    ``CLOUDLOCAL_CHUNK_STORE`` for ``langgraph dev``):

    * ``None`` or ``""``: :func:`default_store_location`;
    * ``"none"``: no store (documents are chunked per run; MinionS runs tasks on every chunk);
    * ``"memory"``: an in-memory store, gone with the process;
    * ``http://HOST:PORT`` (or https): a Chroma server (``chroma run``);
    * anything else: a folder for an embedded, persistent Chroma.

    Args:
        location: As above.
        collection: The collection holding the corpus.

    Returns:
        The store, or ``None`` for ``"none"``.

    Example:
        >>> open_chunk_store("none") is None
        True
        >>> store = open_chunk_store("http://127.0.0.1:8000", collection="team")  # doctest: +SKIP
    """
    location = (location or "").strip() or default_store_location()
    if location.lower() == "none":
        return None
    if location.lower() == "memory":
        return ChunkStore.in_memory(collection)
    if location.startswith(("http://", "https://")):
        return ChunkStore.server(location, collection)
    return ChunkStore.persistent(location, collection)


def _check_collection_name(name: str) -> None:
    if not isinstance(name, str) or not _COLLECTION_NAME.match(name) or ".." in name:
        raise ValueError(
            f"collection name {name!r} is not valid in Chroma: use 3-512 characters from letters, digits, "
            "'.', '_' and '-', starting and ending with a letter or digit"
        )


def _to_chunk(chunk_id: str, text: str, metadata: dict[str, Any]) -> Chunk:
    metadata = dict(metadata or {})
    document_id = str(metadata.pop("document_id", ""))
    position = int(metadata.pop("position", 0))
    return Chunk(id=chunk_id, document_id=document_id, text=text, position=position, metadata=metadata)
