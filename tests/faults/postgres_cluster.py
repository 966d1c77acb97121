"""A throwaway PostgreSQL cluster on a free 127.0.0.1 port, in a temp dir, for the checkpointer tests.

Uses Debian's server binaries (``scripts/setup.sh`` installs the ``postgresql`` package when they are
missing). ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user and
every server command runs through ``runuser -u postgres --``. Trust authentication, loopback only, no
fsync (a test cluster: speed over durability of the cluster itself).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SETUP_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin: "
    "run `bash scripts/setup.sh` (it installs Debian's postgresql package), or `apt-get install postgresql`"
)


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    for initdb in reversed(candidates):
        if Path(initdb).with_name("pg_ctl").exists():
            return Path(initdb).parent
    return None


class PostgresCluster:
    def __init__(self, port: int) -> None:
        self.port = port
        self.bin = find_pg_bin()
        if self.bin is None:
            raise PostgresUnavailable(SETUP_HINT)
        self.root = Path(tempfile.mkdtemp(prefix="cloudlocal-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}\n{log}"
            )
        return result

    def start(self) -> PostgresCluster:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run(
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    timeout=60,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
