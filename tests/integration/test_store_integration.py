"""ChunkStore with the real offline MiniLM model, on an embedded Chroma and on a `chroma run` server
started here on 127.0.0.1: real documents (Markdown, text, PDF), rare names and numbers, re-ingest,
document filters and bad input."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from langgraph_cloudlocal.documents import (
    EmptyDocumentError,
    EncryptedPDFError,
    UnsupportedDocumentError,
)
from langgraph_cloudlocal.embeddings import (
    MINILM_NAME,
    MiniLMEmbeddings,
    pull_embedding_model,
)
from langgraph_cloudlocal.store import ChunkStore, StoreError
from tests.unit.test_documents import HTML, encrypt_pdf, make_docx, make_pdf

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbeddings:
    pull_embedding_model()  # a no-op when the verified files are cached
    return MiniLMEmbeddings(threads=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on a free loopback port, stopped at the end of the session."""
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"chroma run exited with {process.returncode}: {(data / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not answer within 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


HANDBOOK = """# Station handbook

## Opening hours
The visitor centre opens at nine in the morning and closes at five in the afternoon. On public
holidays it closes at noon. Guided tours start every hour from the main entrance.

## Safety
Visitors must wear the yellow helmets handed out at the gate. Children under twelve stay with an
adult at all times. The emergency assembly point is the car park behind the canteen.

## Power plant
The station runs two reactors. The primary reactor supplies the town; the backup reactor, installed
in 1998, carries serial number QX-7741-B and is tested on the first Monday of every month.
Maintenance logs are kept in the control room and copied to the regional office each quarter.

## Staff
The chief engineer approves all maintenance windows. Requests for leave go to the personnel office
two weeks in advance. New staff attend a safety briefing during their first week.
"""


def _long_report() -> str:
    """About 40 KB of ordinary paragraphs with one rare name buried in the middle."""
    topics = [
        "rainfall in the northern valleys was close to the ten-year average",
        "the ferry timetable was extended to cover the late summer evenings",
        "the library added a reading room for students preparing exams",
        "road repairs on the coastal route finished two weeks ahead of plan",
        "the market hall hosted a craft fair with stalls from nearby villages",
        "school enrolment rose slightly after the new housing estate opened",
    ]
    paragraphs = []
    for i in range(90):
        topic = topics[i % len(topics)]
        paragraphs.append(
            f"Section {i + 1}. During the review period {topic}. The council noted the result in its "
            f"minutes and asked the relevant committee to report back at the next meeting. Residents "
            f"were invited to comment through the usual channels."
        )
    paragraphs[47] = (
        "Section 48. The harbour dredging contract was approved by Ifeoma Okonkwo-Varga, acting on "
        "behalf of the port authority, after a short debate about the tender."
    )
    return "\n\n".join(paragraphs)


PDF_PAGES = [
    "Annual accounts of the cooperative.\nMembers met twice during the year.\nThe board was re-elected.",
    "Treasurer's note.\nThe reserve fund closed the year at 83,519 euros.\nNo loans were taken.",
]


@pytest.fixture(params=["persistent", "server"])
def store(request: pytest.FixtureRequest, minilm: MiniLMEmbeddings, tmp_path: Path) -> Iterator[ChunkStore]:
    if request.param == "persistent":
        s = ChunkStore.persistent(tmp_path / "chunks", collection="it-corpus", embedding=minilm)
    else:
        url = request.getfixturevalue("chroma_server")
        s = ChunkStore.server(
            url, collection=f"it-{request.node.name.split('[')[0][-40:]}-{id(tmp_path)}", embedding=minilm
        )
    yield s
    s.close()


def _ingest(store: ChunkStore, tmp_path: Path) -> dict[str, str]:
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    report = tmp_path / "report.txt"
    report.write_text(_long_report())
    accounts = tmp_path / "accounts.pdf"
    accounts.write_bytes(make_pdf(PDF_PAGES))
    (handbook_id,) = store.add_documents(handbook, chunking="markdown")
    (report_id,) = store.add_documents(report, chunking="paragraph", chunk_size=600)
    (accounts_id,) = store.add_documents(accounts, chunking="page")
    return {"handbook": handbook_id, "report": report_id, "accounts": accounts_id}


# ------------------------------------------------------------------ retrieval


def test_question_whose_answer_is_a_rare_code_finds_its_chunk(store: ChunkStore, tmp_path: Path) -> None:
    _ingest(store, tmp_path)
    hits = store.search("What is the serial number of the backup reactor?", k=3, lexical=False)
    assert "QX-7741-B" in hits[0].text  # found by meaning alone: the code is not in the question
    assert hits[0].metadata["retrieval"] == "dense"


