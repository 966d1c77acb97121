"""The results file: ``results.jsonl``, one line per (dataset, item, protocol), appended as items finish.

Lines are written by :class:`langgraph_cloudlocal.running.JsonlWriter`: whole, fsynced, so a crash or
Ctrl-C loses at most the line being written; a torn last line is cut off the next time the file is opened. A key whose last line is an
error is run again on resume; a key with a successful line never is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.running import read_jsonl

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"


def result_key(dataset: str, item_id: str, protocol: str) -> str:
    """The resume key of one result line.

    Args:
        dataset: The dataset's name.
        item_id: The item's id.
        protocol: The protocol label.

    Returns:
        ``"dataset|item|protocol"``.
    """
    return f"{dataset}|{item_id}|{protocol}"


def iter_result_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete, decodable result line of ``path`` (a torn or corrupt line is skipped).

    Args:
        path: A ``results.jsonl``; a missing file yields nothing.

    Yields:
        Each result row (an object with a ``key``).
    """
    return (row for row in read_jsonl(path) if "key" in row)


def latest_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The row that counts for each key: the last successful one, else the last error.

    Args:
        path: A ``results.jsonl``.

    Returns:
        Key to row.
    """
    rows: dict[str, dict[str, Any]] = {}
    for row in iter_result_lines(path):
        previous = rows.get(row["key"])
        if previous is not None and previous.get("status") == "ok" and row.get("status") != "ok":
            continue
        rows[row["key"]] = row
    return rows


__all__ = ["RESULTS_FILE", "RUN_FILE", "iter_result_lines", "latest_rows", "result_key"]
