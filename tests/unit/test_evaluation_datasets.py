"""The JSONL dataset format, its loader, and the synthetic generators (and the files shipped from them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from langgraph_cloudlocal.evaluation.datasets import (
    DatasetError,
    EvalItem,
    dataset_name,
    item_hash,
    load_dataset,
    save_dataset,
)
from langgraph_cloudlocal.evaluation.synthetic import (
    DEFAULT_COUNT,
    DEFAULT_SEED,
    generate_arithmetic,
    generate_records,
    write_synthetic_datasets,
)

SHIPPED = Path(__file__).resolve().parents[2] / "datasets"


def _write(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_load_document_and_documents(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "set.jsonl",
        {"question": "Q1?", "answer": "A", "document": "doc one"},
        "",
        "// a comment line",
        {"question": "Q2?", "answer": 3, "documents": ["a", "b"], "id": 7, "metric": "numeric"},
        {"question": "Q3?", "answer": ["NYC", "New York"]},
    )
    items = load_dataset(path)
    assert [i.documents for i in items] == [("doc one",), ("a", "b"), ()]
    assert items[0].id == item_hash("Q1?", ["doc one"]) and len(items[0].id) == 16
    assert items[1].id == "7" and items[1].metric == "numeric"
    assert items[2].answer == ["NYC", "New York"]
    assert items[0].inputs() == {"question": "Q1?", "documents": ["doc one"]}
    assert load_dataset(path, limit=2)[-1].id == "7"


def test_gsm8k_answers_are_read_after_the_marker(tmp_path: Path) -> None:
    path = _write(tmp_path / "gsm8k.jsonl", {"question": "How many?", "answer": "3 + 4 = 7\n#### 1,007"})
    (item,) = load_dataset(path)
    assert item.answer == "1007" and item.meta["solution"] == "3 + 4 = 7"
    assert item.score("The answer is 1,007.").correct


def test_same_question_over_other_documents_is_another_item() -> None:
    assert item_hash("Q?", ["a"]) != item_hash("Q?", ["b"]) != item_hash("Q?")
    assert item_hash(" Q? ", ["a"]) == item_hash("Q?", ["a"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"answer": "x"}', "'question'"),
        ('{"question": "q"}', "'answer'"),
        ('{"question": "q", "answer": ""}', "empty"),
        ('{"question": "q", "answer": true}', "'answer'"),
        ('{"question": "q", "answer": "a", "document": ["x"]}', "'document' must be a string"),
        ('{"question": "q", "answer": "a", "documents": "x"}', "'documents' must be a list"),
        ('{"question": "q", "answer": "a", "document": "x", "documents": ["y"]}', "not both"),
        ('{"question": "q", "answer": "a", "metric": "bleu"}', "unknown metric"),
        ('{"question": "q", "answer": "a", "choices": "x"}', "'choices'"),
        ('{"question": "q", "answer": "a", "tolerance": -1}', "'tolerance'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", {"question": "ok?", "answer": "x"}, line)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(path)
    assert f"{path}:2" in str(info.value)


def test_duplicate_ids_missing_and_empty_files(tmp_path: Path) -> None:
    dup = _write(
        tmp_path / "dup.jsonl",
        {"question": "a?", "answer": 1, "id": "x"},
        {"question": "b?", "answer": 2, "id": "x"},
    )
    with pytest.raises(DatasetError, match="already used on line 1"):
        load_dataset(dup)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="no items"):
        load_dataset(_write(tmp_path / "empty.jsonl", ""))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    items = [
        EvalItem("Q?", 5, ("doc",), metric="numeric", tolerance=0.01, meta={"k": 1}),
        EvalItem("Which?", "B", ("d1", "d2"), id="x", choices=("A", "B")),
    ]
    path = save_dataset(items, tmp_path / "out" / "set.jsonl")
    assert load_dataset(path) == items
    assert dataset_name(path) == "set" and dataset_name("a/b.c.json") == "b.c"


# --------------------------------------------------------------------------------------------------
# Synthetic sets


def _records(document: str) -> dict[str, dict[str, str]]:
    """Parse a records document back into {company: {field: value}} (independently of the generator)."""
    records = {}
    for block in document.split("\n\n")[1:]:
        fields = dict(line.split(": ", 1) for line in block.splitlines()[1:])
        records[fields["Company"]] = fields
    return records


def _int(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_records_gold_follows_from_the_document() -> None:
    items = generate_records(30, seed=3)
    kinds = {item.meta["kind"] for item in items}
    assert {"lookup_revenue", "compare_employees", "sum_revenue", "lookup_ceo", "compare_founded"} <= kinds
    for item in items:
        (document,) = item.documents
        records = _records(document)
        assert len(records) == 14 and 1500 < len(document) < 4000  # a few KB: fits small models' context
        prefixes = [name.split()[0] for name in records]
        assert len(set(prefixes)) < len(prefixes)  # near-identical names are there as distractors
        named = [name for name in records if name in item.question]
        if item.meta["kind"] == "lookup_revenue":
            assert item.answer == _int(records[named[0]]["Revenue 2023"])
        elif item.meta["kind"] == "sum_revenue":
            assert item.answer == sum(_int(records[n]["Revenue 2023"]) for n in named)
        elif item.meta["kind"] == "sum_employees":
            assert item.answer == sum(_int(records[n]["Employees"]) for n in named)
        elif item.meta["kind"] == "compare_employees":
            assert item.answer == max(named, key=lambda n: _int(records[n]["Employees"]))
            assert set(item.choices or ()) == set(named)
        elif item.meta["kind"] == "compare_founded":
            assert item.answer == min(named, key=lambda n: _int(records[n]["Founded"]))
        elif item.meta["kind"] == "lookup_ceo":
            assert item.answer == records[named[0]]["CEO"]
        # the gold answer scores itself as correct, stated as a sentence
        assert item.score(f"The answer is {item.answer}.").correct


def test_arithmetic_gold_follows_from_the_solution() -> None:
    items = generate_arithmetic(24, seed=5)
    assert len({item.meta["kind"] for item in items}) == 8
    for item in items:
        steps = item.meta["solution"]
        assert len(steps) == item.meta["steps"] and 3 <= len(steps) <= 4
        for step in steps:  # every worked step is true arithmetic
            left, right = step.split(" = ")
            expression = left.replace(" x ", " * ").replace("%", " / 100")
            assert eval(expression, {"__builtins__": {}}) == pytest.approx(float(right))  # noqa: S307
        assert float(steps[-1].split(" = ")[-1]) == item.answer  # the last step gives the gold answer
        assert isinstance(item.answer, int) and item.answer >= 0
        assert item.documents and str(item.answer) not in item.question


def test_generators_are_deterministic_and_seeded() -> None:
    assert generate_records(5, seed=1) == generate_records(5, seed=1)
    assert generate_records(5, seed=1) != generate_records(5, seed=2)
    assert generate_arithmetic(5, seed=1) == generate_arithmetic(5, seed=1)
    assert generate_arithmetic(5, seed=1) != generate_arithmetic(5, seed=2)
    with pytest.raises(ValueError):
        generate_records(0)


def test_shipped_datasets_match_their_generator(tmp_path: Path) -> None:
    paths = write_synthetic_datasets(tmp_path, count=DEFAULT_COUNT, seed=DEFAULT_SEED)
    for path in paths:
        shipped = SHIPPED / path.name
        assert shipped.exists(), f"{shipped} is missing: python -m langgraph_cloudlocal.evaluation generate"
        assert shipped.read_text() == path.read_text(), f"{shipped} differs from its generator"
        assert len(load_dataset(shipped)) == (24 if path.name == "filings.jsonl" else DEFAULT_COUNT)


def test_filings_are_long_documents_with_computed_gold_and_traps() -> None:
    from langgraph_cloudlocal.evaluation.filings import FILINGS_QUESTION_KINDS, generate_filings

    items = generate_filings()
    assert len(items) == 24 and generate_filings() == items and generate_filings(seed=8) != items
    documents = {item.documents[0] for item in items}
    assert len(documents) == 6
    assert all(30_000 <= len(d) <= 60_000 for d in documents)  # cloud-only reads >= 8 K tokens a question
    assert {item.meta["category"] for item in items} == set(FILINGS_QUESTION_KINDS)
    for item in items:
        text = item.documents[0]
        facts = item.meta["facts"]
        for fact in facts:
            # The gold value is written in the entity's own section.
            section = text.split(f"## {fact['entity']}\n")[1].split("\n## ")[0]
            value = fact["value"]
            shown = f"{value:,}" if fact["fact"].startswith("employees") else str(value)
            assert shown in section, (item.id, fact)
            assert fact["entity"] in item.question
        kind = item.meta["category"]
        if kind == "sum":
            assert item.answer == sum(f["value"] for f in facts)
        if kind == "comparison":
            assert item.answer == max(facts, key=lambda f: f["value"])["entity"]
        if kind == "which":
            city = item.question.split("headquartered in ")[1].split(":")[0]
            assert [f["entity"] for f in facts if f["value"] == city] == [item.answer]
    # The traps: namesakes, and a namesake's figure quoted in another company's section.
    assert "It is often confused with" in items[0].documents[0] or "By comparison," in items[0].documents[0]
    names = [line[3:] for line in items[0].documents[0].splitlines() if line.startswith("## ")]
    prefixes = [n.split()[0] for n in names]
    assert sum(prefixes.count(p) == 2 for p in set(prefixes)) >= len(set(prefixes)) - 1
