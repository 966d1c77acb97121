"""The labels and AUROC behind the verifier figures of benchmarks/bench_adaswitch.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_cloudlocal.evaluation.datasets import EvalItem

ROOT = Path(__file__).resolve().parents[2]
ITEM = EvalItem(
    question="Natalia sold clips to 48 of her friends in April, and then she sold half as many in May. How many in all?",
    answer="72",
    metric="numeric",
    meta={"solution": ["Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+24 = 72 clips altogether."]},
)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_adaswitch", ROOT / "benchmarks" / "bench_adaswitch.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_adaswitch"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("step", "final", "wrong", "why"),
    [
        ("In May she sold 48 / 2 = 24 clips.", "", False, "on the gold path"),
        ("She sold 48 clips in April.", "", False, "on the gold path"),
        ("In May she sold 48 / 2 = 25 clips.", "", True, "false arithmetic"),
        ("In May she sold 48 - 12 = 36 clips.", "", True, "off the gold path"),  # true, but not on the path
        ("In all 48 + 24 = 72.", "72", False, "on the gold path"),
        ("In all she sold 70.", "70", True, "final answer"),
    ],
)
def test_label_step(bench: ModuleType, step: str, final: str, wrong: bool, why: str) -> None:
    label = bench.label_step(ITEM, step, bool(final), final)
    assert label[0] is wrong and label[1].startswith(why)


def test_auroc(bench: ModuleType) -> None:
    assert bench.auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert bench.auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert bench.auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert bench.auroc([0.9, 0.1, 0.5], [True, False, False]) == 1.0
    assert bench.auroc([0.3, 0.9, 0.5], [True, False, False]) == 0.0
    assert bench.auroc([0.1, 0.2], [True, True]) is None  # no right step: undefined
