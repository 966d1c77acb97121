"""Ingestion throughput of ChunkStore, side by side in one run: chunk, embed and store about 1,000,000
characters of generated prose into a fresh persistent Chroma with

- ``ours``: the store's default embedding (``resolve_embeddings("minilm")``: MiniLM on onnxruntime with
  int8 matrix products, batches padded to their longest input, one single-threaded worker per core);
- ``chroma``: Chroma's own default embedding function (``ONNXMiniLM_L6_V2``: one onnxruntime session
  over all cores, every input padded to 256 tokens), fed from our verified local model files in a
  temporary folder (it never downloads: the download is disabled for the run);
- optionally ``ours-fp32``, ``ours-intra``, ``fastembed``, ``fastembed-int8`` (see ``CONTENDERS``);

each run in turn, ``--runs`` times, with min/median/max and the ratio to Chroma's default; then the
peak memory of streaming a 50 MB text file. A benchmark to run by hand, not a test:

    .venv/bin/python benchmarks/bench_ingest.py                          # 3 runs + 50 MB streaming
    .venv/bin/python benchmarks/bench_ingest.py --big-mb 0 --runs 5 --contenders ours ours-fp32 chroma

The embedding model must be pulled first (``cloudlocal pull embeddings``). Figures depend on the
machine and on what else runs on it: the load average is printed with them, and so is the CPU time,
which other processes inflate far less than the wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.embeddings import Embeddings  # noqa: E402

from langgraph_cloudlocal.documents import CHUNKING_DEFAULTS, Document, iter_chunks, load_document  # noqa: E402

# ------------------------------------------------------------------ seeded, realistic-looking prose

_NAMES = (
    "Amara Baptiste Chen Dragomir Esposito Fairweather Gallagher Haddad Ivanova Jablonski Kowalczyk".split()
)
_PLACES = "Lisbon Tromsø Valparaíso Nairobi Osaka Winnipeg Tbilisi Cork Hobart Marseille Ulaanbaatar".split()
_ORGS = [
    "the port authority",
    "the regional council",
    "the water board",
    "the cooperative bank",
    "the rail operator",
]
_SUBJECTS = [
    "The committee",
    "The survey team",
    "Local residents",
    "The finance office",
    "An independent auditor",
    "The engineering group",
    "Several shop owners",
    "The harbour master",
]
_VERBS = [
    "reviewed",
    "questioned",
    "approved",
    "postponed",
    "summarised",
    "criticised",
    "extended",
    "published",
]
_OBJECTS = [
    "the maintenance schedule for the northern bridge",
    "a proposal to widen the coastal road",
    "the annual report on drinking water quality",
    "the budget for the new public library",
    "plans for a second ferry terminal",
    "the timetable of the night buses",
    "a study of flooding risks along the river",
    "the contract for street lighting",
]
_CLAUSES = [
    "after a long discussion that ran past midnight",
    "although several members asked for more time",
    "because the previous figures had been incomplete",
    "while the public gallery was unusually full",
    "so that work could begin before the winter",
    "despite objections from two neighbouring towns",
]


def _sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_CLAUSES)}."
    if kind < 0.75:
        return (
            f"In {rng.randint(1990, 2024)}, {rng.choice(_NAMES)} of {rng.choice(_ORGS)} in {rng.choice(_PLACES)} "
            f"reported costs of {rng.randint(1, 999):,}.{rng.randint(0, 9)} million, "
            f"{rng.choice(['up', 'down'])} {rng.randint(1, 40)} percent on the year before."
        )
    if kind < 0.9:
        return (
            f"According to {rng.choice(_NAMES)}, {rng.choice(_OBJECTS)} would need "
            f"{rng.randint(2, 36)} months and a team of {rng.randint(3, 250)} people."
        )
    return f"Reference {rng.choice('ABCDEFGHJK')}{rng.randint(100, 9999)}-{rng.randint(10, 99)} records the decision."


def generate_text(chars: int, seed: int = 0) -> str:
    """Paragraphs of 3-8 sentences, joined by blank lines, cut to ``chars`` characters."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    while total < chars:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(3, 8)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:chars]


