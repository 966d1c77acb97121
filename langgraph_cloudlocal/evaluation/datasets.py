"""The evaluation dataset format (JSONL, one item a line) and its loader.

Each line is a JSON object::

    {"question": "...", "answer": "412", "document": "...long text..."}

* ``question`` (string, required);
* ``answer`` (required): the gold answer — a string, a number, or a list of accepted aliases;
  a GSM8K-style answer ``"...worked solution... #### 72"`` is read as ``72`` (the solution is kept
  in ``meta["solution"]``), so GSM8K's own ``test.jsonl`` loads as it is;
* ``document`` (a string) or ``documents`` (a list of strings), optional: the private context;
* optional: ``id`` (a stable identifier; otherwise a hash of the question and documents is used),
  ``metric`` (``auto`` | ``exact`` | ``numeric`` | ``contains``, see :mod:`.metrics`), ``choices``
  (candidates of a comparison question), ``tolerance`` (relative, for numeric answers), ``meta``
  (anything; kept in the results).

Blank lines and lines starting with ``//`` are skipped. Errors name the file and line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.evaluation.metrics import DEFAULT_REL_TOL, METRICS, MatchResult, score

Gold = str | float | int | list[str | float | int]


class DatasetError(CloudLocalError, ValueError):
    """A dataset file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class EvalItem:
    """One question with its gold answer and (optionally) its documents."""

    question: str
    answer: Gold
    documents: tuple[str, ...] = ()
    id: str = ""
    metric: str = "auto"
    choices: tuple[str, ...] | None = None
    tolerance: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", item_hash(self.question, self.documents))

    def inputs(self) -> dict[str, Any]:
        """The protocol input: ``{"question": ..., "documents": [...]}``."""
        return {"question": self.question, "documents": list(self.documents)}

    def score(self, prediction: str) -> MatchResult:
        """Score a prediction against this item's gold answer with the item's metric."""
        return score(
            prediction,
            self.answer,
            metric=self.metric,
            question=self.question,
            choices=self.choices,
            rel_tol=self.tolerance if self.tolerance is not None else DEFAULT_REL_TOL,
        )

    def to_json(self) -> dict[str, Any]:
        """The item as a JSONL record (``document`` when there is exactly one)."""
        record: dict[str, Any] = {"id": self.id, "question": self.question, "answer": self.answer}
        if len(self.documents) == 1:
            record["document"] = self.documents[0]
        elif self.documents:
            record["documents"] = list(self.documents)
        if self.metric != "auto":
            record["metric"] = self.metric
        if self.choices:
            record["choices"] = list(self.choices)
        if self.tolerance is not None:
            record["tolerance"] = self.tolerance
        if self.meta:
            record["meta"] = self.meta
        return record


def item_hash(question: str, documents: Sequence[str] = ()) -> str:
    """A stable 16-hex-digit id from the question and documents (the same question over other
    documents is another item)."""
    digest = hashlib.sha256(question.strip().encode())
    for document in documents:
        digest.update(b"\x00")
        digest.update(document.encode())
    return digest.hexdigest()[:16]


def _gold_of(value: Any, meta: dict[str, Any], where: str) -> Gold:
    if isinstance(value, bool) or value is None:
        raise DatasetError(f"{where}: 'answer' must be a string, a number or a list of them, got {value!r}")
    if isinstance(value, str):
        if "####" in value:  # GSM8K: "worked solution ... #### 72"
            solution, _, final = value.rpartition("####")
            meta.setdefault("solution", solution.strip())
            value = final.strip().replace(",", "")
        if not value.strip():
            raise DatasetError(f"{where}: 'answer' is empty")
        return value.strip()
    if isinstance(value, int | float):
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        return list(value)
    raise DatasetError(
        f"{where}: 'answer' must be a string, a number or a non-empty list of them, got {value!r}"
    )


