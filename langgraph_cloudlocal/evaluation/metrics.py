"""Scoring a prediction against a gold answer: normalised exact match, numeric match with tolerance,
contains-match for names, and an ``auto`` rule that picks one from the gold answer's shape.

Models answer in sentences ("The 2023 revenue of Aldor Systems was $412 million."), so each metric
first finds the part of the prediction that is the answer:

* an explicit marker wins: ``\\boxed{...}``, ``#### ...``, ``Final answer: ...``, ``Answer: ...``,
  ``the answer is ...`` (the last one in the text);
* otherwise the first non-empty line (the project's prompts ask for the answer first).

Numeric match then takes the first number of that span, skipping numbers that appear in the question
(the "2023" of "What was the 2023 revenue?"), unless nothing else is left. When there is no marker and
the first line is a calculation (it contains ``=``) or has no number, the last number of the whole
prediction is taken, as for chain-of-thought answers. Every score records how it decided
(:class:`MatchResult`), so results can be audited line by line.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Metric = Literal["auto", "exact", "numeric", "contains"]
METRICS: tuple[str, ...] = ("auto", "exact", "numeric", "contains")

DEFAULT_REL_TOL = 1e-4
DEFAULT_ABS_TOL = 1e-6


@dataclass(frozen=True)
class MatchResult:
    """The verdict on one prediction and how it was reached."""

    correct: bool
    metric: str  # the metric actually applied ("numeric", "exact", "contains", "yes_no", "choice")
    extracted: str | None = None  # what was read from the prediction (a number, a span, a choice)
    rule: str = ""  # which extraction rule fired (marker, first_line, last_number, ...)
    gold_used: str | None = None  # the gold alias that matched (or the first one)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stored under ``match`` in each result line)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Normalisation

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")
_QUOTES = {ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201c"): '"', ord("\u201d"): '"'}
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def clean_text(text: str) -> str:
    """Unicode-normalise (NFKC), unify dashes and quotes, drop ``<think>`` blocks and markdown emphasis."""
    # Thousands groups split by (narrow) non-breaking or thin spaces ("1 234") are one number;
    # NFKC would turn those spaces into plain ones.
    text = re.sub(r"(?<=\d)[\u00a0\u202f\u2009](?=\d{3}(?!\d))", "", text or "")
    text = unicodedata.normalize("NFKC", text)
    text = _THINK.sub(" ", text).translate(_DASHES).translate(_QUOTES)
    return re.sub(r"(\*\*|__|`)", "", text)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces.

    Accents are removed (``"José"`` == ``"Jose"``); digits, letters and inner spaces are kept.
    """
    text = clean_text(text).lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]|_", " ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


# --------------------------------------------------------------------------------------------------
# Finding the answer in a prediction

_MARKERS = [
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"####\s*([^\n]+)"),
    re.compile(r"final answer\s*(?:is|:|=)?\s*:?\s*([^\n]+)", re.IGNORECASE),
    re.compile(r"(?:^|\n)\s*#*\s*answer\s*[:=]\s*([^\n]+)", re.IGNORECASE),
    re.compile(r"\bthe answer is\s*:?\s*([^\n]+)", re.IGNORECASE),
]


def answer_span(prediction: str) -> tuple[str, str]:
    """``(span, rule)``: the part of ``prediction`` that states the answer, and which rule found it."""
    text = clean_text(prediction).strip()
    for pattern in _MARKERS:
        # The last marker wins, also when two share a line ("the answer is 3 + 4 = 7. The answer is 7.").
        found: re.Match[str] | None = None
        position = 0
        while (m := pattern.search(text, position)) is not None:
            if m.group(1).strip():
                found = m
            position = m.start() + 1
        if found is not None:
            return found.group(1).strip(), "marker"
    for line in text.splitlines():
        if line.strip():
            return line.strip(), "first_line"
    return "", "empty"


# --------------------------------------------------------------------------------------------------
# Numbers

