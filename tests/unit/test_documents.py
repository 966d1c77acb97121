"""Loading and chunking documents: text, Markdown, PDF, bad input, streaming, stable ids."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from langgraph_cloudlocal import documents as documents_module
from langgraph_cloudlocal.documents import (
    Chunk,
    Document,
    DocumentError,
    EmptyDocumentError,
    EncryptedPDFError,
    PDFError,
    UnsupportedDocumentError,
    chunk_document,
    iter_chunks,
    load_document,
    load_documents,
)


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one text page per item (Helvetica, one line per ``\\n``)."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str, algorithm: str = "AES-256") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


TWO_PAGES = ["The first page talks about harbours.\nIt has two lines.", "Page two: the vault code is 4718."]

PROSE = " ".join(
    f"Sentence {i} describes the quarterly figures of the northern branch in some detail." for i in range(120)
)


# ------------------------------------------------------------------ loading


def test_plain_text_file_keeps_source_and_normalises_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffline one\r\nline two\rline three\n".encode())
    doc = load_document(path)
    assert doc.text == "line one\nline two\nline three\n"
    assert doc.source == str(path)
    assert doc.kind == "text"
    assert doc.id.startswith("notes-")
    assert doc.page_starts is None


def test_string_path_and_text_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\nHello.")
    assert load_document(str(path)).kind == "markdown"
    assert load_document("Just a sentence of text.").text == "Just a sentence of text."
    with pytest.raises(FileNotFoundError, match="looks like a file name"):
        load_document(str(tmp_path / "missing.pdf"))


def test_same_text_gets_same_id_and_different_text_another() -> None:
    first = load_document("Alpha beta gamma.")
    assert load_document("Alpha beta gamma.").id == first.id
    assert load_document("Alpha beta delta.").id != first.id
    assert Document("Alpha beta gamma.", id="given").id == "given"
    assert Document("Alpha beta gamma.").content_hash == first.content_hash


def test_pdf_pages_become_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(TWO_PAGES))
    doc = load_document(path)
    assert doc.kind == "pdf"
    assert doc.page_count == 2
    assert "harbours" in doc.text and "4718" in doc.text
    assert doc.page_at(doc.text.index("harbours")) == 1
    assert doc.page_at(doc.text.index("4718")) == 2
    chunks = chunk_document(doc, "page")
    assert [c.page for c in chunks] == [1, 2]
    assert "4718" in chunks[1].text and all(c.source == str(path) for c in chunks)


def test_pdf_from_bytes() -> None:
    doc = load_document(make_pdf(TWO_PAGES), name="upload.pdf")
    assert doc.page_count == 2 and doc.source == "upload.pdf"


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_encrypted_pdf_needs_its_password(algorithm: str) -> None:
    data = encrypt_pdf(make_pdf(TWO_PAGES), "s3cret", algorithm)
    with pytest.raises(EncryptedPDFError, match="encrypted; pass password"):
        load_document(data, name="locked.pdf")
    with pytest.raises(EncryptedPDFError, match="password is wrong"):
        load_document(data, name="locked.pdf", password="nope")
    assert "4718" in load_document(data, name="locked.pdf", password="s3cret").text


def test_pdf_encrypted_with_empty_user_password_opens() -> None:
    data = encrypt_pdf(make_pdf(TWO_PAGES), "", "RC4-128")
    assert "harbours" in load_document(data, name="restricted.pdf").text


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nthis is not really a pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40],
    ids=["truncated", "garbage"],
)
def test_unreadable_pdf_is_a_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(PDFError, match="broken.pdf"):
        load_document(path)


def test_pdf_without_text_layer_says_so() -> None:
    with pytest.raises(EmptyDocumentError, match="OCR"):
        load_document(make_pdf(["   ", ""]), name="scan.pdf")


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(EmptyDocumentError):
        load_document(text)
    with pytest.raises(EmptyDocumentError):
        Document(text)


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("\n\n   \n")
    with pytest.raises(EmptyDocumentError, match="empty"):
        load_document(tmp_path / "empty.txt")
    with pytest.raises(EmptyDocumentError, match="no text"):
        load_document(tmp_path / "blank.txt")


def test_unsupported_suffix_names_the_supported_ones(tmp_path: Path) -> None:
    # .pptx, not .docx: .docx is read through the `loaders` extra now
    path = tmp_path / "slides.pptx"
    path.write_bytes(b"PK\x03\x04 zipped office file")
    with pytest.raises(UnsupportedDocumentError, match=r"unsupported file type '\.pptx'.*\.docx.*\.pdf"):
        load_document(path)


def test_kind_overrides_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[section]\nkey = value\n")
    assert load_document(path, kind="text").text.startswith("[section]")


def test_binary_data_given_as_text_is_refused(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    path = tmp_path / "picture.txt"
    path.write_bytes(png)
    with pytest.raises(UnsupportedDocumentError, match="binary|not valid utf-8"):
        load_document(path)
    nul_text = tmp_path / "nul.txt"
    nul_text.write_bytes(b"looks like text\x00\x00\x00 but is not")
    with pytest.raises(UnsupportedDocumentError, match="binary"):
        load_document(nul_text)
    with pytest.raises(UnsupportedDocumentError, match="binary"):
        load_document("text with a NUL \x00 inside")


def test_other_encodings_need_to_be_named(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Café crème, déjà vu.".encode("latin-1"))
    with pytest.raises(UnsupportedDocumentError, match="encoding="):
        load_document(path)
    assert load_document(path, encoding="latin-1").text == "Café crème, déjà vu."


def test_pdf_with_a_text_suffix_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "renamed.txt"
    path.write_bytes(make_pdf(TWO_PAGES))
    with pytest.raises(UnsupportedDocumentError, match="kind='pdf'"):
        load_document(path)
    assert load_document(path, kind="pdf").page_count == 2


def test_load_documents_walks_a_folder_and_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# B\n\nbee")
    (tmp_path / "a.txt").write_text("ay")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.pdf").write_bytes(make_pdf(["see"]))
    (tmp_path / ".hidden.txt").write_text("secret")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    docs = load_documents(tmp_path)
    assert [Path(d.source or "").name for d in docs] == ["a.txt", "b.md", "c.pdf"]
    assert len(load_documents(["one text", "another text"])) == 2
    assert len(load_documents("a single text, not an iterable of characters")) == 1


def test_metadata_must_be_storable() -> None:
    doc = Document("Some text.", metadata={"year": 2024, "team": "blue"})
    assert chunk_document(doc)[0].metadata["year"] == 2024
    with pytest.raises(DocumentError, match="only str, int, float and bool"):
        Document("Some text.", metadata={"tags": ["a", "b"]})
    with pytest.raises(DocumentError, match="reserved"):
        Document("Some text.", metadata={"page": 3})


# ------------------------------------------------------------------ chunking


def _covers(doc: Document, chunks: list[Chunk]) -> None:
    """Every chunk is the exact slice its offsets name, and together they cover every word."""
    for chunk in chunks:
        assert doc.text[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.text
    covered = " ".join(c.text for c in chunks)
    assert set(re.findall(r"\w+", doc.text)) <= set(re.findall(r"\w+", covered))


def test_chars_chunks_respect_size_overlap_and_boundaries() -> None:
    doc = Document(PROSE)
    chunks = chunk_document(doc, "chars", size=400, overlap=60)
    assert len(chunks) > 5
    assert all(len(c.text) <= 400 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # cut at sentence ends; consecutive chunks share text, which starts at a word, not mid-word
    assert all(c.text.endswith(".") for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.metadata["start"] < before.metadata["end"]
        assert doc.text[after.metadata["start"] - 1].isspace()
    _covers(doc, chunks)
    # with an overlap longer than a sentence, the overlap starts at a sentence
    wide = chunk_document(doc, "chars", size=400, overlap=150)
    assert all(c.text.startswith("Sentence") for c in wide)


def test_chars_without_overlap_do_not_overlap() -> None:
    chunks = chunk_document(Document(PROSE), "chars", size=300, overlap=0)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.metadata["start"] >= before.metadata["end"]


def test_text_without_any_break_is_still_cut() -> None:
    doc = Document("x" * 2500)
    chunks = chunk_document(doc, "chars", size=1000, overlap=0)
    assert [len(c.text) for c in chunks] == [1000, 1000, 500]


def test_tokens_chunks_have_exact_token_counts_and_overlap() -> None:
    doc = Document(PROSE)
    chunks = chunk_document(doc, "tokens", size=50, overlap=10)
    counts = [len(re.findall(r"\w+|[^\w\s]", c.text)) for c in chunks]
    assert all(n == 50 for n in counts[:-1]) and 0 < counts[-1] <= 50
    first, second = (re.findall(r"\w+|[^\w\s]", c.text) for c in chunks[:2])
    assert first[-10:] == second[:10]
    _covers(doc, chunks)


def test_tokens_with_a_custom_tokenizer() -> None:
    def characters_as_tokens(text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]

    chunks = chunk_document(
        Document("abc def ghi"), "tokens", size=4, overlap=0, tokenizer=characters_as_tokens
    )
    assert [c.text for c in chunks] == ["abc d", "ef gh", "i"]


def test_paragraph_chunks_keep_paragraphs_whole() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * (10 + i) for i in range(12)]
    doc = Document("\n\n".join(p.strip() for p in paragraphs))
    chunks = chunk_document(doc, "paragraph", size=200)
    assert all(len(c.text) <= 200 for c in chunks)
    for chunk in chunks:
        for piece in chunk.text.split("\n\n"):
            assert piece in [p.strip() for p in paragraphs]
    _covers(doc, chunks)


def test_paragraph_longer_than_size_is_split() -> None:
    doc = Document("Short one.\n\n" + PROSE)
    chunks = chunk_document(doc, "paragraph", size=500)
    assert chunks[0].text == "Short one."
    assert all(len(c.text) <= 500 for c in chunks)
    _covers(doc, chunks)


def test_page_strategy_on_text_uses_form_feeds() -> None:
    doc = Document("first page\n\nstill first\fsecond page\fthird")
    chunks = chunk_document(doc, "page")
    assert [(c.text, c.page) for c in chunks] == [
        ("first page\n\nstill first", 1),
        ("second page", 2),
        ("third", 3),
    ]


def test_page_strategy_without_pages_splits_long_text_by_paragraph() -> None:
    chunks = chunk_document(Document(PROSE + "\n\n" + PROSE), "page", size=4000)
    assert len(chunks) >= 2 and all(len(c.text) <= 4000 for c in chunks)
    assert all(c.page is None for c in chunks)


MARKDOWN = """Preamble before any heading.

