"""A deterministic check of one reasoning step: its arithmetic, recomputed, and its numbers, traced.

AdaSwitch's ``"arithmetic"`` verifier. A small model's self-reflection accepted chains such as
"8 * 8 = 64. 64 * 8 = 48" step after step; a step's own arithmetic can simply be recomputed. Each
``left = right`` in the step whose two sides are plain arithmetic (numbers, ``+ - * / x × ÷``, brackets,
``%``, ``$`` and thousands commas) is parsed and evaluated here by a small recursive-descent parser —
never by ``eval`` — and compared. Sides with words or variables in them ("5 snakes/jaguar * 6",
"2 * 2S = 4S") are not checked.

The score (the probability that the step is wrong) is one of a few levels, each a kind of evidence:

* ``1.0`` a recomputed equation is false;
* ``0.8`` the step states a number that is neither given (question, documents, earlier steps, common
  constants and number words such as "half" or "dozen") nor the result of an equation it checks: an
  unchecked claim; or its final answer is the result of no calculation in it or in an earlier step
  (a number copied from the question);
* ``0.6`` every equation holds, but one of its operands comes from nowhere;
* ``0.4`` nothing to check: no equation and no new number (a restatement);
* ``0.0`` every equation holds and every number is accounted for.

A threshold between two levels picks which kinds of doubt go to the cloud.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

WRONG_ARITHMETIC = 1.0
UNCHECKED_NUMBER = 0.8
UNGROUNDED_OPERAND = 0.6
NOTHING_TO_CHECK = 0.4
CHECKED = 0.0
SCORE_LEVELS: tuple[float, ...] = (
    CHECKED,
    NOTHING_TO_CHECK,
    UNGROUNDED_OPERAND,
    UNCHECKED_NUMBER,
    WRONG_ARITHMETIC,
)
"""Every score :func:`check_step` gives, lowest (checked) first."""

# Numbers a step may use without finding them in the text: unit conversions and the like.
CONSTANTS: frozenset[float] = frozenset({0, 1, 2, 10, 12, 24, 60, 100, 1000, 7, 30, 52, 365, 3600})
"""Numbers a step may use without finding them in the text (unit conversions and the like)."""
NUMBER_WORDS: dict[str, tuple[float, ...]] = {
    "one": (1,),
    "two": (2,),
    "three": (3,),
    "four": (4,),
    "five": (5,),
    "six": (6,),
    "seven": (7,),
    "eight": (8,),
    "nine": (9,),
    "ten": (10,),
    "eleven": (11,),
    "twelve": (12,),
    "fifteen": (15,),
    "twenty": (20,),
    "thirty": (30,),
    "forty": (40,),
    "fifty": (50,),
    "hundred": (100,),
    "thousand": (1000,),
    "half": (2, 0.5),
    "halves": (2, 0.5),
    "twice": (2,),
    "double": (2,),
    "doubles": (2,),
    "triple": (3,),
    "thrice": (3,),
    "third": (3,),
    "thirds": (3,),
    "quarter": (4, 0.25),
    "quarters": (4, 0.25),
    "fourth": (4,),
    "fifth": (5,),
    "dozen": (12,),
    "dozens": (12,),
    "percent": (100,),
}
"""Words that state numbers, and the numbers each may stand for."""
MAX_EXPRESSION_CHARS = 200
"""A side longer than this is not evaluated."""
MAX_TOKENS = 60
"""A side of more tokens than this is not evaluated."""

# A number as written in a step: "$1,200.50", "12", ".5", "40%"; no sign (a leading "-" is an operator).
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(_NUMBER)
_TOKEN_RE = re.compile(rf"\s*(?:(?P<number>\$?\s*(?:{_NUMBER})\s*%?)|(?P<op>[-+*/×÷xX()]))")
# Characters an arithmetic side may hold; scanning stops at anything else (letters end it).
_SIDE_CHARS = set("0123456789.,$%+-*/×÷()xX \t")
_WORD_RE = re.compile(r"[a-z]+")


@dataclass
class Equation:
    """One checked ``left = right``.

    Attributes:
        text: The equation as written (trimmed).
        left: The left side's value.
        right: The right side's value.
        holds: Whether the two agree (within the rounding the right side's decimals allow).
        operands: The numbers of the left side.
    """

    text: str
    left: float
    right: float
    holds: bool
    operands: list[float]


@dataclass
class StepCheck:
    """What :func:`check_step` found.

    Attributes:
        score: The probability that the step is wrong (one of :data:`SCORE_LEVELS`).
        reason: One sentence: why this score.
        equations: The equations checked.
        unexplained: Numbers the step states that are found nowhere.
    """

    score: float
    reason: str
    equations: list[Equation] = field(default_factory=list)
    unexplained: list[float] = field(default_factory=list)  # stated numbers found nowhere


class _Parser:
    """Recursive descent over tokens: expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
    factor := number | '(' expr ')'."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> float:
        value = self.term()
        while (token := self.peek()) in (("op", "+"), ("op", "-")):
            assert token is not None
            self.take()
            value = value + self.term() if token[1] == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in "*/×÷xX":
            self.take()
            divisor_or_factor = self.factor()
            if token[1] in "/÷":
                if divisor_or_factor == 0:
                    raise ValueError("division by zero")
                value /= divisor_or_factor
            else:
                value *= divisor_or_factor
        return value

    def factor(self) -> float:
        token = self.peek()
        if token is None:
            raise ValueError("expression ends early")
        if token == ("op", "("):
            self.take()
            value = self.expression()
            if self.peek() != ("op", ")"):
                raise ValueError("unbalanced bracket")
            self.take()
            return value
        if token[0] == "number":
            self.take()
            return _number_value(token[1])
        raise ValueError(f"unexpected {token[1]!r}")


def _number_value(text: str) -> float:
    cleaned = text.replace("$", "").replace(",", "").replace(" ", "")
    percent = cleaned.endswith("%")
    value = float(cleaned.rstrip("%"))
    return value / 100.0 if percent else value


def _tokens(text: str) -> list[tuple[str, str]] | None:
    """The tokens of an arithmetic side, or None when it holds anything else."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        found = _TOKEN_RE.match(text, position)
        if not found or found.end() == position:
            return None
        if found["number"] is not None:
            tokens.append(("number", found["number"]))
        else:
            tokens.append(("op", found["op"]))
        position = found.end()
        if len(tokens) > MAX_TOKENS:
            return None
    return tokens


def evaluate(text: str) -> float | None:
    """The value of a plain arithmetic expression, parsed here (never ``eval``).

    ``x``/``X``/``×`` multiply, ``÷`` divides, ``%`` is a hundredth, ``$`` and thousands commas are
    ignored. An expression must start with a number or a bracket (a leading operator means the side
    began with a word or variable) and hold at least one number.

    Args:
        text: The expression, e.g. ``"$1,200 x 3 + 20% * 50"``.

    Returns:
        Its value, or None when it is not plain arithmetic (words, variables, division by zero...).

    Example:
        >>> evaluate("$1,200 x 3 + 20% * 50"), evaluate("2 * 2S")
        (3610.0, None)
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        return None
    tokens = _tokens(text)
    if not tokens or tokens[0][0] != "number" and tokens[0] != ("op", "("):
        return None
    if tokens[-1][0] == "op" and tokens[-1][1] != ")":
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expression()
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    if parser.position != len(tokens) or not math.isfinite(value):
        return None
    return value


def _ends_sentence(text: str, position: int) -> bool:
    """A full stop or comma at ``position`` that ends a sentence or clause (followed by a space or the
    end), not a decimal point or thousands comma."""
    return text[position] in ".," and (position + 1 >= len(text) or text[position + 1].isspace())


def _left_side(text: str, end: int) -> str:
    """The arithmetic text just before ``end`` (scanning left until a character that cannot be in it,
    or the end of the previous sentence); empty when a letter touches it (``2S``, ``snakes``)."""
    start = end
    while start > 0 and text[start - 1] in _SIDE_CHARS and not _ends_sentence(text, start - 1):
        start -= 1
    side = text[start:end]
    # "2 * 2S =": the side ends at a letter glued to it: a variable, not arithmetic.
    if start > 0 and text[start - 1].isalpha() and side[:1] not in (" ", "\t", "$", "("):
        return ""
    if side.strip()[:1] in ("x", "X"):  # "box 5 =": the x belongs to a word
        return ""
    return side


def _right_side(text: str, begin: int) -> str:
    end = begin
    while end < len(text) and text[end] in _SIDE_CHARS and not _ends_sentence(text, end):
        end += 1
    side = text[begin:end]
    if end < len(text) and text[end].isalpha() and side[-1:] not in (" ", "\t"):
        return ""  # "= 4S"
    return side


def _decimals(text: str) -> int:
    number = _NUMBER_RE.findall(text.replace(",", ""))
    if not number:
        return 0
    last = number[-1]
    return len(last.split(".", 1)[1]) if "." in last else 0


def _holds(left: float, right: float, right_text: str) -> bool:
    """Equal within rounding: a result written with d decimals may be off by half a unit in the last
    place (``10 / 3 = 3.33``); an integer result must be exact (up to float noise)."""
    decimals = _decimals(right_text)
    scale = 0.01 if right_text.rstrip().endswith("%") else 1.0
    if decimals:
        return abs(left - right) <= 0.5 * 10.0**-decimals * scale + 1e-9
    return math.isclose(left, right, rel_tol=1e-6, abs_tol=1e-9)


def equations(text: str) -> list[Equation]:
    """Every checkable ``left = right`` in ``text``.

    Args:
        text: A step; chains ``a = b = c`` give ``a = b`` and ``b = c``; sides with words are skipped.

    Returns:
        The equations, in order.

    Example:
        >>> [(e.text, e.holds) for e in equations("8 * 8 = 64. 64 * 8 = 48")]
        [('8 * 8 = 64', True), ('64 * 8 = 48', False)]
    """
    found: list[Equation] = []
    for match in re.finditer(r"=", text):
        position = match.start()
        left_text, right_text = _left_side(text, position), _right_side(text, position + 1)
        if "=" in left_text or not left_text.strip() or not right_text.strip():
            continue
        left, right = evaluate(left_text), evaluate(right_text)
        if left is None or right is None:
            continue
        operands = [_number_value(t) for kind, t in (_tokens(left_text) or []) if kind == "number"]
        found.append(
            Equation(
                f"{left_text.strip()} = {right_text.strip()}",
                left,
                right,
                _holds(left, right, right_text),
                operands,
            )
        )
    return found


def numbers_in(text: str) -> set[float]:
    """The numbers ``text`` states, in digits and in words.

    Args:
        text: Any text.

    Returns:
        The numbers ("half" is 2 and 0.5; "40%" is 40 and 0.4).

    Example:
        >>> sorted(numbers_in("half of 1,200 is 40%"))
        [0.4, 0.5, 2, 40.0, 1200.0]
    """
    values: set[float] = set()
    for found in re.finditer(rf"({_NUMBER})\s*(%)?", text):
        value = float(found.group(1).replace(",", ""))
        values.add(value)
        if found.group(2):
            values.add(value / 100.0)
    for word in _WORD_RE.findall(text.lower()):
        values.update(NUMBER_WORDS.get(word, ()))
    return values


def _known(value: float, pool: Iterable[float]) -> bool:
    return any(math.isclose(value, known, rel_tol=1e-6, abs_tol=1e-9) for known in pool)


def check_step(context: Sequence[str], step: str, final_answer: str | None = None) -> StepCheck:
    """Check a step's arithmetic and trace its numbers (AdaSwitch's ``"arithmetic"`` verifier).

    Args:
        context: The texts the step may take numbers from: question, documents, accepted steps.
        step: The step to check.
        final_answer: The step's final answer, if it gives one.

    Returns:
        The score (see the module docstring for the levels), why, and what was checked.

    Example:
        >>> question = "Natalia sold 48 clips in April and half as many in May."
        >>> check_step([question], "May: 48 / 2 = 24.").score, check_step([question], "48 / 2 = 42").score
        (0.0, 1.0)
    """
    given = set(CONSTANTS)
    for text in context:
        given |= numbers_in(text)
    found = equations(step)
    wrong = [e for e in found if not e.holds]
    if wrong:
        first = wrong[0]
        return StepCheck(
            WRONG_ARITHMETIC,
            f"arithmetic: {first.text} is false ({first.left:g} = {first.right:g}?)",
            found,
        )
    results = {e.right for e in found} | {e.left for e in found}
    results |= {100.0 * v for v in results}  # "= 33.3%" states 33.3
    operands = {v for e in found for v in e.operands}
    stated = numbers_in(f"{step} {final_answer or ''}")
    # A number the step states is explained if it is given, or a side or an operand of an equation it
    # checks (operands are traced next).
    explained = results | operands
    unexplained = sorted(v for v in stated if not _known(v, given) and not _known(v, explained))
    if unexplained:
        shown = ", ".join(f"{v:g}" for v in unexplained[:3])
        return StepCheck(
            UNCHECKED_NUMBER, f"arithmetic: states {shown} without a calculation", found, unexplained
        )
    if final_answer and final_answer.strip():
        # A final answer of a multi-step problem is the result of a calculation (here or in an
        # earlier step), not a number copied from the question.
        derived = set(results) | {v for text in context for e in equations(text) for v in (e.left, e.right)}
        answers = numbers_in(final_answer)
        if answers and not any(_known(v, derived) for v in answers):
            shown = ", ".join(f"{v:g}" for v in sorted(answers)[:3])
            return StepCheck(
                UNCHECKED_NUMBER,
                f"arithmetic: the final answer {shown} is the result of no calculation",
                found,
            )
    ungrounded = [v for e in found for v in e.operands if not _known(v, given) and not _known(v, results)]
    if ungrounded:
        shown = ", ".join(f"{v:g}" for v in ungrounded[:3])
        return StepCheck(UNGROUNDED_OPERAND, f"arithmetic holds but uses {shown}, found nowhere", found)
    if not found:
        return StepCheck(NOTHING_TO_CHECK, "arithmetic: nothing to check in this step", found)
    return StepCheck(CHECKED, f"arithmetic: {len(found)} equation(s) hold, every number accounted for", found)


__all__ = [
    "CHECKED",
    "NOTHING_TO_CHECK",
    "SCORE_LEVELS",
    "UNCHECKED_NUMBER",
    "UNGROUNDED_OPERAND",
    "WRONG_ARITHMETIC",
    "Equation",
    "StepCheck",
    "check_step",
    "equations",
    "evaluate",
    "numbers_in",
]
