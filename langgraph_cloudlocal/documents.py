"""Documents (plain text, Markdown, PDF; Word, HTML, CSV and more through LangChain loaders) and how
they are cut into chunks.

Loading
    :func:`load_document` takes a path, a string of text, raw bytes, a :class:`Document`, a LangChain
    ``langchain_core.documents.Document`` or any LangChain ``BaseLoader``. Text files
    are decoded as UTF-8 (another ``encoding=`` can be given) with line endings normalised to ``\\n``.
    PDFs are read with `pypdf <https://pypi.org/project/pypdf/>`_: pure Python (no system library, so
    it installs everywhere chromadb does), actively maintained, and it handles encrypted files; its
    text extraction keeps page boundaries, which become ``page`` numbers in chunk metadata.

    Text files larger than :data:`STREAM_THRESHOLD_BYTES` are not held in memory: loading makes one
    streaming pass (to hash, count and validate) and chunking streams again, one piece of about
    :data:`PIECE_CHARS` characters at a time, cut at a paragraph break. PDFs are held in memory as
    extracted text (usually far smaller than the file).

    ``.docx``, ``.html``/``.htm`` and ``.csv`` files are read by ``langchain-community``'s loaders
    (``Docx2txtLoader``, ``BSHTMLLoader`` with Python's own HTML parser, ``CSVLoader``: one
    ``column: value`` block per row), installed with the optional extra ``loaders``
    (``pip install 'langgraph-cloudlocal[loaders]'``); without it those files raise
    :class:`MissingLoaderError`, which names the extra. Text, Markdown and PDF never need it. Any other
    format LangChain can load works by passing its loader: ``load_document(SomeLoader(path))``. The
    documents a loader yields are grouped by their ``source`` metadata, one :class:`Document` per
    source, joined by blank lines (pages, when each carries a ``page``, become page numbers).

Ids
    A document's id is the one given, or ``<name>-<first 12 hex of the SHA-256 of its text>``, so the
    same text always gets the same id. A chunk's id is ``<document id>:<position>:<12 hex of the
    chunk's SHA-256>``: ingesting the same document again yields the same ids (nothing duplicated),
    and a changed chunking yields different ids (the store replaces the old ones).

Chunking strategies (``chunk_document(doc, strategy, size, overlap)``; defaults in :data:`CHUNKING_DEFAULTS`)
    ``chars``      about ``size`` characters, cut at a paragraph, sentence, line or word boundary in the
                   last half of the window, consecutive chunks sharing ``overlap`` characters.
    ``tokens``     exactly ``size`` tokens, ``overlap`` tokens shared. Tokens come from ``tokenizer=`` (a
                   ``tokenizers.Tokenizer`` or a function returning ``(start, end)`` spans); the default
                   counts words and punctuation marks (a regex), which needs no model.
    ``paragraph``  whole paragraphs (split at blank lines) grouped up to ``size`` characters; a longer
                   paragraph is cut like ``chars``.
    ``page``       one chunk per page (PDF pages, or form feeds in text); a page longer than ``size`` is
                   split by paragraph. A document without pages is one page.
    ``markdown``   one chunk per ATX section (``#`` ... ``######`` outside code fences), with the heading
                   trail in ``metadata["section"]``; a heading with no text of its own joins the next
                   section, and a section longer than ``size`` is split by paragraph.
"""

from __future__ import annotations

import bisect
import codecs
import hashlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

from langgraph_cloudlocal.errors import CloudLocalError

if TYPE_CHECKING:
    from langchain_core.document_loaders import BaseLoader
    from langchain_core.documents import Document as LangChainDocument

__all__ = [
    "chunking_for",
    "CHUNKING_DEFAULTS",
    "LOADERS_EXTRA",
    "PIECE_CHARS",
    "STREAM_THRESHOLD_BYTES",
    "Chunk",
    "Document",
    "DocumentError",
    "DocumentSource",
    "EmptyDocumentError",
    "EncryptedPDFError",
    "MissingLoaderError",
    "PDFError",
    "UnsupportedDocumentError",
    "chunk_document",
    "document_texts",
    "iter_chunks",
    "load_document",
    "load_documents",
    "resolve_chunking",
]


class DocumentError(CloudLocalError, ValueError):
    """A document cannot be used; the message says which and why."""


class EmptyDocumentError(DocumentError):
    """The document has no text (or only whitespace)."""


class UnsupportedDocumentError(DocumentError):
    """Not a file type this package reads, or binary data given as text."""


class PDFError(DocumentError):
    """The PDF cannot be read."""


class EncryptedPDFError(PDFError):
    """The PDF is encrypted and no (correct) password was given."""


class MissingLoaderError(UnsupportedDocumentError, ImportError):
    """The file type needs the optional ``loaders`` extra (``langchain-community`` and its parsers)."""


LOADERS_EXTRA = "loaders"
"""The optional extra that reads ``.docx``, ``.html`` and ``.csv``: ``pip install 'langgraph-cloudlocal[loaders]'``."""

TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst", ".log", ".tsv", ""})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
PDF_SUFFIXES = frozenset({".pdf"})
# Read through langchain-community's loaders (the `loaders` extra).
LOADER_SUFFIXES: dict[str, str] = {".docx": "docx", ".html": "html", ".htm": "html", ".csv": "csv"}
KINDS = ("text", "markdown", "pdf", "docx", "html", "csv")

DocumentSource: TypeAlias = "str | os.PathLike[str] | bytes | Document | LangChainDocument | BaseLoader"
"""Anything :func:`load_document` reads: a path, text, bytes, a :class:`Document`, a LangChain
``Document`` or a LangChain ``BaseLoader``."""

STREAM_THRESHOLD_BYTES = 8 * 1024 * 1024
"""Text files above this size are streamed instead of read into memory."""

PIECE_CHARS = 1_000_000
"""Chunking works on pieces of about this many characters, cut at paragraph breaks."""

