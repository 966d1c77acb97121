"""Metrics on tricky strings and numbers."""

from __future__ import annotations

import pytest

from langgraph_cloudlocal.evaluation.metrics import (
    answer_span,
    contains_match,
    exact_match,
    find_numbers,
    normalize_answer,
    numeric_match,
    parse_number,
    score,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Lisbon!", "lisbon"),
        ("  José   Ruiz. ", "jose ruiz"),
        ("an apple; a pear", "apple pear"),
        ("**Aldor Systems**", "aldor systems"),
        ("O\u2019Brien\u2014Smith", "o brien smith"),
        ("ﬁnance", "finance"),  # NFKC ligature
        ("<think>maybe Oslo</think> Lisbon", "lisbon"),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1,234,567.89", [1234567.89]),
        ("$1,234.50 and €3", [1234.5, 3]),
        ("\u22125 and -7", [-5, -7]),
        ("3/4 of 12", [0.75, 12]),
        ("1e3", [1000]),
        (".5", [0.5]),
        ("2023-24", [2023, 24]),  # a range, not minus 24
        ("v2 and abc123", []),  # identifiers
        ("1\u00a0234", [1234]),  # non-breaking-space thousands
        ("forty-two", [42]),
        ("twelve, not 13", [13]),  # words only when there are no digits
    ],
)
def test_find_numbers(text: str, values: list[float]) -> None:
    assert [n.value for n in find_numbers(text)] == pytest.approx(values)


def test_scales_and_percent_are_alternative_readings() -> None:
    (million,) = find_numbers("$412 million")
    assert million.value == 412 and million.alternatives == (412e6,)
    (percent,) = find_numbers("12.5%")
    assert percent.value == 12.5 and percent.alternatives == (0.125,)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("412", 412),
        ("$1,234", 1234),
        ("12%", 12),
        ("3/4", 0.75),
        ("7 apples", 7),
        ("-3.5", -3.5),
        ("1998.", 1998),
        ("~40", 40),
        ("Route 66", None),  # a name with a number
        ("Lisbon", None),
        ("3 or 4", None),
        ("1,2,3", None),
        ("5 = 2 + 3", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("The 2023 revenue of Lorne Logistics was $838 million.", 838, True),
        (
            "In 2023, Lorne Logistics had revenue of $838 million.",
            838,
            True,
        ),  # the question's year is skipped
        ("838", "838", True),
        ("$1,234.50", "1234.5", True),
        ("1234.5001", 1234.5, True),  # within the default relative tolerance
        ("1235", 1234.5, False),
        ("\u22125 degrees", -5, True),  # unicode minus
        ("The answer is 3/4.", 0.75, True),
        ("12.5%", 0.125, True),
        ("about 1.2 million", 1_200_000, True),
        ("forty-two", 42, True),
        ("#### 72", 72, True),
        ("\\boxed{1,000}", 1000, True),
        ("First 9 x 6 = 54.\nThen 54 - 16 = 38.\n38 / 2 = 19", 19, True),  # chain of thought: last number
        ("Answer: 7\nBecause 3 + 4 = 7, not 8.", 8, False),  # a marker wins over later numbers
        ("Final answer: 19", 19, True),
        ("So, the answer is $121 - $61 = 60. The answer is 60.", 60, True),  # the last marker wins
        ("Answer: 3 + 4 = 7", 7, True),  # after the last "="
        ("It has 2,310 employees.", "2,310", True),
        ("", 5, False),
        ("I cannot tell from the document.", 5, False),
    ],
)
def test_numeric_match(prediction: str, gold: float | str, correct: bool) -> None:
    question = "What was the 2023 revenue of Lorne Logistics, in millions of dollars?"
    assert numeric_match(prediction, gold, question=question).correct is correct


def test_numeric_tolerance_is_configurable() -> None:
    assert not numeric_match("101", 100).correct
    assert numeric_match("101", 100, rel_tol=0.02).correct
    assert numeric_match("0.30000001", 0.3).correct
    assert numeric_match("0", 0).correct  # absolute tolerance covers zero