# Manual

Intro text.

## Install
Run the installer.

```bash
# this is a comment, not a heading
pip install thing
```

## Usage
### Advanced
Advanced usage text mentions Zebulon.

# Appendix ##
The end.
"""


def test_markdown_sections_carry_their_heading_trail() -> None:
    doc = Document(MARKDOWN, kind="markdown")
    chunks = chunk_document(doc, "markdown")
    sections = [c.metadata.get("section") for c in chunks]
    assert sections == [None, "Manual", "Manual > Install", "Manual > Usage > Advanced", "Appendix"]
    assert "pip install thing" in chunks[2].text  # the fenced "# comment" did not start a section
    assert chunks[3].text.startswith("## Usage\n### Advanced")  # heading-only section joined the next
    _covers(doc, chunks)


def test_markdown_section_longer_than_size_is_split_and_keeps_its_trail() -> None:
    body = "\n\n".join(f"Paragraph {i} " + "text " * 30 for i in range(10))
    chunks = chunk_document(Document(f"# Big\n\n{body}", kind="markdown"), "markdown", size=400)
    assert len(chunks) > 3
    assert {c.metadata["section"] for c in chunks} == {"Big"}


def test_chunk_ids_are_stable_and_change_with_chunking() -> None:
    doc = Document(PROSE, id="prose")
    first = chunk_document(doc, "chars", size=500, overlap=50)
    again = chunk_document(Document(PROSE, id="prose"), "chars", size=500, overlap=50)
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id.startswith("prose:0:") and len(first[0].id.split(":")[2]) == 12
    other = chunk_document(doc, "chars", size=600, overlap=50)
    assert {c.id for c in other} != {c.id for c in first}


@pytest.mark.parametrize(
    ("strategy", "size", "overlap", "message"),
    [
        ("sentences", None, None, "unknown chunking strategy"),
        ("chars", 0, None, "positive integer"),
        ("chars", 10, 0, "too small"),
        ("chars", 400, 300, "at most half"),
        ("tokens", 50, 50, "smaller than the chunk size"),
        ("paragraph", 500, 20, "takes no overlap"),
        ("chars", 500, -1, "non-negative"),
    ],
)
def test_bad_chunking_parameters_are_refused(
    strategy: str, size: int | None, overlap: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        chunk_document(Document(PROSE), strategy, size=size, overlap=overlap)


# ------------------------------------------------------------------ large files stream


@pytest.fixture
def small_streaming_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make 'large' mean a few KB so streaming is exercised quickly."""
    monkeypatch.setattr(documents_module, "STREAM_THRESHOLD_BYTES", 4_000)
    monkeypatch.setattr(documents_module, "PIECE_CHARS", 3_000)


