"""The results file: ``results.jsonl``, one line per (dataset, item, protocol), appended as items finish.

Lines are written whole, flushed and fsynced, so a crash or Ctrl-C loses at most the line being
written; a torn last line is cut off the next time the file is opened. A key whose last line is an
error is run again on resume; a key with a successful line never is.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"


def result_key(dataset: str, item_id: str, protocol: str) -> str:
    """The resume key of one result line."""
    return f"{dataset}|{item_id}|{protocol}"


def iter_result_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete, decodable result line of ``path`` (a torn or corrupt line is skipped)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn last line: written when the process died
            text = line.strip()
            if not text:
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "key" in row:
                yield row


def latest_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The row that counts for each key: the last successful one, else the last error."""
    rows: dict[str, dict[str, Any]] = {}
    for row in iter_result_lines(path):
        previous = rows.get(row["key"])
        if previous is not None and previous.get("status") == "ok" and row.get("status") != "ok":
            continue
        rows[row["key"]] = row
    return rows


class ResultsWriter:
    """Appends result lines to ``results.jsonl`` from several threads, durably."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._handle = path.open("a", encoding="utf-8")

    def _repair(self) -> None:
        """Cut a torn last line (no trailing newline) so the next line starts clean."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if not data or data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            handle.truncate(cut)

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["RESULTS_FILE", "RUN_FILE", "ResultsWriter", "iter_result_lines", "latest_rows", "result_key"]