def test_numeric_match_keeps_question_numbers_when_nothing_else() -> None:
    result = numeric_match("2023", 2023, question="In which year after 2022 did it happen, 2023?")
    assert result.correct


def test_numeric_records_how_it_decided() -> None:
    result = numeric_match("Revenue: $838 million (2023)", 838, question="2023 revenue?")
    assert result.correct and result.rule == "first_line" and result.extracted == "$838 million"
    assert result.details["value"] == 838 and result.as_dict()["metric"] == "numeric"


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("Lisbon", "Lisbon", True),
        ("lisbon.", "Lisbon", True),
        ("The Lisbon", "Lisbon", True),
        ("Lisbon, Portugal", "Lisbon", False),
        ("Answer: Lisbon\nIt is the headquarters.", "Lisbon", True),
    ],
)
def test_exact_match(prediction: str, gold: str, correct: bool) -> None:
    assert exact_match(prediction, gold).correct is correct


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("The CEO is Dr. José Ruiz.", "Jose Ruiz", True),
        ("Its CEO, MARIA OKAFOR, said...", "Maria Okafor", True),
        ("Anna Smith", "Ann Smith", False),  # word boundaries
        ("Maria Okaforova", "Maria Okafor", False),
        ("Okafor, Maria", "Maria Okafor", False),  # word order matters
        ("It is in Lisbon, Portugal.", "Lisbon", True),
    ],
)
def test_contains_match(prediction: str, gold: str, correct: bool) -> None:
    assert contains_match(prediction, gold).correct is correct


@pytest.mark.parametrize(
    ("prediction", "correct"),
    [
        ("Aldor Systems has more employees than Aldor Logistics.", True),
        ("Aldor Systems", True),
        ("Aldor Logistics has fewer employees than Aldor Systems.", False),  # first named is the choice
        ("Aldor Logistics or Aldor Systems", False),
        ("Aldor", False),
        ("Neither", False),
    ],
)
def test_choice_match_takes_the_first_named_candidate(prediction: str, correct: bool) -> None:
    choices = ["Aldor Logistics", "Aldor Systems"]
    assert score(prediction, "Aldor Systems", choices=choices).correct is correct


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("Yes, it is.", "yes", True),
        ("No.", "Yes", False),
        ("True", "yes", True),
        ("Nope, that is not right", "no", False),
    ],
)
def test_yes_no(prediction: str, gold: str, correct: bool) -> None:
    result = score(prediction, gold)
    assert result.metric == "yes_no" and result.correct is correct


def test_auto_picks_metric_from_gold() -> None:
    assert score("It was $838 million", 838).metric == "numeric"
    assert score("It was $838 million", "838").metric == "numeric"
    assert score("Lisbon", "Lisbon").metric == "exact"
    assert score("It is in Lisbon", "Lisbon").metric == "contains"
    assert score("Route 66 Diner", "Route 66").correct  # a name, not a number


def test_gold_aliases_any_may_match() -> None:
    result = score("It is NYC.", ["New York City", "NYC"])
    assert result.correct and result.gold_used == "NYC"
    assert not score("Boston", ["New York City", "NYC"]).correct


def test_explicit_metric_and_errors() -> None:
    assert not score("It is in Lisbon", "Lisbon", metric="exact").correct
    assert score("It is in Lisbon", "Lisbon", metric="contains").correct
    with pytest.raises(ValueError, match="unknown metric"):
        score("x", "x", metric="bleu")
    with pytest.raises(ValueError, match="empty"):
        score("x", [])
    assert not numeric_match("5", "a thing").correct  # gold not numeric


def test_answer_span() -> None:
    assert answer_span("\n\nLisbon\nbecause...") == ("Lisbon", "first_line")
    assert answer_span("Let me think.\nThe answer is: 42") == ("42", "marker")
    assert answer_span("the answer is 4 or so; the answer is 5") == ("5", "marker")
    assert answer_span("") == ("", "empty")