# ------------------------------------------------------------------ helpers


class TimedEmbeddings(Embeddings):
    """Wraps an embedding to measure the time spent embedding."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.embedding_name = getattr(inner, "embedding_name", "timed")
        self.seconds = 0.0
        self.texts = 0

    def embed_array(self, texts: list[str]) -> Any:
        import numpy as np

        started = time.perf_counter()
        try:
            if hasattr(self.inner, "embed_array"):
                return self.inner.embed_array(texts)
            return np.asarray(self.inner.embed_documents(texts), dtype=np.float32)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class HashedEmbeddings(Embeddings):
    """A cheap 64-dimensional stand-in, to measure memory of the pipeline without the model's time."""

    embedding_name = "bench:hashed-64"

    def embed_array(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                out[row, hashlib.blake2b(word.encode(), digest_size=1).digest()[0] % 64] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB."""
    # VmHWM starts afresh at exec; getrusage's ru_maxrss would carry the parent's peak into children.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# ------------------------------------------------------------------ runs


CONTENDERS = ("ours", "ours-fp32", "ours-intra", "chroma", "fastembed", "fastembed-int8")
"""What each contender is, printed with the results:

- ``ours``: the store's default, ``resolve_embeddings("minilm")``: the int8 model that onnxruntime's own
  tools build at pull time (``build_int8_model``: the BERT optimizer, then ``quantize_dynamic``), batches
  padded to their longest, one single-threaded onnxruntime session per core;
- ``ours-fp32``: ``resolve_embeddings("minilm:fp32")``, the verified float model the same way;
- ``ours-intra``: the int8 model run by one session with one intra-op thread per core instead;
- ``chroma``: Chroma's ``ONNXMiniLM_L6_V2`` on the verified files (never downloads);
- ``fastembed`` / ``fastembed-int8``: fastembed's ``TextEmbedding`` (one session, all cores, batches
  padded to their longest, 256-token truncation) from a folder holding the verified float model or the
  int8 model, offline (``specific_model_path``; ``HF_HUB_OFFLINE=1``). Needs ``pip install fastembed``;
  the package is not a dependency.