def _paragraphs(count: int) -> str:
    return "\n\n".join(
        f"Paragraph {i} records that shipment {1000 + i} left the harbour on time." for i in range(count)
    )


@pytest.mark.usefixtures("small_streaming_limits")
def test_large_text_file_is_streamed_with_the_same_id(tmp_path: Path) -> None:
    text = _paragraphs(400)  # about 28 KB
    path = tmp_path / "big.txt"
    path.write_text(text)
    doc = load_document(path)
    assert doc.streamed
    assert doc.char_count == len(text)
    assert doc.content_hash == Document(text).content_hash
    pieces = list(doc.iter_pieces(3_000))
    assert "".join(p for _, p in pieces) == text
    assert all(p.endswith("\n\n") for _, p in pieces[:-1])
    chunks = list(iter_chunks(doc, "chars", size=500, overlap=50))
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.text
    assert "shipment 1399" in chunks[-1].text


@pytest.mark.usefixtures("small_streaming_limits")
def test_streamed_file_with_late_binary_or_bad_bytes_fails_at_load(tmp_path: Path) -> None:
    good = _paragraphs(200).encode()
    nul = tmp_path / "late-nul.txt"
    nul.write_bytes(good + b"\x00\x01\x02" + good)
    with pytest.raises(UnsupportedDocumentError, match="NUL"):
        load_document(nul)
    bad = tmp_path / "late-bad.txt"
    bad.write_bytes(good + b"\xff\xfe\xfa" + good)
    with pytest.raises(UnsupportedDocumentError, match="not valid utf-8"):
        load_document(bad)
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n" * 5000)
    with pytest.raises(EmptyDocumentError):
        load_document(blank)


