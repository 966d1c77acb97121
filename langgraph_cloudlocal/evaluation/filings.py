"""The long-document set: annual industry reviews of 30-60 K characters, with gold answers computed by code.

Each document is one "industry review": a Markdown section per company (50-78 companies), written as
prose in varied sentence patterns, with the traps a small model falls into on real filings:

* **near-identical names**: companies come in pairs sharing a first word ("Aldor Systems" /
  "Aldor Logistics");
* **values of other companies in the same section**: about half the sections compare the company with
  its namesake and quote the namesake's revenue or headcount;
* **other periods**: every section gives the 2022 revenue next to the 2023 one.

Several questions are asked about each document, one of each kind in turn:

* ``lookup``: "What was the 2023 revenue of X?", "How many employees did X have?", "Who leads X?";
* ``comparison``: "Which had more employees at the end of 2023: X or Y?";
* ``sum``: "What was the combined 2023 revenue of X, Y and Z?";
* ``which``: "Which of X, Y and Z is headquartered in C?" (exactly one is).

Deterministic for a seed (``random.Random``); the shipped ``datasets/filings.jsonl`` is regenerated with
``python -m langgraph_cloudlocal.evaluation generate --out datasets``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from langgraph_cloudlocal.evaluation.datasets import EvalItem

DEFAULT_FILINGS_DOCUMENTS = 6
DEFAULT_FILINGS_QUESTIONS = 4
FILINGS_QUESTION_KINDS: tuple[str, ...] = ("lookup", "comparison", "sum", "which")

_PREFIXES = (
    "Aldor Brevik Calder Dunmore Elston Farrow Garnet Halden Ivers Jarrow Kestrel Lorne Marlow Norcott "
    "Orwell Pellam Quarry Rowan Selby Thorne Upton Varden Wexley Yarrow Ashby Bramley Corwin Denholm "
    "Everett Fenwick Glenmore Hartwell Inchley Keswick Langdon Merrow Netherby Oakham Penrose Redcliff "
    "Stanwick Tamworth Ulverston Westbury"
).split()
_SUFFIXES = (
    "Systems Labs Logistics Foods Energy Textiles Robotics Media Health Capital Materials Networks Marine "
    "Pharma Analytics Aerospace"
).split()
_CITIES = (
    "Lisbon Oslo Porto Tallinn Leeds Lyon Graz Turin Ghent Malmo Bergen Krakow Bilbao Aarhus Utrecht "
    "Riga Vilnius Seville Antwerp Brno"
).split()
_FIRST = (
    "Maria Jonas Aisha Tomas Lena Omar Ingrid Pavel Chloe Rafael Yuki Nadia Felix Sara Diego Hana Viktor "
    "Amara Lucas Elena Mateo Signe Kofi Anouk"
).split()
_LAST = (
    "Okafor Lindqvist Moreau Haddad Novak Castillo Brennan Sato Kowalski Mensah Albers Duarte Rahman "
    "Petrov Fischer Quinn Bauer Costa Nakamura Ferrer Varga Holm Achterberg"
).split()
_PRODUCTS = (
    "industrial sensors, cold-chain storage, payroll software, hospital beds, solar inverters, cargo drones, "
    "organic flour, wind-turbine blades, cloud backups, ferry services, dental implants, fibre cables, "
    "frozen meals, warehouse robots, wool fabrics, satellite links"
).split(", ")
_FILLER = (
    "Management described the year as one of consolidation rather than expansion.",
    "The board approved a modest dividend and no new share buybacks.",
    "Order books at year end were described as healthy across all regions.",
    "Capital spending went mainly to replacing older equipment.",
    "The company renegotiated two of its largest supply contracts during the year.",
    "Analysts noted that margins held steady despite higher input costs.",
    "A new regional office opened in the second half of the year.",
    "Staff turnover fell slightly compared with the previous year.",
    "The firm completed a small acquisition that added a specialist engineering team.",
    "Customer concentration remained a risk, with the five largest clients making up a third of sales.",
    "Research and development spending rose in line with revenue.",
    "The auditors issued an unqualified opinion on the annual accounts.",
)


@dataclass(frozen=True)
class FilingCompany:
    """The facts of one company in a review (revenue in millions of dollars)."""

    name: str
    city: str
    founded: int
    ceo: str
    employees: int
    revenue_2022: int
    revenue_2023: int
    product: str


def _companies(rng: random.Random, count: int) -> list[FilingCompany]:
    pairs = (count + 1) // 2
    names: list[str] = []
    for prefix in rng.sample(_PREFIXES, k=pairs):
        names.extend(f"{prefix} {suffix}" for suffix in rng.sample(_SUFFIXES, k=2))
    names = names[:count]
    ceos = rng.sample([f"{f} {last}" for f in _FIRST for last in _LAST], k=count)
    employees = rng.sample(range(150, 19_800, 10), k=count)  # unique: comparisons never tie
    revenues = rng.sample(range(40, 2_400), k=count)
    founded = rng.sample(range(1921, 2019), k=count)
    companies = []
    for index, name in enumerate(names):
        revenue_2022 = max(10, revenues[index] + rng.choice([-1, 1]) * rng.randint(8, 140))
        companies.append(
            FilingCompany(
                name=name,
                city=rng.choice(_CITIES),
                founded=founded[index],
                ceo=ceos[index],
                employees=employees[index],
                revenue_2022=revenue_2022,
                revenue_2023=revenues[index],
                product=rng.choice(_PRODUCTS),
            )
        )
    rng.shuffle(companies)
    return companies


def _namesake(company: FilingCompany, companies: list[FilingCompany]) -> FilingCompany | None:
    prefix = company.name.split()[0]
    for other in companies:
        if other is not company and other.name.split()[0] == prefix:
            return other
    return None


def _section(rng: random.Random, company: FilingCompany, companies: list[FilingCompany]) -> str:
    c = company
    opening = rng.choice(
        (
            f"{c.name} is headquartered in {c.city} and was founded in {c.founded}. It makes {c.product}.",
            f"Founded in {c.founded}, {c.name} makes {c.product} from its head office in {c.city}.",
            f"{c.name}, a maker of {c.product}, has been based in {c.city} since it was founded in {c.founded}.",
        )
    )
    leader = rng.choice(
        (
            f"The company is led by chief executive {c.ceo}.",
            f"{c.ceo} has served as chief executive of {c.name} for the past four years.",
            f"Its chief executive, {c.ceo}, reports to a board of seven directors.",
        )
    )
    revenue = rng.choice(
        (
            f"Revenue for 2023 was ${c.revenue_2023} million, against ${c.revenue_2022} million in 2022.",
            f"In 2023 the company reported revenue of ${c.revenue_2023} million; the 2022 figure was "
            f"${c.revenue_2022} million.",
            f"{c.name} booked ${c.revenue_2023} million of revenue in 2023, compared with "
            f"${c.revenue_2022} million a year earlier.",
        )
    )
    staff = rng.choice(
        (
            f"At the end of 2023 it employed {c.employees:,} people.",
            f"Headcount stood at {c.employees:,} employees at the close of 2023.",
            f"The workforce numbered {c.employees:,} at year end.",
        )
    )
    sentences = [opening, leader, revenue, staff, *rng.sample(_FILLER, k=rng.randint(2, 4))]
    rival = _namesake(c, companies)
    if rival is not None and rng.random() < 0.5:
        sentences.insert(
            4,
            rng.choice(
                (
                    f"It is often confused with {rival.name}, which reported ${rival.revenue_2023} million "
                    "of revenue for 2023.",
                    f"By comparison, {rival.name} employed {rival.employees:,} people at the end of 2023.",
                    f"Its namesake {rival.name}, based in {rival.city}, is an unrelated business.",
                )
            ),
        )
    return f"## {c.name}\n\n" + " ".join(sentences[:4]) + "\n\n" + " ".join(sentences[4:])


Fact = dict[str, "str | int"]


def _fact(company: FilingCompany, fact: str) -> Fact:
    value = {
        "2023 revenue": company.revenue_2023,
        "employees at the end of 2023": company.employees,
        "chief executive": company.ceo,
        "headquarters city": company.city,
    }[fact]
    return {"entity": company.name, "fact": fact, "value": value}


def _question(
    kind: str, rng: random.Random, companies: list[FilingCompany]
) -> tuple[str, int | str, list[str] | None, list[Fact]]:
    """(question, gold, choices, the facts that answer it) of one kind."""
    if kind == "lookup":
        (c,) = rng.sample(companies, k=1)
        return rng.choice(
            (
                (
                    f"What was the 2023 revenue of {c.name}, in millions of dollars?",
                    c.revenue_2023,
                    None,
                    [_fact(c, "2023 revenue")],
                ),
                (
                    f"How many employees did {c.name} have at the end of 2023?",
                    c.employees,
                    None,
                    [_fact(c, "employees at the end of 2023")],
                ),
                (f"Who is the chief executive of {c.name}?", c.ceo, None, [_fact(c, "chief executive")]),
            )
        )
    if kind == "comparison":
        # Namesakes when possible: the comparison a retrieval by name alone can get wrong.
        a = rng.choice([c for c in companies if _namesake(c, companies)] or companies)
        b = _namesake(a, companies) or rng.choice([c for c in companies if c is not a])
        a, b = rng.sample([a, b], k=2)
        gold = a if a.employees > b.employees else b
        return (
            f"Which company had more employees at the end of 2023: {a.name} or {b.name}?",
            gold.name,
            [a.name, b.name],
            [_fact(a, "employees at the end of 2023"), _fact(b, "employees at the end of 2023")],
        )
    if kind == "sum":
        trio = rng.sample(companies, k=3)
        return (
            f"What was the combined 2023 revenue of {trio[0].name}, {trio[1].name} and {trio[2].name}, "
            "in millions of dollars?",
            sum(c.revenue_2023 for c in trio),
            None,
            [_fact(c, "2023 revenue") for c in trio],
        )
    if kind == "which":
        while True:
            trio = rng.sample(companies, k=3)
            target = trio[0]
            if sum(c.city == target.city for c in trio) == 1:
                break
        shown = rng.sample(trio, k=3)
        return (
            f"Which of these companies is headquartered in {target.city}: {shown[0].name}, {shown[1].name} "
            f"or {shown[2].name}?",
            target.name,
            [c.name for c in shown],
            [_fact(c, "headquarters city") for c in shown],
        )
    raise ValueError(f"unknown question kind {kind!r}")


def filings_document(rng: random.Random, companies: list[FilingCompany], number: int) -> str:
    """The review's text: a title, an introduction, then one section per company."""
    intro = (
        f"# Regional industry review, volume {number}\n\n"
        f"This review covers {len(companies)} companies that filed annual reports for 2023. Figures are "
        "taken from the filings; revenue is in millions of US dollars and headcount is at year end. "
        "Several companies share a name with an unrelated business: read the full name."
    )
    return intro + "\n\n" + "\n\n".join(_section(rng, c, companies) for c in companies) + "\n"


