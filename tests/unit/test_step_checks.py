"""The arithmetic step check (AdaSwitch's "arithmetic" verifier): the parser, equations, score levels."""

from __future__ import annotations

import pytest

from langgraph_cloudlocal.protocols.step_checks import (
    CHECKED,
    NOTHING_TO_CHECK,
    UNCHECKED_NUMBER,
    UNGROUNDED_OPERAND,
    WRONG_ARITHMETIC,
    check_step,
    equations,
    evaluate,
    numbers_in,
)

QUESTION = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("48/2", 24),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("48 / 2 / 3", 8),
        ("$1,200 x 3", 3600),
        ("0.2 X 50", 10),
        ("6 × 7 ÷ 2", 21),
        ("20% * 50", 10),
        (".5 * 8", 4),
        ("$1.20 x 4", 4.8),
    ],
)
def test_evaluate_plain_arithmetic(text: str, value: float) -> None:
    assert evaluate(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S + 143",
        "+ 3",
        "2 ** 3",
        "2 ^ 3",
        "3 +",
        "(2 + 3",
        "2 + 3)",
        "4 / 0",
        "abs(3)",
        "1 " * 200,
        "x 5",
    ],
)
def test_evaluate_refuses_anything_else(text: str) -> None:
    assert evaluate(text) is None


def test_equations_in_a_chain_and_across_sentences() -> None:
    found = equations("8 * 8 = 64. 64 * 8 = 48. 48 * 8 = 32")
    assert [(e.text, e.holds) for e in found] == [
        ("8 * 8 = 64", True),
        ("64 * 8 = 48", False),
        ("48 * 8 = 32", False),
    ]
    chained = equations("S + 143 = 200 - 16 = 184")  # the side with a variable is not checked
    assert [(e.text, e.holds) for e in chained] == [("200 - 16 = 184", True)]
    assert equations("2 * 2S = 4S people") == []
    assert equations("5 snakes/jaguar * 6 jaguars = 30 snakes") == []
    assert equations("In May 48 / 2 = 24, so 48 + 24 = 72.")[1].operands == [48, 24]


@pytest.mark.parametrize(
    ("text", "holds"),
    [("10 / 3 = 3.33", True), ("10 / 3 = 3.3", True), ("10 / 3 = 3.4", False), ("7 / 2 = 4", False),
     ("$9 / $27 * 100% = 33.333%", True), ("1,000 x .2 = 200", True), ("$1.20 x 4 = $4.80.", True)],
)  # fmt: skip
def test_rounded_results_hold_within_half_a_unit_of_their_last_digit(text: str, holds: bool) -> None:
    (found,) = equations(text)
    assert found.holds is holds


def test_numbers_in_reads_digits_percentages_and_number_words() -> None:
    assert numbers_in("half of 1,200 is 600, and 40% more") >= {2, 0.5, 1200, 600, 40, 0.4}
    assert numbers_in("a dozen eggs, twice") >= {12, 2}


@pytest.mark.parametrize(
    ("step", "final", "score"),
    [
        ("8 * 8 = 64. 64 * 8 = 48.", None, WRONG_ARITHMETIC),
        ("She sold 48 / 2 = 25 clips in May.", None, WRONG_ARITHMETIC),
        ("She sold 72 clips in all.", None, UNCHECKED_NUMBER),
        ("Adding both months.", "72", UNCHECKED_NUMBER),  # a final answer from nowhere
        ("She sold 48 + 37 = 85 clips.", None, UNGROUNDED_OPERAND),  # 37 is not in the question
        ("She sold 48 clips in April.", None, NOTHING_TO_CHECK),
        ("In May she sold 48 / 2 = 24 clips.", None, CHECKED),
    ],
)
def test_score_levels(step: str, final: str | None, score: float) -> None:
    check = check_step([QUESTION], step, final)
    assert check.score == score
    assert check.reason.startswith("arithmetic")


def test_earlier_steps_ground_later_ones() -> None:
    step = "In all she sold 48 + 35 = 83 clips."
    assert check_step([QUESTION], step).score == UNGROUNDED_OPERAND  # 35 comes from nowhere...
    assert check_step([QUESTION, "She sold 35 clips in May."], step).score == CHECKED  # ...or from step 1


def test_wrong_reason_names_the_false_equation() -> None:
    check = check_step([QUESTION], "So 48 + 24 = 62.")
    assert "48 + 24 = 62" in check.reason and "72" in check.reason


def test_a_final_answer_must_come_out_of_a_calculation() -> None:
    copied = check_step([QUESTION], "She sold clips in both months.", "48")  # 48 is given, not derived
    assert copied.score == UNCHECKED_NUMBER and "result of no calculation" in copied.reason
    derived_here = check_step([QUESTION, "May: 48 / 2 = 24."], "In all 48 + 24 = 72.", "72")
    assert derived_here.score == CHECKED
    derived_before = check_step([QUESTION, "May: 48 / 2 = 24.", "In all 48 + 24 = 72."], "So 72 clips.", "72")
    assert derived_before.score == NOTHING_TO_CHECK