def test_question_whose_answer_is_a_rare_number_in_a_pdf(store: ChunkStore, tmp_path: Path) -> None:
    ids = _ingest(store, tmp_path)
    hits = store.search("How much money was in the reserve fund at the end of the year?", k=2)
    assert "83,519" in hits[0].text
    assert hits[0].document_id == ids["accounts"]
    assert hits[0].page == 2 and hits[0].source is not None and hits[0].source.endswith("accounts.pdf")


def test_rare_name_in_the_question_is_found_verbatim(store: ChunkStore, tmp_path: Path) -> None:
    ids = _ingest(store, tmp_path)
    hits = store.search("What did Okonkwo-Varga approve?", k=3)
    assert "Okonkwo-Varga" in hits[0].text and "dredging" in hits[0].text
    assert "lexical" in hits[0].metadata["retrieval"]
    assert hits[0].document_id == ids["report"]


def test_document_filter_restricts_results(store: ChunkStore, tmp_path: Path) -> None:
    ids = _ingest(store, tmp_path)
    hits = store.search(
        "serial number of the backup reactor", k=5, document_ids=[ids["report"], ids["accounts"]]
    )
    assert hits and {h.document_id for h in hits} <= {ids["report"], ids["accounts"]}
    assert all("QX-7741-B" not in h.text for h in hits)
    handbook_chunks = store.get_chunks([ids["handbook"]])
    assert [c.position for c in handbook_chunks] == list(range(len(handbook_chunks)))
    assert handbook_chunks[0].text.startswith("# Station handbook")
    assert [c.metadata.get("section") for c in handbook_chunks][-1] == "Station handbook > Staff"


def test_reingesting_adds_nothing(store: ChunkStore, tmp_path: Path) -> None:
    ids = _ingest(store, tmp_path)
    count = store.count()
    started = time.perf_counter()
    assert _ingest(store, tmp_path) == ids
    assert store.count() == count
    assert time.perf_counter() - started < 5  # chunking only; nothing is embedded again
    assert sorted(store.document_ids()) == sorted(ids.values())


def test_bad_input_gives_clear_errors_and_writes_nothing(store: ChunkStore, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypt_pdf(make_pdf(PDF_PAGES), "secret"))
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + bytes(range(256)) * 8)
    unsupported = tmp_path / "sheet.xlsx"
    unsupported.write_bytes(b"PK\x03\x04")
    with pytest.raises(EmptyDocumentError):
        store.add_documents(["Good text.", ""])
    with pytest.raises(EncryptedPDFError, match="password"):
        store.add_documents([locked])
    with pytest.raises(UnsupportedDocumentError):
        store.add_documents([binary])
    with pytest.raises(UnsupportedDocumentError, match="xlsx"):
        store.add_documents([unsupported])
    assert store.count() == 0
    assert store.add_documents([locked], password="secret")
    assert "83,519" in store.search("reserve fund", k=1)[0].text


def test_retriever_over_real_chroma_returns_langchain_documents(store: ChunkStore, tmp_path: Path) -> None:
    from langchain_core.documents import Document as LangChainDocument
    from langchain_core.retrievers import BaseRetriever

    ids = _ingest(store, tmp_path)
    given = LangChainDocument(
        page_content="The lighthouse keeper, Marisol Tenpenny, logs every passing ship by hand.",
        metadata={"source": "keeper.txt", "shift": "night"},
    )
    (keeper_id,) = store.add_documents([given])
    retriever = store.as_retriever(k=2)
    assert isinstance(retriever, BaseRetriever)
    hits = retriever.invoke("What is the serial number of the backup reactor?")
    assert len(hits) == 2 and all(isinstance(h, LangChainDocument) for h in hits)
    assert "QX-7741-B" in hits[0].page_content and hits[0].metadata["document_id"] == ids["handbook"]
    assert hits[0].id == store.search("What is the serial number of the backup reactor?", k=1)[0].id
    keeper = store.as_retriever(k=1, search_kwargs={"document_ids": [keeper_id]}).invoke("who logs ships")
    assert keeper[0].metadata["shift"] == "night" and keeper[0].metadata["source"] == "keeper.txt"
    pdf_only = store.as_retriever(k=3, document_ids=[ids["accounts"]]).invoke("reserve fund")
    assert pdf_only and {h.metadata["document_id"] for h in pdf_only} == {ids["accounts"]}
    assert "83,519" in pdf_only[0].page_content and pdf_only[0].metadata["page"] == 2


