"""Mermaid diagrams of the protocols, drawn from the real graphs, in ``docs/diagrams``.

    python -m graphs.diagrams           # rewrite docs/diagrams/*.mmd and docs/diagrams/README.md
    python -m graphs.diagrams --check   # exit 1 if a diagram is out of date (what tests/unit/test_diagrams.py does)

Each graph is built with scripted models (no server, no key) and drawn with
``build_*(...).compile().get_graph().draw_mermaid()``. A protocol whose module is not in the package yet
is skipped; once it exists, its diagram must exist too.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM_DIR = ROOT / "docs" / "diagrams"
UPDATE_COMMAND = ".venv/bin/python -m graphs.diagrams"


@dataclass(frozen=True)
class Diagram:
    name: str
    module: str
    builder: str
    title: str
    summary: str


DIAGRAMS: tuple[Diagram, ...] = (
    Diagram(
        "minion",
        "langgraph_cloudlocal.protocols.minion",
        "build_minion",
        "Minion",
        "The cloud supervisor never sees the documents: it asks the local worker, which has read them, one "
        "question at a time (`supervisor` -> `worker` -> `supervisor` ...), and answers once it knows enough "
        "or when `max_rounds` is reached. If the cloud budget runs out, the worker answers the question itself.",
    ),
    Diagram(
        "minions",
        "langgraph_cloudlocal.protocols.minions",
        "build_minions",
        "MinionS",
        "`prepare` chunks the documents (and indexes them in the chunk store when retrieval is on). Each round "
        "the cloud `plan`s a few small single-chunk tasks; the harness turns them into (task, chunk) jobs that "
        "fan out to the local model in parallel (`job`, LangGraph `Send`); `filter` drops jobs that found "
        "nothing; `synthesize` (cloud) reads only the filtered outputs and answers or asks for another round.",
    ),
    Diagram(
        "adaswitch",
        "langgraph_cloudlocal.protocols.adaswitch",
        "build_adaswitch",
        "AdaSwitch",
        "The local model drafts one reasoning step at a time (`local_step`); `verify` scores how likely the "
        "step is wrong (self-reflection, token log-probabilities, or your own function); above `threshold` the "
        "step is escalated and `cloud_step` has the cloud model write it instead, then the local model carries "
        "on. The threshold is the accuracy-versus-cost knob.",
    ),
    Diagram(
        "local_only",
        "langgraph_cloudlocal.protocols.baselines",
        "build_local_only",
        "Local only (yardstick)",
        "The local model alone answers from the whole documents: free, private, and the accuracy floor.",
    ),
    Diagram(
        "cloud_only",
        "langgraph_cloudlocal.protocols.baselines",
        "build_cloud_only",
        "Cloud only (yardstick)",
        "The cloud model alone reads the whole documents: the accuracy ceiling and the cost to beat.",
    ),
)


def available(diagram: Diagram) -> bool:
    """Whether the protocol's module exists in the package (protocols land one at a time)."""
    return importlib.util.find_spec(diagram.module) is not None


def render(diagram: Diagram) -> str:
    """The Mermaid source of one protocol, drawn from its real graph (scripted models, no network)."""
    from langgraph_cloudlocal.testing import ScriptedChatModel

    builder = getattr(importlib.import_module(diagram.module), diagram.builder)
    local = ScriptedChatModel(replies=["unused"], model_name="local")
    cloud = ScriptedChatModel(replies=["unused"], model_name="cloud")
    graph = builder(local, cloud).compile(name=diagram.name)
    return graph.get_graph().draw_mermaid().rstrip() + "\n"


def render_readme(sources: dict[str, str]) -> str:
    lines = [
        "# Protocol diagrams",
        "",
        f"Generated from the real graphs by `{UPDATE_COMMAND}` (do not edit by hand; "
        "`tests/unit/test_diagrams.py` fails when a graph changes and its diagram does not). "
        "Dashed arrows are conditional edges.",
        "",
    ]
    for diagram in DIAGRAMS:
        if diagram.name not in sources:
            continue
        lines += [
            f"## {diagram.title}",
            "",
            f"`{diagram.module}.{diagram.builder}` — {diagram.summary}",
            "",
            "```mermaid",
            sources[diagram.name].rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


README_BLOCK = re.compile(r"(<!-- diagram:(\w+) -->\n)```mermaid\n.*?```\n(<!-- /diagram -->)", re.DOTALL)


def readme_with_diagrams(text: str, sources: dict[str, str]) -> str:
    """The project README with every ``<!-- diagram:NAME -->`` block redrawn from the graphs."""

    def redraw(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in sources:
            return match.group(0)
        return f"{match.group(1)}```mermaid\n{sources[name].rstrip()}\n```\n{match.group(3)}"

    return README_BLOCK.sub(redraw, text)


def expected_files() -> dict[Path, str]:
    """Every file under docs/diagrams (and the README's diagram blocks) with its expected content."""
    sources = {d.name: render(d) for d in DIAGRAMS if available(d)}
    files = {DIAGRAM_DIR / f"{name}.mmd": text for name, text in sources.items()}
    files[DIAGRAM_DIR / "README.md"] = render_readme(sources)
    readme = ROOT / "README.md"
    if readme.exists():
        files[readme] = readme_with_diagrams(readme.read_text(), sources)
    return files


def stale_files() -> list[str]:
    """Paths (relative to the repository) whose content differs from the graphs, or that are missing."""
    expected = expected_files()
    stale = [
        str(p.relative_to(ROOT)) for p, text in expected.items() if not p.exists() or p.read_text() != text
    ]
    extra = [p for p in DIAGRAM_DIR.glob("*.mmd") if p not in expected]  # a protocol that is gone
    return stale + [str(p.relative_to(ROOT)) for p in sorted(extra)]


def write_all() -> list[Path]:
    DIAGRAM_DIR.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    written = []
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    for path in DIAGRAM_DIR.glob("*.mmd"):
        if path not in expected:
            path.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a diagram is stale")
    args = parser.parse_args(argv)
    skipped = [d.name for d in DIAGRAMS if not available(d)]
    if skipped:
        print(f"not in the package yet, skipped: {', '.join(skipped)}")
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"out of date: {path}")
        if stale:
            print(f"run `{UPDATE_COMMAND}` to update")
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