Before the int8 model was built with onnxruntime's tools, ``ours`` edited the ONNX graph by hand; both
were measured side by side at commit 75e6d2a (``benchmarks/results/ingest-maintained-vs-handwritten.txt``).
"""


def chroma_default_embedding(folder: Path) -> Any:
    """Chroma's ``ONNXMiniLM_L6_V2`` reading our verified ``model.onnx`` and ``tokenizer.json`` from
    ``folder`` (where it expects its extracted download), with its download disabled.

    It checks that six files exist but reads only those two: the other four are left empty here.
    Our ``model.onnx`` stores int8 weights that the graph dequantises, so Chroma's session computes
    in float32 as with its own file.
    """
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    from langgraph_cloudlocal.embeddings import verify_embedding_model

    source = verify_embedding_model()
    files = folder / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME
    files.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "tokenizer.json"):
        (files / name).symlink_to(source / name)
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"):
        (files / name).write_text("")

    class OfflineChromaMiniLM(ONNXMiniLM_L6_V2):  # type: ignore[misc]
        DOWNLOAD_PATH = folder

        def _download(self, url: str, fname: str, chunk_size: int = 1024) -> None:
            raise RuntimeError(f"the benchmark must not download ({url})")

    function = OfflineChromaMiniLM(preferred_providers=["CPUExecutionProvider"])
    function(["warm up"])  # loads the session (and would fail here rather than download)
    return function


class FastEmbedEmbeddings(Embeddings):
    """fastembed's ``TextEmbedding`` for MiniLM, loaded from a local folder only."""

    def __init__(self, folder: Path, model: Path) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: specific_model_path already skips the hub
        from fastembed import TextEmbedding

        from langgraph_cloudlocal.embeddings import verify_embedding_model

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").symlink_to(model)
        (folder / "tokenizer.json").symlink_to(verify_embedding_model() / "tokenizer.json")
        # fastembed reads the context length and pad token from here (the hub's file has more keys)
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"model_max_length": 256, "pad_token": "[PAD]"})
        )
        self.threads = os.cpu_count() or 1
        self.model = TextEmbedding(
            "sentence-transformers/all-MiniLM-L6-v2",
            specific_model_path=str(folder),
            cache_dir=str(folder / "cache"),
            threads=self.threads,
        )

    def embed_array(self, texts: list[str]) -> Any:
        import numpy as np

        return np.asarray(list(self.model.embed(texts, batch_size=64)), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def load_contender(name: str, folder: Path) -> tuple[Any, float, str]:
    """The embedding for ``name``, the seconds it took to load, and a description."""
    from langgraph_cloudlocal import embeddings as emb

    started = time.perf_counter()
    if name == "ours":
        embedding: Any = emb.resolve_embeddings("minilm")
        what = f"resolve_embeddings('minilm'): {embedding!r}"
    elif name == "ours-fp32":
        embedding = emb.resolve_embeddings("minilm:fp32")
        what = f"resolve_embeddings('minilm:fp32'): {embedding!r}"
    elif name == "ours-intra":
        embedding = emb.MiniLMEmbeddings(precision="int8", threads=1)
        cores = os.cpu_count() or 1
        embedding._runner = _session_runner(embedding.model_file, intra_threads=cores)
        what = f"the int8 model, batches one after another on one session with {cores} intra-op threads"
    elif name == "chroma":
        embedding = emb.resolve_embeddings(chroma_default_embedding(folder / "chroma-model"))
        what = "Chroma's ONNXMiniLM_L6_V2 (onnxruntime, all cores, inputs padded to 256, batches of 32)"
    elif name in ("fastembed", "fastembed-int8"):
        models = emb.verify_embedding_model()
        model = models / (emb.INT8_MODEL_FILENAME if name.endswith("int8") else "model.onnx")
        fast = FastEmbedEmbeddings(folder / name, model)
        embedding = fast
        what = f"fastembed TextEmbedding offline on {model.name} (threads={fast.threads}, batches of 64)"
    else:
        raise SystemExit(f"unknown contender {name!r}; known: {', '.join(CONTENDERS)}")
    return embedding, time.perf_counter() - started, what


def _session_runner(model: Path, intra_threads: int) -> Any:
    """A callable ``(input_ids, mask) -> hidden states`` over one onnxruntime session."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}

    def run(input_ids: Any, mask: Any) -> Any:
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return session.run(None, feed)[0]

    return run


def cosines_to_reference(loaded: dict[str, tuple[Any, float, str]], texts: list[str]) -> dict[str, Any]:
    """Cosine of each contender's vectors to float32 MiniLM's (sentence-transformers' numbers), per text."""
    import numpy as np

    from langgraph_cloudlocal.embeddings import MiniLMEmbeddings

    reference = MiniLMEmbeddings(precision="fp32").embed_array(texts)
    out = {}
    for name, (embedding, _, _) in loaded.items():
        vectors = np.asarray(embedding.embed_documents(texts), dtype=np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        out[name] = (vectors * reference).sum(1)
    return out


def ingest_once(text: str, embedding: Any, folder: Path, name: str) -> dict[str, float]:
    """Chunk, embed and store ``text`` into a fresh persistent collection; time it."""
    from langgraph_cloudlocal.store import ChunkStore

    timed = TimedEmbeddings(embedding)
    store = ChunkStore.persistent(folder, collection=name.replace("-", "_"), embedding=timed)
    started, cpu_started = time.perf_counter(), time.process_time()
    store.add_documents(Document(text))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    chunks = store.count()
    store.close()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "embed_seconds": timed.seconds, "chunks": chunks}


def spread(values: list[float]) -> str:
    import statistics

    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def bench_ingest(chars: int, seed: int, runs: int, contenders: list[str], cosine_sample: int = 100) -> float:
    """Returns the median seconds per 1M characters of ``ours`` (or of the first contender)."""
    import statistics

    from langgraph_cloudlocal.store import ChunkStore

    text = generate_text(chars, seed)
    size, overlap = CHUNKING_DEFAULTS["chars"]
    per_million = 1_000_000 / chars
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        loaded = {name: load_contender(name, root) for name in contenders}
        print(
            f"== ingest: {chars:,} characters, chunking 'chars' size={size} overlap={overlap} (the default)"
        )
        print(f"  cores: {os.cpu_count()}, load average at start: {load_average()}")
        for name, (_, load_seconds, what) in loaded.items():
            print(f"  {name}: {what}; loaded in {load_seconds:.1f} s")
        sample = [c.text for c in itertools.islice(iter_chunks(Document(text), "chars"), cosine_sample)]
        for name, cosines in cosines_to_reference(loaded, sample).items():
            print(
                f"  {name}: cosine to float32 MiniLM over {len(sample)} chunks: min {cosines.min():.4f}, "
                f"mean {cosines.mean():.4f}",
                flush=True,
            )
        for run in range(runs):
            for name in contenders:  # interleaved, so load from other processes hits all alike
                result = ingest_once(text, loaded[name][0], root / f"{name}-{run}", name)
                results[name].append(result)
                print(
                    f"  run {run + 1} {name}: {result['seconds'] * per_million:.1f} s wall, "
                    f"{result['cpu_seconds'] * per_million:.1f} CPU-s per 1M chars "
                    f"(embedding {result['embed_seconds'] * per_million:.1f} s; {result['chunks']:.0f} chunks; "
                    f"load {load_average()})",
                    flush=True,
                )
        ours = loaded[contenders[0]][0]
        store = ChunkStore.persistent(root / "extra", collection="extra", embedding=ours)
        (doc_id,) = store.add_documents(Document(text))
        stored = store.count()
        started = time.perf_counter()
        store.add_documents(Document(text))
        again = time.perf_counter() - started
        queries = ["Who approved the contract for street lighting?", "costs reported in Tromsø in 2011"]
        started = time.perf_counter()
        for _ in range(5):
            for query in queries:
                store.search(query, k=4)
        search_ms = (time.perf_counter() - started) / (5 * len(queries)) * 1000
        recount = store.count()
        store.close()

    print(f"== per 1M characters, min / median / max over {runs} run(s), {os.cpu_count()} cores")
    print("  contender | wall s | CPU-s (all threads) | CPU-s / cores (wall on idle cores, estimated)")
    cores = os.cpu_count() or 1
    for name in contenders:
        walls = [r["seconds"] * per_million for r in results[name]]
        cpus = [r["cpu_seconds"] * per_million for r in results[name]]
        print(f"  {name} | {spread(walls)} | {spread(cpus)} | {spread([c / cores for c in cpus])}")
    medians = {
        name: statistics.median(r["seconds"] * per_million for r in results[name]) for name in contenders
    }
    if "chroma" in contenders:
        for name in contenders:
            if name == "chroma":
                continue
            paired = [
                c["seconds"] / o["seconds"] for c, o in zip(results["chroma"], results[name], strict=True)
            ]
            cpu_paired = [
                c["cpu_seconds"] / o["cpu_seconds"]
                for c, o in zip(results["chroma"], results[name], strict=True)
            ]
            print(
                f"  {name} vs Chroma's default: {spread(paired)}x faster in wall time (run by run), "
                f"{spread(cpu_paired)}x fewer CPU-seconds; goal >= 2x: "
                f"{'met' if statistics.median(paired) >= 2 else 'MISSED'}"
            )
    first = contenders[0]
    print(
        f"  goal 1M chars <= 30 s ({first}): {'met' if medians[first] <= 30 else 'MISSED'} "
        f"(median {medians[first]:.1f} s wall; load average now {load_average()})"
    )
    print(
        f"  re-ingest of the same document {doc_id} (no-op): {again:.2f} s, count {stored:,} -> {recount:,}"
    )
    print(f"  search (dense + lexical, k=4): {search_ms:.0f} ms per query")
    print(f"  peak RSS of this process: {peak_rss_mb():.0f} MB")
    return medians[first]


def write_big_file(path: Path, megabytes: int, seed: int) -> None:
    block = generate_text(1_000_000, seed)  # ASCII except a few place names
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < megabytes * 1_000_000:
            out.write(block)
            out.write("\n\n")
            written += len(block.encode()) + 2


def child(mode: str, path: str) -> None:
    """Run in a fresh process so that its peak RSS is its own."""
    import langgraph_cloudlocal.store  # noqa: F401  (count the imports in the baseline)

    baseline = peak_rss_mb()
    started = time.perf_counter()
    if mode == "baseline":
        result: dict[str, Any] = {}
    elif mode == "chunk":
        doc = load_document(path)
        chunks = sum(1 for _ in iter_chunks(doc, "chars"))
        result = {"chunks": chunks, "streamed": doc.streamed, "chars": doc.char_count}
    elif mode == "ingest":
        from langgraph_cloudlocal.store import ChunkStore

        with tempfile.TemporaryDirectory(prefix="bench-big-") as folder:
            store = ChunkStore.persistent(
                folder, collection="big", embedding=HashedEmbeddings(), batch_size=256
            )
            store.add_documents(path)
            result = {"chunks": store.count()}
            store.close()
    else:
        raise SystemExit(f"unknown mode {mode}")
    result.update(seconds=time.perf_counter() - started, baseline_mb=baseline, peak_mb=peak_rss_mb())
    print(json.dumps(result))


def run_child(mode: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_big_file(megabytes: int, seed: int, ingest_seconds_per_mchar: float | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-50mb-") as folder:
        path = Path(folder) / "big.txt"
        write_big_file(path, megabytes, seed)
        size_mb = path.stat().st_size / 1e6
        print(f"== streaming a {size_mb:.0f} MB text file (peak RSS of a fresh process)")
        base = run_child("baseline", path)
        print(f"  imports only: {base['peak_mb']:.0f} MB")
        chunked = run_child("chunk", path)
        print(
            f"  load + chunk ('chars' defaults): {chunked['chunks']:,} chunks in {chunked['seconds']:.1f} s, "
            f"streamed={chunked['streamed']}, peak RSS {chunked['peak_mb']:.0f} MB"
        )
        ingested = run_child("ingest", path)
        print(
            f"  load + chunk + store into persistent Chroma, with a cheap 64-d hashed embedding standing in "
            f"for MiniLM: {ingested['chunks']:,} chunks in {ingested['seconds']:.1f} s, peak RSS "
            f"{ingested['peak_mb']:.0f} MB"
        )
        chars_m = chunked["chars"] / 1e6
        print(
            f"  with MiniLM the same file would take about {chars_m * (ingest_seconds_per_mchar or 0):,.0f} s "
            f"on this machine (extrapolated from the 1M-character run, not measured)"
            if ingest_seconds_per_mchar
            else "  (run with --chars above 0 to extrapolate the MiniLM time)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender, interleaved")
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=CONTENDERS,
        default=["ours", "chroma"],
        help="embeddings to compare (the first is the one the 30 s goal is checked on)",
    )
    parser.add_argument("--big-mb", type=int, default=50, help="size of the streamed file; 0 skips it")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    per_mchar = bench_ingest(args.chars, args.seed, args.runs, args.contenders) if args.chars else None
    if args.big_mb:
        bench_big_file(args.big_mb, args.seed, per_mchar)


if __name__ == "__main__":
    main()
