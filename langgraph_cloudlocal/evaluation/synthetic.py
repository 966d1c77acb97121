"""Two synthetic evaluation sets, generated from a seed, with gold answers computed by code.

* :func:`generate_records` — long-document fact questions. Each item's document lists many similar
  company records (same fields, near-identical names such as "Aldor Systems" / "Aldor Logistics",
  two revenue years), and asks a lookup ("What was the 2023 revenue of X?"), a comparison ("Which has
  more employees: X or Y?") or a sum of several facts ("combined 2023 revenue of X, Y and Z").
  The document is the private context; the question alone does not give the answer away.
* :func:`generate_arithmetic` — multi-step arithmetic word problems (2 to 4 operations, whole-number
  answers, sometimes an irrelevant number). The story is the document and the question asks for the
  final quantity, so document-based protocols (Minion, MinionS) can run on it as well as AdaSwitch.

Both are deterministic for a given seed and count (Python's ``random.Random``). The project ships
20 items of each in ``datasets/``; regenerate them with::

    python -m langgraph_cloudlocal.evaluation generate --out datasets --count 20 --seed 7
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from langgraph_cloudlocal.evaluation.datasets import EvalItem, save_dataset

DEFAULT_SEED = 7
DEFAULT_COUNT = 20
SYNTHETIC_SETS: tuple[str, ...] = ("records", "arithmetic")

# --------------------------------------------------------------------------------------------------
# Long-document fact questions

_PREFIXES = (
    "Aldor Brevik Calder Dunmore Elston Farrow Garnet Halden Ivers Jarrow Kestrel Lorne Marlow "
    "Norcott Orwell Pellam Quarry Rowan Selby Thorne Upton Varden Wexley Yarrow"
).split()
_SUFFIXES = "Systems Labs Logistics Foods Energy Textiles Robotics Media Health Capital".split()
_CITIES = "Lisbon Oslo Porto Tallinn Leeds Lyon Graz Turin Ghent Malmo Bergen Krakow Bilbao Aarhus".split()
_FIRST = (
    "Maria Jonas Aisha Tomas Lena Omar Ingrid Pavel Chloe Rafael Yuki Nadia Felix Sara Diego Hana "
    "Viktor Amara Lucas Elena"
).split()
_LAST = (
    "Okafor Lindqvist Moreau Haddad Novak Castillo Brennan Sato Kowalski Mensah Albers Duarte "
    "Rahman Petrov Fischer Quinn Bauer Costa Nakamura Ferrer"
).split()


@dataclass(frozen=True)
class CompanyRecord:
    """One record of a records document."""

    name: str
    city: str
    founded: int
    ceo: str
    employees: int
    revenue_2022: int  # millions of dollars
    revenue_2023: int

    def text(self, number: int) -> str:
        return (
            f"Record {number}\n"
            f"Company: {self.name}\n"
            f"Headquarters: {self.city}\n"
            f"Founded: {self.founded}\n"
            f"CEO: {self.ceo}\n"
            f"Employees: {self.employees:,}\n"
            f"Revenue 2022: ${self.revenue_2022} million\n"
            f"Revenue 2023: ${self.revenue_2023} million"
        )


def _company_records(rng: random.Random, count: int) -> list[CompanyRecord]:
    """``count`` records with unique names, about half of them sharing a prefix with another one."""
    prefixes = rng.sample(_PREFIXES, k=(count + 1) // 2)
    names: list[str] = []
    for prefix in prefixes:
        for suffix in rng.sample(_SUFFIXES, k=2):  # two companies per prefix: built-in distractors
            names.append(f"{prefix} {suffix}")
    names = names[:count]
    rng.shuffle(names)
    ceos = rng.sample([f"{f} {last}" for f in _FIRST for last in _LAST], k=count)
    records = []
    used_employees: set[int] = set()
    used_revenue: set[int] = set()
    used_years: set[int] = set()
    for name, ceo in zip(names, ceos, strict=True):
        employees = _unique(rng, used_employees, lambda: rng.randrange(120, 9800, 10))
        revenue_2023 = _unique(rng, used_revenue, lambda: rng.randint(40, 990))
        revenue_2022 = max(10, revenue_2023 + rng.choice([-1, 1]) * rng.randint(8, 90))
        founded = _unique(rng, used_years, lambda: rng.randint(1952, 2016))
        records.append(
            CompanyRecord(name, rng.choice(_CITIES), founded, ceo, employees, revenue_2022, revenue_2023)
        )
    return records


def _unique(rng: random.Random, used: set[int], draw: Callable[[], int]) -> int:
    """A value not drawn before, so comparisons never tie."""
    while True:
        value = draw()
        if value not in used:
            used.add(value)
            return value


def _records_question(
    kind: str, rng: random.Random, records: list[CompanyRecord]
) -> tuple[str, int | str, list[str] | None, str]:
    """(question, gold, choices, category) for one question kind over the records."""

    def pick(k: int) -> list[CompanyRecord]:
        return rng.sample(records, k=k)

    if kind == "lookup_revenue":
        (r,) = pick(1)
        return (
            f"What was the 2023 revenue of {r.name}, in millions of dollars?",
            r.revenue_2023,
            None,
            "lookup",
        )
    if kind == "lookup_employees":
        (r,) = pick(1)
        return f"How many employees does {r.name} have?", r.employees, None, "lookup"
    if kind == "lookup_founded":
        (r,) = pick(1)
        return f"In which year was {r.name} founded?", r.founded, None, "lookup"
    if kind == "lookup_ceo":
        (r,) = pick(1)
        return f"Who is the CEO of {r.name}?", r.ceo, None, "lookup"
    if kind == "lookup_city":
        (r,) = pick(1)
        return f"In which city is {r.name} headquartered?", r.city, None, "lookup"
    if kind == "compare_employees":
        a, b = pick(2)
        gold = a if a.employees > b.employees else b
        return (
            f"Which company has more employees: {a.name} or {b.name}?",
            gold.name,
            [a.name, b.name],
            "comparison",
        )
    if kind == "compare_revenue":
        a, b = pick(2)
        gold = a if a.revenue_2023 > b.revenue_2023 else b
        return (
            f"Which company had the higher 2023 revenue: {a.name} or {b.name}?",
            gold.name,
            [a.name, b.name],
            "comparison",
        )
    if kind == "compare_founded":
        a, b = pick(2)
        gold = a if a.founded < b.founded else b
        return (
            f"Which company was founded earlier: {a.name} or {b.name}?",
            gold.name,
            [a.name, b.name],
            "comparison",
        )
    if kind == "sum_revenue":
        rs = pick(3)
        names = f"{rs[0].name}, {rs[1].name} and {rs[2].name}"
        return (
            f"What is the combined 2023 revenue of {names}, in millions of dollars?",
            sum(r.revenue_2023 for r in rs),
            None,
            "sum",
        )
    if kind == "sum_employees":
        rs = pick(2)
        return (
            f"How many employees do {rs[0].name} and {rs[1].name} have in total?",
            sum(r.employees for r in rs),
            None,
            "sum",
        )
    raise ValueError(f"unknown question kind {kind!r}")


RECORD_QUESTION_KINDS: tuple[str, ...] = (
    "lookup_revenue",
    "compare_employees",
    "sum_revenue",
    "lookup_ceo",
    "compare_revenue",
    "sum_employees",
    "lookup_employees",
    "compare_founded",
    "lookup_founded",
    "lookup_city",
)


def generate_records(
    count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, *, records_per_document: int = 14
) -> list[EvalItem]:
    """Long-document fact questions: one document of ``records_per_document`` company records per item
    (about 170 characters a record), question kinds cycling through lookups, comparisons and sums."""
    if count < 1 or records_per_document < 3:
        raise ValueError("count must be >= 1 and records_per_document >= 3")
    rng = random.Random(f"records:{seed}")
    items = []
    for index in range(count):
        records = _company_records(rng, records_per_document)
        kind = RECORD_QUESTION_KINDS[index % len(RECORD_QUESTION_KINDS)]
        question, gold, choices, category = _records_question(kind, rng, records)
        document = "Company registry extract\n\n" + "\n\n".join(r.text(i + 1) for i, r in enumerate(records))
        items.append(
            EvalItem(
                id=f"records-{index + 1:03d}",
                question=question,
                answer=gold,
                documents=(document,),
                metric="numeric" if isinstance(gold, int) else "contains",
                choices=tuple(choices) if choices else None,
                meta={"set": "records", "kind": kind, "category": category, "seed": seed},
            )
        )
    return items


# --------------------------------------------------------------------------------------------------
# Multi-step arithmetic word problems

_PEOPLE = "Ava Ben Carla Dev Emma Farid Grace Hugo Iris Jamal Kira Leo Mina Nico Olga Priya".split()

Problem = tuple[str, str, int, list[str]]  # story, question, answer, solution steps


def _bakery(rng: random.Random) -> Problem:
    name = rng.choice(_PEOPLE)
    trays, per_tray = rng.randint(3, 9), rng.randint(6, 12)
    total = trays * per_tray
    morning = rng.randint(total // 5, total // 2)
    if (total - morning) % 2:
        morning += 1
    rest = total - morning
    left = rest // 2
    story = (
        f"{name} runs a bakery that opened {rng.randint(3, 30)} years ago. This morning {name} baked "
        f"{trays} trays of muffins with {per_tray} muffins on each tray. {morning} muffins were sold in the "
        f"morning, and half of the remaining muffins were sold in the afternoon."
    )
    steps = [f"{trays} x {per_tray} = {total}", f"{total} - {morning} = {rest}", f"{rest} / 2 = {left}"]
    return story, "How many muffins were left at the end of the day?", left, steps


def _shop(rng: random.Random) -> Problem:
    name = rng.choice(_PEOPLE)
    notebooks, notebook_price = rng.randint(2, 6), rng.randint(2, 9)
    pens, pen_price = rng.randint(2, 8), rng.randint(1, 4)
    cost = notebooks * notebook_price + pens * pen_price
    bill = next(b for b in (20, 50, 100) if b > cost)
    story = (
        f"{name} buys {notebooks} notebooks that cost ${notebook_price} each and {pens} pens that cost "
        f"${pen_price} each. {name} pays with a ${bill} bill."
    )
    steps = [
        f"{notebooks} x {notebook_price} = {notebooks * notebook_price}",
        f"{pens} x {pen_price} = {pens * pen_price}",
        f"{notebooks * notebook_price} + {pens * pen_price} = {cost}",
        f"{bill} - {cost} = {bill - cost}",
    ]
    return story, f"How many dollars of change does {name} get?", bill - cost, steps


def _savings(rng: random.Random) -> Problem:
    name = rng.choice(_PEOPLE)
    weekly, weeks, gift = rng.randint(5, 25), rng.randint(4, 12), rng.randint(10, 60)
    total = weekly * weeks + gift
    parts = rng.choice([2, 3, 4, 5])
    gift += (-total) % parts  # make the share whole
    total = weekly * weeks + gift
    spent = total // parts
    fraction = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}[parts]
    story = (
        f"{name} saves ${weekly} every week for {weeks} weeks. Then {name}'s grandmother gives {name} "
        f"${gift}. {name} spends {fraction} of all the money on a new bike."
    )
    steps = [
        f"{weekly} x {weeks} = {weekly * weeks}",
        f"{weekly * weeks} + {gift} = {total}",
        f"{total} / {parts} = {spent}",
        f"{total} - {spent} = {total - spent}",
    ]
    return story, f"How many dollars does {name} have left?", total - spent, steps


def _trip(rng: random.Random) -> Problem:
    name = rng.choice(_PEOPLE)
    s1, h1, s2, h2 = rng.randint(40, 90), rng.randint(2, 5), rng.randint(30, 70), rng.randint(1, 4)
    story = (
        f"{name} drives at {s1} km per hour for {h1} hours, stops for a {rng.choice([15, 20, 30, 45])}-minute "
        f"lunch, then drives at {s2} km per hour for {h2} more hours."
    )
    steps = [
        f"{s1} x {h1} = {s1 * h1}",
        f"{s2} x {h2} = {s2 * h2}",
        f"{s1 * h1} + {s2 * h2} = {s1 * h1 + s2 * h2}",
    ]
    return story, f"How many kilometres does {name} drive in total?", s1 * h1 + s2 * h2, steps


def _garden(rng: random.Random) -> Problem:
    name = rng.choice(_PEOPLE)
    percent = rng.choice([10, 20, 25, 50])
    rows, per_row = rng.randint(3, 12), rng.choice([4, 8, 10, 12, 20])
    planted = rows * per_row
    while planted * percent % 100:
        rows += 1
        planted = rows * per_row
    died = planted * percent // 100
    extra = rng.randint(5, 30)
    story = (
        f"{name} plants {rows} rows of tomato plants with {per_row} plants in each row. A frost kills "
        f"{percent}% of the plants. Then {name} plants {extra} new ones."
    )
    steps = [
        f"{rows} x {per_row} = {planted}",
        f"{planted} x {percent}% = {died}",
        f"{planted} - {died} + {extra} = {planted - died + extra}",
    ]
    return story, f"How many tomato plants does {name} have now?", planted - died + extra, steps


def _library(rng: random.Random) -> Problem:
    shelves, per_shelf = rng.randint(3, 8), rng.randint(15, 60)
    lent, donated = rng.randint(20, 90), rng.randint(10, per_shelf * shelves // 2)
    books = per_shelf * shelves + lent - donated
    story = (
        f"A school library has {books} books. It lends out {lent} books and receives {donated} donated "
        f"books. The librarian then puts the books that are in the library on {shelves} shelves, with the same "
        f"number on each shelf."
    )
    after = books - lent + donated
    steps = [
        f"{books} - {lent} = {books - lent}",
        f"{books - lent} + {donated} = {after}",
        f"{after} / {shelves} = {per_shelf}",
    ]
    return story, "How many books are on each shelf?", per_shelf, steps


def _factory(rng: random.Random) -> Problem:
    per_hour, hours, days = rng.randint(12, 60), rng.randint(6, 10), rng.randint(3, 6)
    made = per_hour * hours * days
    defective = rng.randint(5, max(6, made // 10))
    story = (
        f"A machine makes {per_hour} widgets per hour. It runs {hours} hours a day for {days} days. "
        f"{defective} of the widgets it makes are defective and thrown away."
    )
    steps = [
        f"{per_hour} x {hours} = {per_hour * hours}",
        f"{per_hour * hours} x {days} = {made}",
        f"{made} - {defective} = {made - defective}",
    ]
    return story, "How many good widgets does the machine make?", made - defective, steps


def _fundraiser(rng: random.Random) -> Problem:
    adults, adult_price = rng.randint(20, 80), rng.randint(5, 15)
    children, child_price = rng.randint(10, 60), rng.randint(2, 6)
    costs = rng.randint(50, 200)
    income = adults * adult_price + children * child_price
    story = (
        f"A school play sells {adults} adult tickets at ${adult_price} each and {children} child tickets at "
        f"${child_price} each. Putting on the play cost ${costs}."
    )
    steps = [
        f"{adults} x {adult_price} = {adults * adult_price}",
        f"{children} x {child_price} = {children * child_price}",
        f"{adults * adult_price} + {children * child_price} = {income}",
        f"{income} - {costs} = {income - costs}",
    ]
    return story, "How many dollars of profit does the play make?", income - costs, steps


ARITHMETIC_TEMPLATES: dict[str, Callable[[random.Random], Problem]] = {
    "bakery": _bakery,
    "shop": _shop,
    "savings": _savings,
    "trip": _trip,
    "garden": _garden,
    "library": _library,
    "factory": _factory,
    "fundraiser": _fundraiser,
}


def generate_arithmetic(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[EvalItem]:
    """Multi-step arithmetic word problems; templates in turn, numbers drawn from the seed.
    ``meta["solution"]`` holds the worked steps (useful as AdaSwitch reference trajectories)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    rng = random.Random(f"arithmetic:{seed}")
    names = list(ARITHMETIC_TEMPLATES)
    items = []
    for index in range(count):
        template = names[index % len(names)]
        story, question, answer, steps = ARITHMETIC_TEMPLATES[template](rng)
        items.append(
            EvalItem(
                id=f"arithmetic-{index + 1:03d}",
                question=question,
                answer=answer,
                documents=(story,),
                metric="numeric",
                meta={
                    "set": "arithmetic",
                    "kind": template,
                    "steps": len(steps),
                    "solution": steps,
                    "seed": seed,
                },
            )
        )
    return items


GENERATORS: dict[str, Callable[..., list[EvalItem]]] = {
    "records": generate_records,
    "arithmetic": generate_arithmetic,
}


def write_synthetic_datasets(
    out_dir: str | Path = "datasets", *, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED
) -> list[Path]:
    """Generate the sets and write ``records.jsonl`` and ``arithmetic.jsonl`` (``count`` items each)
    and ``filings.jsonl`` (the long-document set: its own default size) in ``out_dir``."""
    from langgraph_cloudlocal.evaluation.filings import generate_filings

    out = Path(out_dir)
    paths = [
        save_dataset(generator(count, seed), out / f"{name}.jsonl") for name, generator in GENERATORS.items()
    ]
    paths.append(save_dataset(generate_filings(seed=seed), out / "filings.jsonl"))
    return paths


__all__ = [
    "ARITHMETIC_TEMPLATES",
    "DEFAULT_COUNT",
    "DEFAULT_SEED",
    "GENERATORS",
    "RECORD_QUESTION_KINDS",
    "SYNTHETIC_SETS",
    "CompanyRecord",
    "generate_arithmetic",
    "generate_records",
    "write_synthetic_datasets",
]