def generate_filings(
    documents: int = DEFAULT_FILINGS_DOCUMENTS,
    seed: int = 7,
    *,
    questions_per_document: int = DEFAULT_FILINGS_QUESTIONS,
    companies: tuple[int, int] = (50, 78),
) -> list[EvalItem]:
    """``documents`` reviews of ``companies`` (a range) companies each, ``questions_per_document``
    questions on each, the kinds cycling through lookup, comparison, sum and which."""
    if documents < 1 or questions_per_document < 1:
        raise ValueError("documents and questions_per_document must be >= 1")
    low, high = companies
    if not 4 <= low <= high:
        raise ValueError("companies must be a range (low, high) with 4 <= low <= high")
    rng = random.Random(f"filings:{seed}")
    items = []
    for number in range(1, documents + 1):
        roster = _companies(rng, rng.randint(low, high))
        text = filings_document(rng, roster, number)
        for q in range(questions_per_document):
            kind = FILINGS_QUESTION_KINDS[(number - 1 + q) % len(FILINGS_QUESTION_KINDS)]
            question, gold, choices, facts = _question(kind, rng, roster)
            items.append(
                EvalItem(
                    id=f"filings-{number:02d}-{q + 1}",
                    question=question,
                    answer=gold,
                    documents=(text,),
                    metric="numeric" if isinstance(gold, int) else "contains",
                    choices=tuple(choices) if choices else None,
                    meta={
                        "set": "filings",
                        "category": kind,
                        "document": number,
                        "seed": seed,
                        "facts": facts,  # the gold decomposition: what a plan should look up
                    },
                )
            )
    return items


__all__ = [
    "DEFAULT_FILINGS_DOCUMENTS",
    "DEFAULT_FILINGS_QUESTIONS",
    "FILINGS_QUESTION_KINDS",
    "FilingCompany",
    "filings_document",
    "generate_filings",
]