def test_word_html_and_csv_files_are_ingested_and_retrieved(store: ChunkStore, tmp_path: Path) -> None:
    report = tmp_path / "report.docx"
    report.write_bytes(
        make_docx(
            [
                "Annual report of the Quillfeather Project.",
                "The project's auditor for the year was Ignatius Brambleworth of Harrow & Sons.",
            ]
        )
    )
    minutes = tmp_path / "minutes.html"
    minutes.write_text(HTML)
    payments = tmp_path / "payments.csv"
    payments.write_text(
        "payee,amount,purpose\nZebulon Quartermaine,4718,lighthouse lamps\nOttoline Varga,300,rope\n"
    )
    ids = store.add_documents([report, minutes, payments])
    assert store.document_ids() == sorted(ids)
    retriever = store.as_retriever(k=1)
    cases = [
        ("Who audited the project?", ids[0], "Brambleworth"),
        ("Who chaired the board meeting?", ids[1], "Ottoline Varga chaired"),
        ("How much was paid for the lighthouse lamps?", ids[2], "amount: 4718"),
    ]
    for question, document_id, expected in cases:
        (hit,) = retriever.invoke(question)
        assert hit.metadata["document_id"] == document_id and expected in hit.page_content, question


def test_server_and_embedded_give_the_same_answers(
    minilm: MiniLMEmbeddings, chroma_server: str, tmp_path: Path
) -> None:
    embedded = ChunkStore.persistent(tmp_path / "embedded", collection="parity", embedding=minilm)
    served = ChunkStore.server(chroma_server, collection=f"parity-{id(tmp_path)}", embedding=minilm)
    for s in (embedded, served):
        _ingest(s, tmp_path)
    assert embedded.count() == served.count()
    for question in ("When does the visitor centre close?", "Who approved the dredging contract?"):
        assert [c.id for c in embedded.search(question, k=3)] == [c.id for c in served.search(question, k=3)]


def test_persistent_store_is_readable_by_a_plain_chroma_client(
    minilm: MiniLMEmbeddings, tmp_path: Path
) -> None:
    import chromadb
    from chromadb.config import Settings

    store = ChunkStore.persistent(tmp_path / "chunks", collection="plain", embedding=minilm)
    _ingest(store, tmp_path)
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chunks"), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.get_collection("plain")  # rebuilt from its recorded config: the offline MiniLM
    assert collection.metadata["cloudlocal_embedding"] == MINILM_NAME
    result = collection.query(query_texts=["serial number of the backup reactor"], n_results=1)
    assert "QX-7741-B" in result["documents"][0][0]


def test_unreachable_server_is_a_clear_error(minilm: MiniLMEmbeddings) -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(StoreError, match="chroma run"):
        ChunkStore.server(f"http://127.0.0.1:{port}", embedding=minilm)


# ------------------------------------------------------------------ the embedding model itself


def test_minilm_ranks_paraphrases_above_unrelated_text(minilm: MiniLMEmbeddings) -> None:
    vectors = minilm.embed_array(
        ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 12 percent."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2] + 0.3


def test_minilm_batching_does_not_change_vectors(minilm: MiniLMEmbeddings) -> None:
    texts = [
        "short",
        "a somewhat longer sentence about harbours and ferries",
        "x " * 300,
        "mid length text here",
    ]
    together = minilm.embed_array(texts)
    alone = np.stack([minilm.embed_array([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5
    assert minilm.embed_query(texts[1]) == pytest.approx(together[1].tolist(), abs=1e-5)


def test_minilm_matches_the_reference_fixed_padding_computation(minilm: MiniLMEmbeddings) -> None:
    """Same vectors as sentence-transformers' recipe (pad to 256, mean-pool, normalise)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding(length=256)
    session = ort.InferenceSession(str(minilm.model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    texts = [HANDBOOK[:600], "Who approved the dredging contract?"]
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    hidden = session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )[0]
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    reference = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    assert np.abs(minilm.embed_array(texts) - reference).max() < 1e-4


def test_minilm_embeds_all_of_a_long_text(minilm: MiniLMEmbeddings) -> None:
    head = "The harbour master inspected the ferries. " * 40  # about 320 tokens
    tail = " The orchestra rehearsed a symphony in the concert hall." * 10
    assert minilm.count_tokens(head + tail) > 256
    whole = minilm.embed_array([head + tail])[0]
    only_head = minilm.embed_array([head])[0]
    music = minilm.embed_array(["an orchestra plays music"])[0]
    # truncating at 256 tokens would drop the tail; windowing keeps it in the vector
    assert float(whole @ music) > float(only_head @ music) + 0.05
