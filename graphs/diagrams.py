"""Mermaid diagrams of the protocols, drawn from the real graphs, in ``docs/diagrams``.

    python -m graphs.diagrams           # rewrite docs/diagrams/*.mmd and docs/diagrams/README.md
    python -m graphs.diagrams --check   # exit 1 if a diagram is out of date (what tests/unit/test_diagrams.py does)

Each graph is built with scripted models (no server, no key) and drawn with
``build_*(...).compile().get_graph().draw_mermaid()``. The protocols, their titles and summaries come from
the registry (``langgraph_cloudlocal.protocols.PROTOCOLS``); one whose module cannot be imported is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys
from pathlib import Path

from langgraph_cloudlocal.protocols import PROTOCOLS, ProtocolInfo

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM_DIR = ROOT / "docs" / "diagrams"
UPDATE_COMMAND = ".venv/bin/python -m graphs.diagrams"


def diagrams() -> list[ProtocolInfo]:
    """The protocols to draw: every registered protocol that has a ``build_*`` function."""
    return [info for info in PROTOCOLS.values() if info.builder]


def available(info: ProtocolInfo) -> bool:
    """Whether the protocol's module can be imported (a plugin's may not be installed)."""
    try:
        return importlib.util.find_spec(info.module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def render(info: ProtocolInfo) -> str:
    """The Mermaid source of one protocol, drawn from its real graph (scripted models, no network).

    Args:
        info: The protocol's registry entry.

    Returns:
        The diagram, ending in a newline.
    """
    from langgraph_cloudlocal.testing import ScriptedChatModel

    local = ScriptedChatModel(replies=["unused"], model_name="local")
    cloud = ScriptedChatModel(replies=["unused"], model_name="cloud")
    graph = info.load_builder()(local, cloud).compile(name=info.graph_name)
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
    for info in diagrams():
        if info.graph_name not in sources:
            continue
        lines += [
            f"## {info.title or info.name}",
            "",
            f"`{info.module}.{info.builder}` — {info.summary or info.description}",
            "",
            "```mermaid",
            sources[info.graph_name].rstrip(),
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
    sources = {info.graph_name: render(info) for info in diagrams() if available(info)}
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
    skipped = [info.name for info in diagrams() if not available(info)]
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