_BINARY_SNIFF_CHARS = 65_536
_RESERVED_METADATA = frozenset(
    {"document_id", "position", "source", "start", "end", "page", "page_end", "section", "strategy"}
)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _looks_binary(sample: str) -> bool:
    """NUL characters, or many control characters, mean this is not text."""
    if not sample:
        return False
    if "\x00" in sample:
        return True
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > max(8, len(sample) // 100)


def _slug(name: str) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")
    return stem[:40].rstrip("-._") or "text"


def _check_metadata(metadata: dict[str, Any] | None, what: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key:
            raise DocumentError(f"{what}: metadata keys must be non-empty strings, got {key!r}")
        if key in _RESERVED_METADATA:
            raise DocumentError(f"{what}: metadata key {key!r} is reserved for chunk bookkeeping")
        if not isinstance(value, str | int | float | bool):
            raise DocumentError(
                f"{what}: metadata value for {key!r} is a {type(value).__name__}; "
                "only str, int, float and bool can be stored (and filtered) in Chroma"
            )
        clean[key] = value
    return clean


class Document:
    """A text to be chunked: ``id``, ``text``, ``source``, ``metadata``, and page boundaries.

    ``page_starts`` holds the character offset where each page begins (page 1 at offset 0); it is
    set for PDFs and for text containing form feeds, otherwise ``None``. ``text`` of a streamed
    (large) file is read on access; chunking never needs it. Files are read with
    :func:`load_document`; the constructor takes text.

    Args:
        text: The text (line endings are normalised to ``\\n``).
        id: The id; by default ``<name of source>-<12 hex of the text's SHA-256>``.
        source: Where the text came from (a path, a URL, a name).
        metadata: Extra metadata (str, int, float or bool values) copied into every chunk.
        kind: One of :data:`KINDS`.
        page_starts: Character offsets where pages begin (the first 0); found from form feeds
            when not given.

    Raises:
        EmptyDocumentError: The text is empty or only whitespace.
        UnsupportedDocumentError: The text looks like binary data.
        DocumentError: Bad id, metadata or page starts.
        TypeError: ``text`` is not a str.
        ValueError: ``kind`` is not one of :data:`KINDS`.

    Example:
        >>> doc = Document("Page one.\\fPage two is here.", id="d1", source="notes.txt")
        >>> doc.page_count, doc.page_at(12), doc.char_count
        (2, 2, 27)
        >>> [c.text for c in chunk_document(doc, "page")]
        ['Page one.', 'Page two is here.']
    """

    __slots__ = (
        "_char_count",
        "_encoding",
        "_hash",
        "_path",
        "_text",
        "id",
        "kind",
        "metadata",
        "page_starts",
        "source",
    )

    def __init__(
        self,
        text: str,
        *,
        id: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        kind: str = "text",
        page_starts: Sequence[int] | None = None,
    ) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"Document text must be str, not {type(text).__name__}; use load_document for files"
            )
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        text = _normalise_newlines(text)
        label = source or (id and f"document {id!r}") or "text"
        if not text.strip():
            raise EmptyDocumentError(f"{label}: the document has no text")
        if "\x00" in text or _looks_binary(text[:_BINARY_SNIFF_CHARS]):
            raise UnsupportedDocumentError(
                f"{label}: looks like binary data (NUL or control characters), not text"
            )
        self._text: str | None = text
        self._path: Path | None = None
        self._encoding = "utf-8"
        self._hash = _sha256_text(text)
        self._char_count = len(text)
        self.kind = kind
        self.source = source
        self.metadata = _check_metadata(metadata, label)
        if page_starts is None and "\f" in text:
            page_starts = [0, *(m.end() for m in re.finditer("\f", text))]
        self.page_starts = _check_page_starts(page_starts, len(text), label)
        self.id = _document_id(id, source, self._hash)

    @classmethod
    def _streamed(
        cls,
        path: Path,
        *,
        id: str | None,
        metadata: dict[str, Any] | None,
        kind: str,
        encoding: str,
    ) -> Document:
        """A text file too large to hold: one pass now validates, hashes and finds form feeds."""
        doc = cls.__new__(cls)
        digest = hashlib.sha256()
        count = 0
        page_starts = [0]
        has_text = False
        first = True
        for block in _read_text_blocks(path, encoding):
            if first and _looks_binary(block[:_BINARY_SNIFF_CHARS]):
                raise UnsupportedDocumentError(
                    f"{path}: looks like binary data (NUL or control characters), not text"
                )
            if "\x00" in block:
                raise UnsupportedDocumentError(
                    f"{path}: contains NUL characters at about offset {count}; not text"
                )
            first = False
            has_text = has_text or not block.isspace()
            digest.update(block.encode("utf-8", "surrogatepass"))
            page_starts.extend(count + m.end() for m in re.finditer("\f", block))
            count += len(block)
        if count == 0 or not has_text:
            raise EmptyDocumentError(f"{path}: the file has no text")
        doc._text = None
        doc._path = path
        doc._encoding = encoding
        doc._hash = digest.hexdigest()
        doc._char_count = count
        doc.kind = kind
        doc.source = str(path)
        doc.metadata = _check_metadata(metadata, str(path))
        doc.page_starts = tuple(page_starts) if len(page_starts) > 1 else None
        doc.id = _document_id(id, doc.source, doc._hash)
        return doc

    @property
    def text(self) -> str:
        """The whole text (read from disk for a streamed file)."""
        if self._text is not None:
            return self._text
        assert self._path is not None
        return "".join(_read_text_blocks(self._path, self._encoding))

    @property
    def content_hash(self) -> str:
        """SHA-256 of the text (UTF-8)."""
        return self._hash

    @property
    def char_count(self) -> int:
        """Number of characters of the text."""
        return self._char_count

    @property
    def streamed(self) -> bool:
        """True when the text stays on disk and is read piece by piece."""
        return self._text is None

    @property
    def page_count(self) -> int | None:
        """Number of pages, or ``None`` for a document without pages."""
        return len(self.page_starts) if self.page_starts is not None else None

    def page_at(self, offset: int) -> int | None:
        """The page holding a character.

        Args:
            offset: A character offset in the text.

        Returns:
            The 1-based page number, or ``None`` for a document without pages.
        """
        if self.page_starts is None:
            return None
        return bisect.bisect_right(self.page_starts, offset)

    def iter_pieces(self, max_chars: int = PIECE_CHARS) -> Iterator[tuple[int, str]]:
        """The text in pieces, read from disk one at a time for a streamed file.

        Args:
            max_chars: About how many characters a piece has at most.

        Yields:
            ``(offset, text)`` pieces, each ending at a paragraph break (else a line break, else
            whitespace) so that chunks rarely need to span two pieces.
        """
        if self._text is not None:
            blocks: Iterable[str] = (
                self._text[i : i + max_chars] for i in range(0, len(self._text), max_chars)
            )
        else:
            assert self._path is not None
            blocks = _read_text_blocks(self._path, self._encoding, max_chars)
        offset = 0
        carry = ""
        iterator = iter(blocks)
        block = next(iterator, None)
        while block is not None:
            following = next(iterator, None)
            buffer = carry + block
            if following is None:  # the last block: nothing to cut
                yield offset, buffer
                return
            cut = _piece_cut(buffer, len(buffer) - max_chars // 4)
            yield offset, buffer[:cut]
            offset += cut
            carry = buffer[cut:]
            block = following

    def to_langchain(self) -> LangChainDocument:
        """This document as a LangChain ``Document`` (the whole text in memory).

        Returns:
            A ``langchain_core.documents.Document`` with this ``id``, the text as ``page_content``, and
            the metadata plus ``source``.

        Example:
            >>> from langgraph_cloudlocal.documents import Document
            >>> Document("Some text.", id="d1").to_langchain().id
            'd1'
        """
        from langchain_core.documents import Document as LangChainDocument

        metadata = {**self.metadata, "source": self.source or self.id}
        return LangChainDocument(page_content=self.text, metadata=metadata, id=self.id)

    def __repr__(self) -> str:
        where = f", streamed from {str(self._path)!r}" if self._path is not None else ""
        pages = f", pages={self.page_count}" if self.page_starts is not None else ""
        return (
            f"Document(id={self.id!r}, source={self.source!r}, kind={self.kind!r}, "
            f"chars={self._char_count}{pages}{where})"
        )


def _document_id(given: str | None, source: str | None, content_hash: str) -> str:
    if given is not None:
        if not isinstance(given, str) or not given.strip():
            raise DocumentError(f"document id must be a non-empty string, got {given!r}")
        if len(given) > 200:
            raise DocumentError(f"document id is {len(given)} characters long; keep it under 200")
        return given
    name = Path(source).stem if source else "text"
    return f"{_slug(name)}-{content_hash[:12]}"


def _check_page_starts(page_starts: Sequence[int] | None, length: int, label: str) -> tuple[int, ...] | None:
    if page_starts is None:
        return None
    starts = tuple(int(s) for s in page_starts)
    if not starts or starts[0] != 0 or any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise DocumentError(f"{label}: page_starts must begin at 0 and never decrease, got {starts[:5]}...")
    if starts[-1] > length:
        raise DocumentError(f"{label}: a page starts at {starts[-1]}, past the end of the text ({length})")
    return starts


def _read_text_blocks(path: Path, encoding: str, block_chars: int = PIECE_CHARS) -> Iterator[str]:
    """Decode a text file incrementally, with universal newlines; a decoding error names the offset."""
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    with path.open("r", encoding=codec, errors="strict", newline=None) as handle:
        while True:
            try:
                block = handle.read(block_chars)
            except UnicodeDecodeError as exc:
                raise UnsupportedDocumentError(
                    f"{path}: not valid {encoding} text ({exc.reason} near byte {exc.start} of a block); "
                    "if it is text in another encoding pass encoding=..., otherwise it is binary"
                ) from exc
            if not block:
                return
            yield block


def _piece_cut(buffer: str, lowest: int) -> int:
    """Where to end a piece: the last paragraph break, else line break, else space, after ``lowest``."""
    lowest = max(lowest, 1)
    for separator in ("\n\n", "\n", " "):
        index = buffer.rfind(separator, lowest)
        if index != -1:
            return index + len(separator)
    return len(buffer)


# --------------------------------------------------------------------------------------------------
# Loading


def _kind_for_suffix(suffix: str) -> str | None:
    suffix = suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return LOADER_SUFFIXES.get(suffix)


def _is_langchain_document(value: object) -> TypeGuard[LangChainDocument]:
    # Looked up in sys.modules rather than imported: if langchain_core's documents module was never
    # imported, no object can be one of its Documents, and loading plain text stays import-free.
    module = sys.modules.get("langchain_core.documents.base")
    return module is not None and isinstance(value, module.Document)


def _is_loader(value: object) -> TypeGuard[BaseLoader]:
    module = sys.modules.get("langchain_core.document_loaders.base")
    return module is not None and isinstance(value, module.BaseLoader)


_PATH_LIKE = re.compile(r"^[^\n\r\t]{1,1024}\.[A-Za-z0-9]{1,8}$")


_LOADABLE_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | PDF_SUFFIXES | frozenset(LOADER_SUFFIXES)


def _as_path(source: str | os.PathLike[str]) -> Path | None:
    """A ``Path`` when ``source`` names a file, ``None`` when it is text to use as is."""
    if isinstance(source, os.PathLike):
        return Path(source)
    if "\n" in source or len(source) > 1024:
        return None
    if os.path.isfile(source) or os.path.isdir(source):
        return Path(source)
    if _PATH_LIKE.match(source) and " " not in source.strip():
        # "report.pdf" that does not exist is far more likely a wrong path than a one-word document.
        raise FileNotFoundError(
            f"{source!r} looks like a file name but no such file exists; "
            "to ingest it as text, wrap it: Document(text)"
        )
    return None


def load_document(
    source: DocumentSource,
    *,
    id: str | None = None,
    kind: str | None = None,
    metadata: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    password: str | None = None,
    name: str | None = None,
) -> Document:
    """Load one document, checked and ready to chunk.

    A string is a path when it names an existing file (or looks like a file name, which then must
    exist); otherwise it is the text. The file type comes from the suffix: text, Markdown and PDF
    always; ``.docx``, ``.html``/``.htm`` and ``.csv`` with the ``loaders`` extra (see the module docs).

    Args:
        source: A path, a string of text, bytes (PDF or text), a :class:`Document` (returned as is), a
            LangChain ``Document`` (its ``page_content``, ``id``, ``source`` and scalar metadata are
            kept) or a LangChain ``BaseLoader`` whose documents all come from one source.
        id: The document's id; by default ``<name>-<12 hex of the SHA-256 of the text>``.
        kind: ``"text"``, ``"markdown"``, ``"pdf"``, ``"docx"``, ``"html"`` or ``"csv"``; overrides
            the type guessed from the suffix (``kind="text"`` reads any text format as is).
        metadata: Extra metadata (str, int, float or bool values) copied into every chunk.
        encoding: The encoding of text files and text bytes.
        password: The password of an encrypted PDF.
        name: The source name recorded for text and bytes.

    Returns:
        The loaded :class:`Document`.

    Raises:
        DocumentError: Empty, binary, unsupported, unreadable or encrypted input (a subclass says
            which), before any chunking.
        MissingLoaderError: A ``.docx``, ``.html`` or ``.csv`` file without the ``loaders`` extra.
        FileNotFoundError: ``source`` looks like a file name but no such file exists.
        TypeError: ``source`` is none of the types above.

    Example:
        >>> from langgraph_cloudlocal import load_document
        >>> doc = load_document("The ledger was signed on 4 May.", name="note")
        >>> doc.id, doc.char_count
        ('note-4f6109043051', 31)
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if isinstance(source, Document):
        if id is not None or metadata is not None:
            raise ValueError("id and metadata cannot be changed on an existing Document; build a new one")
        return source  # its constructor already refused empty and binary text
    if _is_langchain_document(source):
        return _from_langchain([source], id=id, kind=kind, metadata=metadata, source=name)
    if _is_loader(source):
        grouped = _loaded_by_source(source)
        if len(grouped) != 1:
            raise DocumentError(
                f"{type(source).__name__} yielded documents from {len(grouped)} sources; "
                "use load_documents to get one Document per source"
            )
        ((loaded_source, docs),) = grouped.items()
        return _from_langchain(docs, id=id, kind=kind, metadata=metadata, source=name or loaded_source)
    if isinstance(source, bytes | bytearray | memoryview):
        return _load_bytes(
            bytes(source),
            id=id,
            kind=kind,
            metadata=metadata,
            encoding=encoding,
            password=password,
            name=name,
        )
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"cannot load a {type(source).__name__}; give a path, a str of text, bytes, a Document, "
            "a LangChain Document or a LangChain BaseLoader"
        )
    path = _as_path(source)
    if path is None:
        assert isinstance(source, str)
        if not source.strip():
            raise EmptyDocumentError(f"{name or 'text'}: the document has no text")
        return Document(source, id=id, source=name, metadata=metadata, kind=kind or "text")
    return _load_path(path, id=id, kind=kind, metadata=metadata, encoding=encoding, password=password)


def _loaded_by_source(loader: BaseLoader) -> dict[str | None, list[LangChainDocument]]:
    """A loader's documents grouped by their ``source`` metadata, in the order first seen."""
    grouped: dict[str | None, list[LangChainDocument]] = {}
    try:
        for doc in loader.lazy_load():
            source = doc.metadata.get("source")
            grouped.setdefault(None if source is None else str(source), []).append(doc)
    except (DocumentError, ImportError):
        raise
    except Exception as exc:  # a parser's own error: name the loader (and the file, when it says)
        raise DocumentError(
            f"{type(loader).__name__} could not load {_loader_label(loader)} ({type(exc).__name__}: {exc})"
        ) from exc
    if not grouped:
        raise EmptyDocumentError(f"{type(loader).__name__} loaded no documents from {_loader_label(loader)}")
    return grouped


def _loader_label(loader: BaseLoader) -> str:
    path = getattr(loader, "file_path", None)
    return str(path) if path is not None else "its source"


def _from_langchain(
    docs: Sequence[LangChainDocument],
    *,
    id: str | None,
    kind: str | None,
    metadata: dict[str, Any] | None,
    source: str | None,
) -> Document:
    """One :class:`Document` from LangChain documents of one source, joined by blank lines.

    Metadata values shared by all of them are kept when they are scalars and not reserved for chunk
    bookkeeping (``source`` becomes the document's source; ``page`` numbers become page boundaries
    when every part carries one); ``metadata`` given here wins.
    """
    shared: dict[str, Any] = dict(docs[0].metadata) if docs else {}
    for doc in docs[1:]:
        shared = {key: value for key, value in shared.items() if doc.metadata.get(key, object()) == value}
    if source is None and isinstance(shared.get("source"), str | Path):
        source = str(shared["source"])
    kept = {
        key: value
        for key, value in shared.items()
        if isinstance(key, str)
        and key
        and key not in _RESERVED_METADATA
        and isinstance(value, str | int | float | bool)
    }
    kept.update(metadata or {})
    texts = [_normalise_newlines(doc.page_content).strip("\n") for doc in docs]
    paged = len(docs) > 1 and all("page" in doc.metadata for doc in docs)
    starts: list[int] | None = [] if paged else None
    offset = 0
    for text in texts:
        if starts is not None:
            starts.append(offset)
        offset += len(text) + 2  # parts are joined with a blank line
    if id is None and len(docs) == 1 and docs[0].id:
        id = docs[0].id
    label = source or (id and f"document {id!r}") or "LangChain document"
    joined = "\n\n".join(texts)
    if not joined.strip():
        raise EmptyDocumentError(f"{label}: the document has no text")
    return Document(joined, id=id, source=source, metadata=kept, kind=kind or "text", page_starts=starts)


def _community_loader(kind: str, path: Path, encoding: str) -> BaseLoader:
    """langchain-community's loader for ``kind``; :class:`MissingLoaderError` without the extra."""
    try:
        with warnings.catch_warnings():
            # langchain-community announces its wind-down on import; we use only its file loaders.
            warnings.simplefilter("ignore", DeprecationWarning)
            if kind == "docx":
                import docx2txt  # noqa: F401 - the loader imports it only when loading
                from langchain_community.document_loaders.word_document import Docx2txtLoader

                return Docx2txtLoader(str(path))
            if kind == "html":
                import bs4  # noqa: F401
                from langchain_community.document_loaders.html_bs import BSHTMLLoader

                # Python's own parser: lxml (the loader's default) is not needed.
                return BSHTMLLoader(
                    path,
                    open_encoding=encoding,
                    bs_kwargs={"features": "html.parser"},
                    get_text_separator="\n",  # else "<h1>A</h1><p>B</p>" reads "AB"
                )
            from langchain_community.document_loaders.csv_loader import CSVLoader

            return CSVLoader(path, encoding=encoding)
    except ImportError as exc:
        raise MissingLoaderError(
            f"{path}: reading {path.suffix or kind} files needs the optional extra {LOADERS_EXTRA!r}: "
            f"pip install 'langgraph-cloudlocal[{LOADERS_EXTRA}]' ({exc}); "
            "or pass kind='text' to read the file as plain text"
        ) from exc


def _load_path(
    path: Path,
    *,
    id: str | None,
    kind: str | None,
    metadata: dict[str, Any] | None,
    encoding: str,
    password: str | None,
) -> Document:
    if path.is_dir():
        raise DocumentError(f"{path} is a folder; use load_documents to load the files in it")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    kind = kind or _kind_for_suffix(path.suffix)
    if kind is None:
        supported = sorted(s for s in _LOADABLE_SUFFIXES if s)
        raise UnsupportedDocumentError(
            f"{path}: unsupported file type {path.suffix!r}; supported: {', '.join(supported)} "
            "(pass kind='text' to read another text format, or a LangChain loader for the file)"
        )
    if kind in ("docx", "html", "csv"):
        loaded = _loaded_by_source(_community_loader(kind, path, encoding))
        docs = [doc for group in loaded.values() for doc in group]  # one file: one document
        return _from_langchain(docs, id=id, kind=kind, metadata=metadata, source=str(path))
    if kind == "pdf":
        try:
            with path.open("rb") as handle:
                return _load_pdf(handle, str(path), id=id, metadata=metadata, password=password)
        except OSError as exc:
            raise PDFError(f"{path}: cannot read the file: {exc}") from exc
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read the file: {exc}") from exc
    if size == 0:
        raise EmptyDocumentError(f"{path}: the file is empty")
    if size > STREAM_THRESHOLD_BYTES:
        return Document._streamed(path, id=id, metadata=metadata, kind=kind, encoding=encoding)
    try:
        with path.open("rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read the file: {exc}") from exc
    if raw.startswith(b"%PDF-"):
        raise UnsupportedDocumentError(f"{path}: this is a PDF with a {path.suffix!r} name; pass kind='pdf'")
    text = _decode(raw, encoding, str(path))
    if not text.strip():
        raise EmptyDocumentError(f"{path}: the file has no text")
    return Document(text, id=id, source=str(path), metadata=metadata, kind=kind)


def _decode(raw: bytes, encoding: str, label: str) -> str:
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise UnsupportedDocumentError(
            f"{label}: not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            "if it is text in another encoding pass encoding=..., otherwise it is binary"
        ) from exc
    if "\x00" in text or _looks_binary(text[:_BINARY_SNIFF_CHARS]):
        raise UnsupportedDocumentError(
            f"{label}: looks like binary data (NUL or control characters), not text"
        )
    return text


def _load_bytes(
    raw: bytes,
    *,
    id: str | None,
    kind: str | None,
    metadata: dict[str, Any] | None,
    encoding: str,
    password: str | None,
    name: str | None,
) -> Document:
    label = name or "bytes"
    if not raw.strip():
        raise EmptyDocumentError(f"{label}: no content")
    if kind == "pdf" or (kind is None and raw.lstrip()[:5] == b"%PDF-"):
        import io

        return _load_pdf(io.BytesIO(raw), name, id=id, metadata=metadata, password=password)
    text = _decode(raw, encoding, label)
    if not text.strip():
        raise EmptyDocumentError(f"{label}: the document has no text")
    return Document(text, id=id, source=name, metadata=metadata, kind=kind or "text")


def _load_pdf(
    stream: Any,
    source: str | None,
    *,
    id: str | None,
    metadata: dict[str, Any] | None,
    password: str | None,
) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    label = source or "PDF"
    # Malformed PDFs can make pypdf raise almost anything; every failure becomes a PDFError that
    # names the file (and page), rather than an exception from deep inside the parser.
    try:
        reader = PdfReader(stream, strict=False)
    except Exception as exc:
        raise PDFError(f"{label}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if reader.is_encrypted:
        try:
            # Many PDFs are encrypted with an empty user password (owner restrictions only).
            unlocked = reader.decrypt(password or "")
        except DependencyError as exc:
            raise EncryptedPDFError(
                f"{label}: encrypted with AES, which pypdf decrypts only with the `cryptography` package "
                f"installed ({exc})"
            ) from exc
        except Exception as exc:
            raise EncryptedPDFError(f"{label}: cannot decrypt ({type(exc).__name__}: {exc})") from exc
        if not unlocked:
            hint = "the password is wrong" if password else "pass password=..."
            raise EncryptedPDFError(f"{label}: the PDF is encrypted; {hint}")
    texts: list[str] = []
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise PDFError(f"{label}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(_normalise_newlines(page.extract_text() or "").strip("\n"))
        except Exception as exc:
            raise PDFError(f"{label}: page {number} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not texts:
        raise EmptyDocumentError(f"{label}: the PDF has no pages")
    if not any(t.strip() for t in texts):
        raise EmptyDocumentError(
            f"{label}: no extractable text in {len(texts)} page(s); a scanned PDF needs OCR first"
        )
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2  # pages are joined with a blank line
    return Document(
        "\n\n".join(texts), id=id, source=source, metadata=metadata, kind="pdf", page_starts=starts
    )


def load_documents(
    sources: DocumentSource | Iterable[DocumentSource],
    **options: Any,
) -> list[Document]:
    """Load several documents; a folder loads every readable file under it.

    Args:
        sources: One source or several, each as :func:`load_document` takes them. A folder loads its
            text, Markdown, PDF, ``.docx``, ``.html`` and ``.csv`` files, sorted by path, skipping
            hidden files and folders. A LangChain ``BaseLoader`` gives one document per ``source`` it
            yields (a ``DirectoryLoader``: one per file).
        **options: Passed to :func:`load_document` for each (``kind``, ``metadata``, ``encoding``,
            ``password``, ``name``); not ``id``.

    Returns:
        The documents, in the order of ``sources``.

    Raises:
        ValueError: ``id`` was given.
        DocumentError: As :func:`load_document`, for the first document that cannot be loaded.

    Example:
        >>> from langgraph_cloudlocal.documents import load_documents
        >>> [d.id for d in load_documents(["first text", "second text"])]
        ['text-...', 'text-...']
    """
    if "id" in options:
        raise ValueError("load_documents takes no id=; build Documents with their ids instead")
    return list(_iter_loaded(sources, options, expand_folders=True))


def _one_source(value: object) -> bool:
    return (
        isinstance(value, str | bytes | bytearray | memoryview | os.PathLike | Document)
        or _is_langchain_document(value)
        or _is_loader(value)
    )


def _iter_loaded(sources: Any, options: dict[str, Any], *, expand_folders: bool) -> Iterator[Document]:
    """Each source loaded; loaders yield one document per source, folders (if expanded) one per file."""
    if _one_source(sources):
        sources = [sources]
    for source in sources:
        if _is_loader(source):
            for origin, docs in _loaded_by_source(source).items():
                yield _from_langchain(
                    docs,
                    id=None,
                    kind=options.get("kind"),
                    metadata=options.get("metadata"),
                    source=origin,
                )
            continue
        path = _as_path(source) if expand_folders and isinstance(source, str | os.PathLike) else None
        if path is not None and path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in _LOADABLE_SUFFIXES - {""}
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            yield from (load_document(p, **options) for p in files)
        else:
            yield load_document(source, **options)


def document_texts(documents: DocumentSource | Iterable[DocumentSource] | None) -> list[str]:
    """The texts of documents as a protocol's ``documents`` input takes them.

    Strings are taken as text, never as paths (a graph's input must not read files); everything else
    is loaded as :func:`load_documents` does.

    Args:
        documents: ``None``, one document or several: strings of text, :class:`Document` objects,
            LangChain ``Document`` objects or LangChain ``BaseLoader`` objects (one text per source).

    Returns:
        One string per document; strings come back unchanged (empty ones included: the caller decides
        whether they are allowed).

    Raises:
        TypeError: An item is none of the types above.
        DocumentError: A loader's documents cannot be loaded, or have no text.

    Example:
        >>> from langchain_core.documents import Document
        >>> from langgraph_cloudlocal.documents import document_texts
        >>> document_texts(["plain text", Document(page_content="from LangChain")])
        ['plain text', 'from LangChain']
    """
    if documents is None:
        return []
    items: Iterable[object] = [documents] if _one_source(documents) else documents  # type: ignore[assignment]
    texts: list[str] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Document):
            texts.append(item.text)
        elif _is_langchain_document(item):
            texts.append(item.page_content)
        elif _is_loader(item):
            texts.extend(doc.text for doc in _iter_loaded([item], {}, expand_folders=False))
        else:
            raise TypeError(
                f"a document must be a str of text, a Document, a LangChain Document or a LangChain "
                f"BaseLoader, not {type(item).__name__}"
            )
    return texts


# --------------------------------------------------------------------------------------------------
# Chunks


@dataclass
class Chunk:
    """A piece of a document, as chunking makes it and searches return it.

    Attributes:
        id: ``<document id>:<position>:<12 hex of the chunk text's SHA-256>``.
        document_id: The id of its document.
        text: The chunk's text.
        position: Its place in the document, from 0.
        metadata: ``source``, ``start``/``end`` (character offsets in the document), ``strategy``,
            ``page``/``page_end`` when the document has pages, ``section`` for Markdown, the
            document's own metadata, and after a search ``retrieval`` and ``distance``.
        score: Set by searches (higher is better).

    Example:
        >>> chunks = chunk_document(Document("First paragraph.\\n\\nSecond one.", id="d2"), "paragraph", size=20)
        >>> [(c.id, c.position, c.metadata["start"]) for c in chunks]
        [('d2:0:98ea01bc109a', 0, 0), ('d2:1:272a35ab199f', 1, 18)]
    """

    id: str
    document_id: str
    text: str
    position: int
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None

    @property
    def source(self) -> str | None:
        """Where the chunk's document came from."""
        return self.metadata.get("source")

    @property
    def page(self) -> int | None:
        """The page the chunk starts on, when its document has pages."""
        page = self.metadata.get("page")
        return None if page is None else int(page)

    def to_langchain(self) -> LangChainDocument:
        """This chunk as a LangChain ``Document``, as retrievers return them.

        Returns:
            A ``langchain_core.documents.Document`` whose ``id`` is the chunk id, ``page_content`` the
            chunk text, and ``metadata`` the chunk's metadata plus ``document_id``, ``position`` and,
            after a search, ``score``.

        Example:
            >>> from langgraph_cloudlocal.documents import chunk_document, Document
            >>> chunk = chunk_document(Document("One short paragraph.", id="d1"))[0]
            >>> chunk.to_langchain().metadata["document_id"]
            'd1'
        """
        from langchain_core.documents import Document as LangChainDocument

        metadata: dict[str, Any] = {
            **self.metadata,
            "document_id": self.document_id,
            "position": self.position,
        }
        if self.score is not None:
            metadata["score"] = self.score
        return LangChainDocument(page_content=self.text, metadata=metadata, id=self.id)


CHUNKING_DEFAULTS: dict[str, tuple[int, int]] = {
    "chars": (1000, 100),
    "tokens": (256, 32),
    "paragraph": (1500, 0),
    "page": (4000, 0),
    "markdown": (2000, 0),
}
"""Default ``(size, overlap)`` per strategy. Sizes are characters except for ``tokens``. The
``chars`` default keeps a chunk within MiniLM's 256-token window for English prose."""

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]

_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


def _regex_token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD_OR_MARK.finditer(text)]


def _token_spans_function(tokenizer: Any) -> TokenSpans:
    if tokenizer is None:
        return _regex_token_spans
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode"):  # a tokenizers.Tokenizer

        def spans(text: str) -> list[tuple[int, int]]:
            encoding = tokenizer.encode(text, add_special_tokens=False)
            return [(a, b) for a, b in encoding.offsets if b > a]

        return spans
    if callable(tokenizer):
        return tokenizer  # type: ignore[no-any-return]
    raise TypeError("tokenizer must be a tokenizers.Tokenizer or a function text -> [(start, end), ...]")


_MARKDOWN_HEADING = re.compile(r"^#{1,6} \S", re.MULTILINE)


def chunking_for(text: str, chunking: str) -> str:
    """The chunking strategy for one document.

    Args:
        text: The document's text.
        chunking: A strategy name, or ``"auto"``.

    Returns:
        ``chunking`` itself, unless it is ``"auto"``: then ``"markdown"`` when the text has at least
        3 Markdown headings (one record or section per chunk, and each chunk knows its section),
        else ``"chars"``.

    Example:
        >>> chunking_for("# A\\ntext\\n# B\\ntext\\n# C\\ntext", "auto"), chunking_for("plain", "auto")
        ('markdown', 'chars')
    """
    if chunking != "auto":
        return chunking
    headings = 0
    for _ in _MARKDOWN_HEADING.finditer(text):
        headings += 1
        if headings >= 3:
            return "markdown"
    return "chars"


def resolve_chunking(strategy: str, size: int | None, overlap: int | None) -> tuple[int, int]:
    """Check a strategy's parameters and fill in its defaults.

    Args:
        strategy: One of :data:`CHUNKING_DEFAULTS`.
        size: The chunk size (characters; tokens for ``"tokens"``), or ``None`` for the default.
        overlap: The overlap, or ``None`` for the default.

    Returns:
        ``(size, overlap)``.

    Raises:
        ValueError: An unknown strategy, or a size or overlap it cannot use.

    Example:
        >>> resolve_chunking("chars", None, None), resolve_chunking("tokens", 128, None)
        ((1000, 100), (128, 32))
    """
    if strategy not in CHUNKING_DEFAULTS:
        raise ValueError(
            f"unknown chunking strategy {strategy!r}; choose one of {', '.join(CHUNKING_DEFAULTS)}"
        )
    default_size, default_overlap = CHUNKING_DEFAULTS[strategy]
    size = default_size if size is None else size
    overlap = default_overlap if overlap is None else overlap
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"chunk size must be a positive integer, got {size!r}")
    if strategy in ("chars", "paragraph", "page", "markdown") and size < 20:
        raise ValueError(f"chunk size {size} characters is too small to be useful; use at least 20")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        raise ValueError(f"overlap must be a non-negative integer, got {overlap!r}")
    if strategy in ("paragraph", "page", "markdown") and overlap:
        raise ValueError(f"the {strategy!r} strategy keeps whole units and takes no overlap (got {overlap})")
    if overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be smaller than the chunk size ({size})")
    if strategy == "chars" and overlap > size // 2:
        # a chunk may end as early as size/2 (at a sentence break); more overlap would barely advance
        raise ValueError(f"overlap ({overlap}) must be at most half the chunk size ({size}) for 'chars'")
    return size, overlap


_CUT_PREFERENCES = (
    re.compile(r"\n[ \t]*\n"),
    re.compile(r"[.!?][\"')\]]*\s"),
    re.compile(r"\n"),
    re.compile(r"\s"),
)


def _best_cut(text: str, low: int, high: int) -> int:
    """The end of a chunk in ``text[low:high]``: after the last paragraph break, else sentence end,
    else line break, else whitespace; ``high`` when there is none."""
    window = text[low:high]
    for pattern in _CUT_PREFERENCES:
        matches = list(pattern.finditer(window))
        if matches:
            return low + matches[-1].end()
    return high


_SENTENCE_START = re.compile(r"[.!?][\"')\]]*\s+")


def _char_spans(text: str, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    n = len(text)
    start = _skip_space(text, 0)
    while start < n:
        if start + size >= n:
            yield start, n
            return
        end = _best_cut(text, start + size // 2, start + size)
        yield start, end
        following = end - overlap if overlap else end
        if overlap and following > start:
            # begin the overlap at a sentence start if one is in it, else at a word start
            region = text[following:end].rstrip()  # the chunk's own final sentence end is no start
            boundary = _SENTENCE_START.search(region)
            if boundary is None and not text[following - 1].isspace():
                boundary = re.search(r"\s", region)
            if boundary is not None:
                following += boundary.end()
        start = _skip_space(text, max(following, start + 1))


def _skip_space(text: str, index: int) -> int:
    n = len(text)
    while index < n and text[index].isspace():
        index += 1
    return index


def _token_windows(text: str, size: int, overlap: int, spans_of: TokenSpans) -> Iterator[tuple[int, int]]:
    spans = spans_of(text)
    step = size - overlap
    index = 0
    while index < len(spans):
        window = spans[index : index + size]
        yield window[0][0], window[-1][1]
        if index + size >= len(spans):
            return
        index += step


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def _paragraph_spans(text: str, size: int, lo: int = 0, hi: int | None = None) -> Iterator[tuple[int, int]]:
    """Paragraphs of ``text[lo:hi]`` grouped greedily up to ``size`` characters."""
    hi = len(text) if hi is None else hi
    paragraphs: list[tuple[int, int]] = []
    cursor = lo
    for brk in _PARAGRAPH_BREAK.finditer(text, lo, hi):
        paragraphs.append((cursor, brk.start()))
        cursor = brk.end()
    paragraphs.append((cursor, hi))
    group: tuple[int, int] | None = None
    for p_start, p_end in paragraphs:
        if p_end <= p_start or text[p_start:p_end].isspace():
            continue
        if group is not None and p_end - group[0] <= size:
            group = (group[0], p_end)
            continue
        if group is not None:
            yield group
            group = None
        if p_end - p_start <= size:
            group = (p_start, p_end)
        else:
            for a, b in _char_spans(text[p_start:p_end], size, 0):
                yield p_start + a, p_start + b
    if group is not None:
        yield group


_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class _MarkdownSplitter:
    """Cuts Markdown into sections; keeps the heading trail and code-fence state across pieces."""

    def __init__(self) -> None:
        self.trail: list[tuple[int, str]] = []
        self.fence: str | None = None

    def sections(self, text: str) -> Iterator[tuple[int, int, str]]:
        """``(start, end, trail)`` per section of ``text``; headings without text join the next."""
        start = 0
        trail = self._trail_text()
        offset = 0
        for line in text.splitlines(keepends=True):
            stripped = line.rstrip("\n")
            fence = _FENCE.match(stripped)
            if fence is not None:
                marker = fence.group(1)
                if self.fence is None:
                    self.fence = marker[0] * 3
                elif marker.startswith(self.fence):
                    self.fence = None
            elif self.fence is None:
                heading = _HEADING.match(stripped)
                if heading is not None:
                    if offset > start and not _only_headings(text[start:offset]):
                        yield start, offset, trail
                        start = offset
                    level = len(heading.group(1))
                    self.trail = [(lv, title) for lv, title in self.trail if lv < level]
                    self.trail.append((level, (heading.group(2) or "").strip()))
                    trail = self._trail_text()
            offset += len(line)
        if offset > start:
            yield start, offset, trail

    def _trail_text(self) -> str:
        return " > ".join(title for _, title in self.trail if title)


def _only_headings(text: str) -> bool:
    return all(not line.strip() or _HEADING.match(line) for line in text.splitlines())


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def iter_chunks(
    doc: Document,
    strategy: str = "chars",
    size: int | None = None,
    overlap: int | None = None,
    *,
    tokenizer: Any = None,
) -> Iterator[Chunk]:
    """Chunks of a document in order, produced piece by piece (bounded memory for large files).

    Args:
        doc: A loaded document.
        strategy: The chunking strategy (see the module docs).
        size: The chunk size; default per strategy (:data:`CHUNKING_DEFAULTS`).
        overlap: The overlap; default per strategy.
        tokenizer: For ``"tokens"``: a ``tokenizers.Tokenizer`` or a function returning
            ``(start, end)`` spans; default: words and punctuation marks.

    Yields:
        The chunks.

    Raises:
        ValueError: An unknown strategy, or a size or overlap it cannot use.

    Example:
        >>> [c.text for c in iter_chunks(Document("One. Two. Three.", id="d"), "tokens", size=4, overlap=0)]
        ['One. Two.', 'Three.']
    """
    size, overlap = resolve_chunking(strategy, size, overlap)
    spans_of = _token_spans_function(tokenizer) if strategy == "tokens" else None
    markdown = _MarkdownSplitter() if strategy == "markdown" else None
    base_metadata = {**doc.metadata, "source": doc.source or doc.id, "strategy": strategy}
    position = 0
    # Chunks must fit in a piece; make pieces comfortably larger than a chunk.
    piece_chars = max(PIECE_CHARS, 8 * size * (8 if strategy == "tokens" else 1))
    for offset, piece in doc.iter_pieces(piece_chars):
        for start, end, extra in _piece_spans(
            doc, piece, offset, strategy, size, overlap, spans_of, markdown
        ):
            start, end = _strip_span(piece, start, end)
            if end <= start:
                continue
            text = piece[start:end]
            metadata = {**base_metadata, "start": offset + start, "end": offset + end, **extra}
            if doc.page_starts is not None:
                metadata["page"] = doc.page_at(offset + start)
                metadata["page_end"] = doc.page_at(offset + end - 1)
            chunk_hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            yield Chunk(
                id=f"{doc.id}:{position}:{chunk_hash}",
                document_id=doc.id,
                text=text,
                position=position,
                metadata=metadata,
            )
            position += 1


def _piece_spans(
    doc: Document,
    piece: str,
    offset: int,
    strategy: str,
    size: int,
    overlap: int,
    spans_of: TokenSpans | None,
    markdown: _MarkdownSplitter | None,
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    if strategy == "chars":
        for a, b in _char_spans(piece, size, overlap):
            yield a, b, {}
    elif strategy == "tokens":
        assert spans_of is not None
        for a, b in _token_windows(piece, size, overlap, spans_of):
            yield a, b, {}
    elif strategy == "paragraph":
        for a, b in _paragraph_spans(piece, size):
            yield a, b, {}
    elif strategy == "page":
        # Page boundaries inside this piece, relative to it.
        starts = [0]
        if doc.page_starts is not None:
            starts += [s - offset for s in doc.page_starts if offset < s < offset + len(piece)]
        bounds = [*starts, len(piece)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            lo, hi = _strip_span(piece, lo, hi)
            if hi <= lo:
                continue
            if hi - lo <= size:
                yield lo, hi, {}
            else:
                for a, b in _paragraph_spans(piece, size, lo, hi):
                    yield a, b, {}
    elif strategy == "markdown":
        assert markdown is not None
        for lo, hi, trail in markdown.sections(piece):
            extra = {"section": trail} if trail else {}
            if hi - lo <= size:
                yield lo, hi, extra
            else:
                for a, b in _paragraph_spans(piece, size, lo, hi):
                    yield a, b, extra
    else:  # pragma: no cover - resolve_chunking rejects it first
        raise ValueError(strategy)


def chunk_document(
    doc: DocumentSource,
    strategy: str = "chars",
    size: int | None = None,
    overlap: int | None = None,
    *,
    tokenizer: Any = None,
) -> list[Chunk]:
    """Cut a document into chunks with the named strategy (see the module docs for each).

    For a large streamed file prefer :func:`iter_chunks`.

    Args:
        doc: A :class:`Document`, or anything :func:`load_document` reads (loaded first).
        strategy: ``"chars"``, ``"tokens"``, ``"paragraph"``, ``"page"`` or ``"markdown"``.
        size: The chunk size; default per strategy (:data:`CHUNKING_DEFAULTS`).
        overlap: The overlap; default per strategy.
        tokenizer: For ``"tokens"``: a ``tokenizers.Tokenizer`` or a function returning
            ``(start, end)`` spans; default: words and punctuation marks.

    Returns:
        The chunks, in order.

    Raises:
        ValueError: An unknown strategy, or a size or overlap it cannot use.
        DocumentError: ``doc`` cannot be loaded.

    Example:
        >>> text = "# Intro\\nWhy.\\n\\n# Method\\nHow."
        >>> [(c.text, c.metadata["section"]) for c in chunk_document(Document(text), "markdown")]
        [('# Intro\\nWhy.', 'Intro'), ('# Method\\nHow.', 'Method')]
    """
    if not isinstance(doc, Document):
        doc = load_document(doc)
    return list(iter_chunks(doc, strategy, size, overlap, tokenizer=tokenizer))
