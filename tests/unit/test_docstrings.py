"""Google-style docstrings on the public names of the public modules: an ``Args:`` section when there are
arguments, ``Returns:`` when something is returned, ``Raises:`` when the body raises, and an ``Example``
on every public function and class; and every example that can run offline does (doctest)."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

MODULES = [
    "langgraph_cloudlocal",
    "langgraph_cloudlocal.errors",
    "langgraph_cloudlocal.store",
    "langgraph_cloudlocal.documents",
    "langgraph_cloudlocal.ledger",
    "langgraph_cloudlocal.decisions",
    "langgraph_cloudlocal.privacy",
    "langgraph_cloudlocal.testing",
    "langgraph_cloudlocal.timing",
    "langgraph_cloudlocal.protocols.common",
    "langgraph_cloudlocal.protocols.answer_stream",
    "langgraph_cloudlocal.protocols.baselines",
    "langgraph_cloudlocal.protocols.minion",
    "langgraph_cloudlocal.protocols.adaswitch",
    "langgraph_cloudlocal.protocols",
    "langgraph_cloudlocal.running",
    "langgraph_cloudlocal.embeddings",
    "langgraph_cloudlocal.artifacts",
    "langgraph_cloudlocal.models",
    "langgraph_cloudlocal.calls",
    "langgraph_cloudlocal.chat_model",
    "langgraph_cloudlocal.embedded",
    "langgraph_cloudlocal.api",
    "langgraph_cloudlocal.protocols.minions",
]


def _own_public_names(module: ModuleType) -> Iterator[tuple[str, Any]]:
    for name in module.__all__:
        value = getattr(module, name)
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__:
            yield f"{module.__name__}.{name}", value


def _methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    generated_init = dataclasses.is_dataclass(cls)  # its fields are documented on the class
    for name, value in vars(cls).items():
        if name.startswith("_") and not (name == "__init__" and not generated_init):
            continue
        function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        if inspect.isfunction(function):
            yield name, function
        elif isinstance(value, property) and value.fget is not None:
            yield name, value.fget


def _raises(function: Callable[..., Any]) -> bool:
    """Whether the function's own body (not nested functions) raises an exception of its own."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return False
    body = tree.body[0]
    stack = list(ast.iter_child_nodes(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _problems(
    qualname: str, function: Callable[..., Any], *, example: bool, doc: str | None = None
) -> list[str]:
    doc = doc or inspect.getdoc(function) or ""
    if not doc:
        return [f"{qualname}: no docstring"]
    problems = []
    signature = inspect.signature(function)
    params = [p for p in signature.parameters if p not in ("self", "cls")]
    if params and "Args:" not in doc:
        problems.append(f"{qualname}: no Args: section for {params}")
    returns = signature.return_annotation
    is_property_like = function.__name__ != "__init__" and not params and "Returns:" not in doc
    if returns not in ("None", None, inspect.Signature.empty) and function.__name__ != "__init__":
        if "Returns:" not in doc and "Yields:" not in doc and not (is_property_like and len(doc) < 300):
            problems.append(f"{qualname}: no Returns: section")
    if _raises(function) and "Raises:" not in doc:
        problems.append(f"{qualname}: raises but has no Raises: section")
    if example and "Example" not in doc:
        problems.append(f"{qualname}: no Example")
    return problems


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_google_style_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module), f"{module_name} has no module docstring"
    problems: list[str] = []
    checked = 0
    for qualname, value in _own_public_names(module):
        checked += 1
        if inspect.isfunction(value):
            problems += _problems(qualname, value, example=True)
            continue
        doc = inspect.getdoc(value) or ""
        if not doc or doc == inspect.getdoc(value.__mro__[1]):
            problems.append(f"{qualname}: no docstring of its own")
        if issubclass(value, BaseException):
            continue  # an error's docstring says when it is raised; no sections to give
        if "Example" not in doc:
            problems.append(f"{qualname}: no Example")
        if dataclasses.is_dataclass(value) and "Attributes:" not in doc and "Args:" not in doc:
            problems.append(f"{qualname}: a dataclass without Attributes: or Args:")
        for name, method in _methods(value):
            # Google style documents __init__'s arguments on the class.
            own_doc = doc if name == "__init__" else None
            problems += _problems(f"{qualname}.{name}", method, example=False, doc=own_doc)
    assert checked or module_name == "langgraph_cloudlocal.errors" or module.__all__
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"
