"""The package's layers: every import points down (or across one layer), and no import circle exists.

The import statements of every module are read with ``ast``, lazy imports inside functions included (a
lazy import is still a dependency; it only hides a circle until the function runs). Imports under
``if TYPE_CHECKING:`` are left out: they never run. One documented exception: the protocol registry
(``protocols/__init__.py``) names each protocol's module as a string and imports it with ``importlib`` on
first use, like a plugin entry point; that is not an import statement and so not an edge here.

A new module must be placed in ``LAYERS`` (the test fails until it is), which is where its allowed
dependencies are decided.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "langgraph_cloudlocal"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

# Bottom to top. A module may import modules of its own layer or of the layers below it.
LAYERS: list[set[str]] = [
    {"errors"},
    # Leaves: no model, no graph. The protocol registry is names and module paths only.
    {
        "artifacts",
        "privacy",
        "decisions",
        "documents",
        "embeddings",
        "prompts",
        "prompts.adaswitch",
        "prompts.baselines",
        "prompts.minion",
        "prompts.minions",
        "running_servers",
        "testing",
        "timing",
        "protocols",
    },
    {"ledger", "models"},  # accounting; model specs to chat models
    {"calls", "embedded", "store"},  # model calls; embedded servers; the chunk store
    {"protocols.common", "protocols.step_checks", "protocols.answer_stream"},  # the protocol kit
    {"protocols.baselines", "protocols.minion", "protocols.minions", "protocols.adaswitch"},
    {"chat_model"},  # a protocol behind BaseChatModel
    {"api", "running"},  # the endpoint; the run plumbing (models, settings, JSONL, batches)
    {
        "evaluation",
        "evaluation.__main__",
        "evaluation.datasets",
        "evaluation.filings",
        "evaluation.metrics",
        "evaluation.registry",
        "evaluation.report",
        "evaluation.results",
        "evaluation.runner",
        "evaluation.synthetic",
    },
    {"trajectories"},  # AdaSwitch's training loop, built on the evaluation runner
    {"cli", ""},  # the command line; the package root (the public API)
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _relative(target: str) -> str:
    return target[len(PACKAGE) + 1 :] if target.startswith(PACKAGE + ".") else ""


def import_edges() -> set[tuple[str, str]]:
    """(importer, imported) pairs between the package's modules, names relative to the package."""
    modules = _modules()
    edges: set[tuple[str, str]] = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skipped = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base_parts = package.split(".") if package else []
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join([PACKAGE, *base_parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                # "from pkg import submodule" imports the submodule; "from pkg import name", the module.
                targets = [
                    f"{base}.{alias.name}" if _relative(f"{base}.{alias.name}") in modules else base
                    for alias in node.names
                ]
            for target in targets:
                if target != PACKAGE and not target.startswith(PACKAGE + "."):
                    continue
                relative = _relative(target)
                while relative and relative not in modules:
                    relative = relative.rpartition(".")[0]
                if relative != name:
                    edges.add((name, relative))
    return edges


def _layer_of() -> dict[str, int]:
    return {module: index for index, layer in enumerate(LAYERS) for module in layer}


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(set(_modules()) - set(_layer_of()))
    assert not unplaced, f"place these modules in LAYERS (tests/unit/test_import_graph.py): {unplaced}"
    gone = sorted(set(_layer_of()) - set(_modules()))
    assert not gone, f"LAYERS names modules that no longer exist: {gone}"


def test_no_module_imports_upward() -> None:
    layer = _layer_of()
    upward = sorted(
        f"{a or PACKAGE} (layer {layer[a]}) imports {b or PACKAGE} (layer {layer[b]})"
        for a, b in import_edges()
        if a in layer and b in layer and layer[b] > layer[a]
    )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle() -> None:
    cycle = find_cycle(import_edges())
    assert cycle is None, "import circle: " + " -> ".join(c or PACKAGE for c in cycle or [])


def test_the_checks_catch_a_circle_and_lazy_imports() -> None:
    # The checker itself: a circle is found, and an import inside a function is an edge.
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert find_cycle({("a", "b"), ("b", "c")}) is None
    edges = import_edges()
    assert ("cli", "evaluation.runner") in edges  # imported inside cloudlocal eval's function
    assert ("models", "running_servers") in edges
    assert ("models", "embedded") not in edges  # the old circle models <-> embedded