def test_in_memory_pieces_do_not_cut_a_small_text() -> None:
    doc = Document(_paragraphs(5))
    assert list(doc.iter_pieces(1_000_000)) == [(0, doc.text)]


# ------------------------------------------------------------------ LangChain documents and loaders

LOADER_MODULES = (
    "langchain_community.document_loaders.word_document",
    "langchain_community.document_loaders.html_bs",
    "langchain_community.document_loaders.csv_loader",
    "docx2txt",
    "bs4",
)


@pytest.fixture
def without_loaders_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if langchain-community and its parsers were not installed (None in sys.modules makes
    every import of them raise ImportError)."""
    import sys

    for name in (*LOADER_MODULES, "langchain_community", "langchain_community.document_loaders"):
        monkeypatch.setitem(sys.modules, name, None)


def make_docx(paragraphs: list[str]) -> bytes:
    """A minimal Word file: the three parts a .docx needs, one paragraph each."""
    import zipfile
    from xml.sax.saxutils import escape

    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paragraphs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats'
            '.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            f'wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
        )
    return out.getvalue()


HTML = (
    "<html><head><title>Board minutes</title><style>p {color: red}</style></head>"
    "<body><h1>Minutes of 14 March</h1><p>Ottoline Varga chaired.</p><p>The vault code is 4718.</p>"
    "</body></html>"
)


def test_docx_is_read_through_the_loaders_extra(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(
        make_docx(["Quarterly report of the Quillfeather Project.", "Revenue was 4,718 crowns."])
    )
    doc = load_document(path)
    assert doc.kind == "docx" and doc.source == str(path)
    assert doc.text == "Quarterly report of the Quillfeather Project.\n\nRevenue was 4,718 crowns."
    assert doc.id.startswith("report-")
    assert load_document(path).id == doc.id  # stable


def test_html_is_read_as_its_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "minutes.html"
    path.write_text(HTML)
    doc = load_document(path)
    assert doc.kind == "html"
    assert doc.text.splitlines() == [
        "Board minutes",
        "Minutes of 14 March",
        "Ottoline Varga chaired.",
        "The vault code is 4718.",
    ]
    assert "<p>" not in doc.text and "color" not in doc.text
    assert doc.metadata == {"title": "Board minutes"}
    chunks = chunk_document(doc)
    assert chunks[0].metadata["title"] == "Board minutes"


def test_csv_rows_become_blocks_that_name_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text("name,amount\nZebulon Quartermaine,4718\nOttoline Varga,300\n")
    doc = load_document(path)
    assert doc.kind == "csv"
    assert doc.text == "name: Zebulon Quartermaine\namount: 4718\n\nname: Ottoline Varga\namount: 300"
    assert "row" not in doc.metadata  # differs per row: not a document-level value
    paragraphs = chunk_document(doc, "paragraph", size=40)
    assert [c.text for c in paragraphs] == doc.text.split("\n\n")


def test_a_folder_loads_loader_formats_too(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "b.csv").write_text("k,v\nx,1\n")
    (tmp_path / "c.html").write_text(HTML)
    (tmp_path / "d.docx").write_bytes(make_docx(["word text"]))
    assert [d.kind for d in load_documents(tmp_path)] == ["text", "csv", "html", "docx"]


def test_corrupt_docx_is_a_document_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DocumentError, match="broken.docx"):
        load_document(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("report.docx", make_docx(["text"])), ("page.html", HTML.encode()), ("rows.csv", b"a,b\n1,2\n")],
)
def test_loader_formats_without_the_extra_name_it(
    tmp_path: Path, without_loaders_extra: None, name: str, content: bytes
) -> None:
    from langgraph_cloudlocal.documents import MissingLoaderError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MissingLoaderError, match=r"langgraph-cloudlocal\[loaders\]") as caught:
        load_document(path)
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, UnsupportedDocumentError)
    if name.endswith(".csv"):  # plain text is still one keyword away
        assert load_document(path, kind="text").text == "a,b\n1,2\n"


def test_text_markdown_and_pdf_need_no_extra(tmp_path: Path, without_loaders_extra: None) -> None:
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "b.md").write_text("# Title\n\nBody.")
    (tmp_path / "c.pdf").write_bytes(make_pdf(TWO_PAGES))
    assert [d.kind for d in load_documents(tmp_path)] == ["text", "markdown", "pdf"]


def test_a_langchain_document_is_accepted() -> None:
    from langchain_core.documents import Document as LangChainDocument

    given = LangChainDocument(
        page_content="The ledger was signed by Zebulon Quartermaine.\r\n",
        id="ledger-1",
        metadata={"source": "ledger.txt", "author": "clerk", "year": 1871, "tags": ["a"], "page": 3},
    )
    doc = load_document(given)
    assert (doc.id, doc.source, doc.text) == (
        "ledger-1",
        "ledger.txt",
        "The ledger was signed by Zebulon Quartermaine.",
    )
    # Scalars kept; lists (not storable in Chroma) and chunk bookkeeping keys ("page") dropped.
    assert doc.metadata == {"author": "clerk", "year": 1871}
    assert load_document(given, id="other", metadata={"author": "me"}).metadata == {
        "author": "me",
        "year": 1871,
    }
    assert [c.text for c in chunk_document(given)] == [doc.text]
    without_id = load_document(LangChainDocument(page_content="no id here"))
    assert without_id.id.startswith("text-") and without_id.source is None
    with pytest.raises(EmptyDocumentError):
        load_document(LangChainDocument(page_content="  \n "))


def test_documents_round_trip_through_langchain() -> None:
    doc = Document("Some text.\n\nMore text.", id="d1", source="notes.md", metadata={"team": "blue"})
    back = load_document(doc.to_langchain())
    assert (back.id, back.text, back.source, back.metadata) == (doc.id, doc.text, doc.source, doc.metadata)
    chunk = chunk_document(doc)[0]
    chunk.score = 0.5
    converted = chunk.to_langchain()
    assert converted.id == chunk.id and converted.page_content == chunk.text
    assert converted.metadata["document_id"] == "d1" and converted.metadata["score"] == 0.5


class PagesLoader:
    """A LangChain loader yielding pages of two files (as PyPDFLoader or DirectoryLoader would)."""

    @staticmethod
    def make(pages: dict[str, list[str]], fail: Exception | None = None) -> object:
        from langchain_core.document_loaders import BaseLoader
        from langchain_core.documents import Document as LangChainDocument

        class Loader(BaseLoader):
            def lazy_load(self):  # type: ignore[no-untyped-def]
                for source, texts in pages.items():
                    for number, text in enumerate(texts):
                        yield LangChainDocument(
                            page_content=text, metadata={"source": source, "page": number, "lang": "en"}
                        )
                if fail is not None:
                    raise fail

        return Loader()


def test_any_langchain_loader_is_a_document_source() -> None:
    one = PagesLoader.make({"a.pdf": ["first page", "second page"]})
    doc = load_document(one)
    assert doc.source == "a.pdf" and doc.text == "first page\n\nsecond page"
    assert doc.page_count == 2 and doc.page_at(doc.text.index("second")) == 2
    assert doc.metadata == {"lang": "en"}
    two = PagesLoader.make({"a.pdf": ["a1"], "b.pdf": ["b1", "b2"]})
    with pytest.raises(DocumentError, match="2 sources; use load_documents"):
        load_document(two)
    docs = load_documents([two, "plain text"])
    assert [(d.source, d.text) for d in docs] == [
        ("a.pdf", "a1"),
        ("b.pdf", "b1\n\nb2"),
        (None, "plain text"),
    ]


def test_a_failing_loader_is_a_document_error() -> None:
    broken = PagesLoader.make({"a.pdf": ["page"]}, fail=RuntimeError("parser exploded"))
    with pytest.raises(DocumentError, match="could not load.*RuntimeError: parser exploded"):
        load_document(broken)
    with pytest.raises(EmptyDocumentError, match="loaded no documents"):
        load_document(PagesLoader.make({}))


def test_document_texts_normalises_every_kind_of_document() -> None:
    from langchain_core.documents import Document as LangChainDocument

    from langgraph_cloudlocal.documents import document_texts

    loader = PagesLoader.make({"a.pdf": ["p1", "p2"], "b.pdf": ["b"]})
    texts = document_texts(
        [
            "text, never a path: report.pdf",
            Document("ours"),
            LangChainDocument(page_content="theirs"),
            loader,
            "",
        ]
    )
    assert texts == ["text, never a path: report.pdf", "ours", "theirs", "p1\n\np2", "b", ""]
    assert document_texts(None) == [] and document_texts("one") == ["one"]
    with pytest.raises(TypeError, match="not int"):
        document_texts([3])  # type: ignore[list-item]