_NUMBER = re.compile(
    r"""
    (?P<sign>[-+])?
    (?:(?P<currency>[$€£¥])\s?)?
    (?P<sign2>[-+])?
    (?P<num>
        \d{1,3}(?:,\d{3})+(?:\.\d+)?            # 1,234,567.89
      | \d+/\d+(?![/\d])                        # 3/4 (not dates like 3/4/2020)
      | \d+(?:\.\d+)?(?:[eE][-+]?\d+)?          # 1234.5, 1e6
      | \.\d+                                   # .5
    )
    (?P<percent>\s?%)?
    (?:\s?(?P<scale>thousand|million|billion|trillion|bn|k|m|b)\b)?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
}
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUES = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_WORD_NUMBER = re.compile(
    r"\b(?:("
    + "|".join(_TENS)
    + r")(?:[- ]("
    + "|".join(_UNITS[1:10])
    + r"))?|("
    + "|".join(_UNITS)
    + r"))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FoundNumber:
    """A number read from text: its plain value and the other values it may mean (scale, percent)."""

    value: float
    alternatives: tuple[float, ...]
    text: str
    start: int

    def matches(self, gold: float, rel_tol: float, abs_tol: float) -> bool:
        return any(
            math.isclose(v, gold, rel_tol=rel_tol, abs_tol=abs_tol) for v in (self.value, *self.alternatives)
        )


def _parse_number_match(m: re.Match[str]) -> FoundNumber | None:
    raw = m.group("num")
    digits = raw.replace(",", "")
    try:
        if "/" in digits:
            top, bottom = digits.split("/")
            if float(bottom) == 0:
                return None
            value = float(top) / float(bottom)
        else:
            value = float(digits)
    except ValueError:
        return None
    if (m.group("sign") or m.group("sign2")) == "-":
        value = -value
    alternatives: list[float] = []
    scale = (m.group("scale") or "").lower()
    # A lone "m"/"b" right after a number is often a unit ("5 m" metres): keep both readings.
    if scale in _SCALES:
        alternatives.append(value * _SCALES[scale])
    if m.group("percent"):
        alternatives.append(value / 100)
    return FoundNumber(value, tuple(alternatives), m.group(0).strip(), m.start())


def find_numbers(text: str, *, words: bool = True) -> list[FoundNumber]:
    """Every number in ``text`` in order: digits (with thousands separators, decimals, fractions,
    signs, currency, percent and million/billion scales), then, only when there are no digits and
    ``words`` is true, number words up to ninety-nine ("twelve", "forty-two")."""
    text = clean_text(text)
    found: list[FoundNumber] = []
    for m in _NUMBER.finditer(text):
        before = text[m.start() - 1] if m.start() > 0 else " "
        # "abc123" or "v2" are identifiers, not numbers.
        if before.isalpha() or before == "_":
            continue
        number = _parse_number_match(m)
        if number is None:
            continue
        if m.group("sign") == "-" and before.isalnum():
            # "2023-24" is a range: 24, not -24.
            number = FoundNumber(
                -number.value, tuple(-a for a in number.alternatives), number.text, m.start()
            )
        found.append(number)
    if found or not words:
        return found
    for m in _WORD_NUMBER.finditer(text):
        if m.group(3):
            value = float(_WORD_VALUES[m.group(3).lower()])
        else:
            tens = _WORD_VALUES[m.group(1).lower()]
            value = float(tens + (_WORD_VALUES[m.group(2).lower()] if m.group(2) else 0))
        found.append(FoundNumber(value, (), m.group(0), m.start()))
    return found


def parse_number(text: str) -> float | None:
    """The value of ``text`` when it is a single number (with an optional currency, %, scale or unit
    word after it: ``"$1,234"``, ``"12%"``, ``"3/4"``, ``"412 million"``, ``"7 apples"``), else ``None``.

    ``"Route 66"`` or ``"Apollo 11"`` are names, not numbers: nothing but a sign or currency may come first.
    """
    cleaned = clean_text(str(text)).strip().rstrip(".")
    cleaned = re.sub(r"^[~≈]\s*", "", cleaned)
    numbers = find_numbers(cleaned)
    if len(numbers) != 1 or cleaned[: numbers[0].start].strip():
        return None
    rest = cleaned[numbers[0].start + len(numbers[0].text) :]
    if len(rest.split()) > 2 or re.search(r"[\d=]", rest):
        return None
    return numbers[0].value


def numeric_match(
    prediction: str,
    gold: float | int | str,
    *,
    question: str | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    abs_tol: float = DEFAULT_ABS_TOL,
) -> MatchResult:
    """Whether the number the prediction gives as its answer equals ``gold`` within the tolerances.

    ``question`` (optional) lets numbers quoted from the question (years, given quantities) be skipped.
    """
    gold_value = float(gold) if isinstance(gold, int | float) else parse_number(str(gold))
    if gold_value is None:
        return MatchResult(False, "numeric", None, "gold_not_numeric", str(gold))
    question_values = [n.value for n in find_numbers(question)] if question else []

    def pick(numbers: list[FoundNumber], last: bool) -> FoundNumber | None:
        fresh = [
            n for n in numbers if not any(math.isclose(n.value, q, rel_tol=1e-9) for q in question_values)
        ]
        pool = fresh or numbers
        if not pool:
            return None
        return pool[-1] if last else pool[0]

    span, rule = answer_span(prediction)
    chosen: FoundNumber | None = None
    if rule == "marker":
        # "Answer: 3 + 4 = 7" -> what follows the last "=".
        chosen = pick(find_numbers(span.rpartition("=")[2]), last=False) or pick(
            find_numbers(span), last=True
        )
    elif rule == "first_line" and "=" not in span:
        chosen = pick(find_numbers(span), last=False)
    if chosen is None:
        chosen = pick(find_numbers(prediction), last=True)
        rule = "last_number"
    if chosen is None:
        return MatchResult(False, "numeric", None, "no_number", str(gold))
    correct = chosen.matches(gold_value, rel_tol, abs_tol)
    return MatchResult(
        correct,
        "numeric",
        chosen.text,
        rule,
        str(gold),
        {"value": chosen.value, "gold_value": gold_value, "rel_tol": rel_tol, "abs_tol": abs_tol},
    )


# --------------------------------------------------------------------------------------------------
# Text


def exact_match(prediction: str, gold: str) -> MatchResult:
    """Normalised exact match of the prediction's answer span (or of the whole prediction) with ``gold``."""
    span, rule = answer_span(prediction)
    target = normalize_answer(gold)
    for candidate, where in ((span, rule), (prediction, "whole")):
        if normalize_answer(candidate) == target and target:
            return MatchResult(True, "exact", candidate.strip(), where, gold)
        # "Lisbon." / "Lisbon, Portugal's capital" are not exact; only punctuation-level noise is forgiven.
    return MatchResult(False, "exact", span, rule, gold)


def _find_sequence(haystack: list[str], needle: list[str]) -> int:
    if not needle:
        return -1
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


def contains_match(prediction: str, gold: str, *, choices: Sequence[str] | None = None) -> MatchResult:
    """Whether the prediction names ``gold``: its normalised words appear together, on word boundaries
    ("Ann" does not match "Anna"; "Dr. José Ruiz" matches "jose ruiz").

    With ``choices`` (the candidates of a comparison question, gold among them), the prediction must
    name gold before any other candidate: "Aldor Systems, with 2,310 employees, beats Brevik Labs" is
    right, "Brevik Labs or Aldor Systems" is not.
    """
    tokens = _tokens(prediction)
    gold_tokens = _tokens(gold)
    position = _find_sequence(tokens, gold_tokens)
    if position < 0:
        return MatchResult(False, "contains", None, "absent", gold)
    if choices:
        mentions = sorted(
            (pos, choice) for choice in choices if (pos := _find_sequence(tokens, _tokens(choice))) >= 0
        )
        first = mentions[0][1] if mentions else gold
        correct = normalize_answer(first) == normalize_answer(gold)
        return MatchResult(
            correct, "choice", first, "first_mentioned", gold, {"mentioned": [c for _, c in mentions]}
        )
    return MatchResult(
        True, "contains", " ".join(tokens[position : position + len(gold_tokens)]), "present", gold
    )


_YES_NO = {"yes": "yes", "no": "no", "true": "yes", "false": "no"}


def yes_no_match(prediction: str, gold: str) -> MatchResult:
    """Yes/no questions: the first word of the answer span decides."""
    span, rule = answer_span(prediction)
    words = _tokens(span)
    said = _YES_NO.get(words[0]) if words else None
    return MatchResult(said == _YES_NO[normalize_answer(gold)], "yes_no", said, rule, gold)


# --------------------------------------------------------------------------------------------------
# The entry point


def score(
    prediction: str,
    gold: str | float | int | Sequence[str | float | int],
    *,
    metric: str = "auto",
    question: str | None = None,
    choices: Sequence[str] | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    abs_tol: float = DEFAULT_ABS_TOL,
) -> MatchResult:
    """Score ``prediction`` against ``gold`` (a value, or a list of accepted aliases: any may match).

    ``metric``: ``"exact"``, ``"numeric"``, ``"contains"``, or ``"auto"``: numeric when gold is a number,
    yes/no when gold is yes/no/true/false, otherwise exact match or (failing that) contains-match.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    golds: list[str | float | int] = list(gold) if isinstance(gold, list | tuple) else [gold]  # type: ignore[list-item]
    if not golds:
        raise ValueError("gold answer is empty")
    prediction = prediction or ""
    results = [
        _score_one(
            prediction, g, metric=metric, question=question, choices=choices, rel_tol=rel_tol, abs_tol=abs_tol
        )
        for g in golds
    ]
    return next((r for r in results if r.correct), results[0])


def _score_one(
    prediction: str,
    gold: str | float | int,
    *,
    metric: str,
    question: str | None,
    choices: Sequence[str] | None,
    rel_tol: float,
    abs_tol: float,
) -> MatchResult:
    if metric == "numeric":
        return numeric_match(prediction, gold, question=question, rel_tol=rel_tol, abs_tol=abs_tol)
    gold_text = str(gold)
    if metric == "exact":
        return exact_match(prediction, gold_text)
    if metric == "contains":
        return contains_match(prediction, gold_text, choices=choices)
    # auto
    if isinstance(gold, int | float) or parse_number(gold_text) is not None:
        return numeric_match(prediction, gold, question=question, rel_tol=rel_tol, abs_tol=abs_tol)
    if normalize_answer(gold_text) in _YES_NO:
        return yes_no_match(prediction, gold_text)
    exact = exact_match(prediction, gold_text)
    if exact.correct:
        return exact
    return contains_match(prediction, gold_text, choices=choices)


__all__ = [
    "DEFAULT_ABS_TOL",
    "DEFAULT_REL_TOL",
    "METRICS",
    "FoundNumber",
    "MatchResult",
    "Metric",
    "answer_span",
    "clean_text",
    "contains_match",
    "exact_match",
    "find_numbers",
    "normalize_answer",
    "numeric_match",
    "parse_number",
    "score",
    "yes_no_match",
]