def parse_item(record: Any, where: str = "item") -> EvalItem:
    """Build an :class:`EvalItem` from one decoded JSON record; raise :class:`DatasetError` if invalid."""
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: 'question' must be a non-empty string")
    if "answer" not in record:
        raise DatasetError(f"{where}: 'answer' (the gold answer) is missing")
    meta = dict(record.get("meta") or {})
    answer = _gold_of(record["answer"], meta, where)
    if "document" in record and "documents" in record:
        raise DatasetError(f"{where}: give 'document' (a string) or 'documents' (a list), not both")
    documents: list[str] = []
    if record.get("document") is not None:
        if not isinstance(record["document"], str):
            raise DatasetError(f"{where}: 'document' must be a string (use 'documents' for a list)")
        documents = [record["document"]]
    elif record.get("documents") is not None:
        docs = record["documents"]
        if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
            raise DatasetError(f"{where}: 'documents' must be a list of strings")
        documents = docs
    metric = record.get("metric", "auto")
    if metric not in METRICS:
        raise DatasetError(f"{where}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
    choices = record.get("choices")
    if choices is not None and (
        not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)
    ):
        raise DatasetError(f"{where}: 'choices' must be a list of strings")
    tolerance = record.get("tolerance")
    if tolerance is not None and (
        not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0
    ):
        raise DatasetError(f"{where}: 'tolerance' must be a non-negative number")
    item_id = record.get("id")
    if item_id is not None and not isinstance(item_id, str | int):
        raise DatasetError(f"{where}: 'id' must be a string or an integer")
    return EvalItem(
        question=question.strip(),
        answer=answer,
        documents=tuple(documents),
        id=str(item_id) if item_id is not None else "",
        metric=metric,
        choices=tuple(choices) if choices else None,
        tolerance=float(tolerance) if tolerance is not None else None,
        meta=meta,
    )


def load_dataset(path: str | Path, *, limit: int | None = None) -> list[EvalItem]:
    """Read a JSONL dataset (the first ``limit`` items when given). Ids must be unique within a file."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset file {path} does not exist")
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("//"):
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            item = parse_item(record, where)
            if item.id in seen:
                raise DatasetError(f"{where}: id {item.id!r} already used on line {seen[item.id]}")
            seen[item.id] = number
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise DatasetError(f"dataset file {path} holds no items")
    return items


def save_dataset(items: Iterable[EvalItem], path: str | Path) -> Path:
    """Write items as JSONL (UTF-8, one item a line); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    return path


# One problem: "Q: ..." (may wrap), optional "Step k: ..." lines, then "Answer: N".
_GSM8K_BLOCK = re.compile(
    r"^Q:[ \t]*(?P<question>.+?)\n(?P<steps>(?:Step \d+:[^\n]*\n)*)Answer:[ \t]*(?P<answer>[^\s]+)[ \t]*$",
    re.M | re.S,
)
_GSM8K_STEP = re.compile(r"^Step \d+:[ \t]*([^\n]+?)[ \t]*$", re.M)


def gsm8k_items_from_markdown(text: str, *, id_prefix: str = "gsm8k") -> list[EvalItem]:
    """GSM8K items from the Markdown form the ``tinytot`` wheel carries (``tinytot/_data/knowledge/
    gsm8k_test.md``: ``Q: ...`` / ``Answer: N`` pairs; ``gsm8k.md`` also has ``Step k: ...`` lines).

    Each item: the question (no document: the problem is the question), the numeric gold answer
    (commas dropped), ``metric="numeric"``, id ``{id_prefix}-{position:04d}`` (1-based, in file order) and
    ``meta.solution`` (the worked steps) when the file gives them. Raises :class:`DatasetError` when the
    text holds no such pair.
    """
    items: list[EvalItem] = []
    for position, found in enumerate(_GSM8K_BLOCK.finditer(text), start=1):
        question, steps, answer = found["question"].strip(), found["steps"], found["answer"]
        meta: dict[str, Any] = {"set": id_prefix, "position": position}
        solution = _GSM8K_STEP.findall(steps)
        if solution:
            meta["solution"] = solution
        gold = answer.replace(",", "").rstrip(".")
        items.append(
            parse_item(
                {
                    "id": f"{id_prefix}-{position:04d}",
                    "question": question,
                    "answer": gold,
                    "metric": "numeric",
                    "meta": meta,
                },
                f"{id_prefix} item {position}",
            )
        )
    if not items:
        raise DatasetError("no 'Q: ...' / 'Answer: N' pairs found in the GSM8K Markdown")
    return items


def dataset_name(path: str | Path) -> str:
    """The name a dataset goes by in results and reports: the file name without ``.jsonl``."""
    name = Path(path).name
    for suffix in (".jsonl", ".json", ".ndjson"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


__all__ = [
    "DatasetError",
    "EvalItem",
    "Gold",
    "dataset_name",
    "gsm8k_items_from_markdown",
    "item_hash",
    "load_dataset",
    "parse_item",
    "save_dataset",
]
