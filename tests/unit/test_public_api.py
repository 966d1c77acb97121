"""The package root's public API: ``__all__``, the lazy ``_EXPORTS`` table and the ``TYPE_CHECKING``
imports that type checkers read must name the same objects, and every error the package defines must be
a ``CloudLocalError`` reachable from the root."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import langgraph_cloudlocal
from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.protocols.common import RunSettings

# Errors that never leave the package: each is caught (and turned into something else) where it is raised.
INTERNAL_ERRORS = {
    "CliUsageError",  # the CLI prints it and exits with code 2
    "RequestError",  # the endpoint answers it as an HTTP error body
    "JobTimeout",  # MinionS records the job as failed and carries on
}


def _type_checking_imports() -> dict[str, str]:
    """``name -> module`` of every ``from M import name`` under ``if TYPE_CHECKING:`` in __init__.py."""
    tree = ast.parse(Path(langgraph_cloudlocal.__file__).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                for alias in statement.names:
                    assert alias.asname is None, f"{alias.name} is renamed in the TYPE_CHECKING block"
                    assert statement.module is not None
                    found[alias.name] = statement.module
    return found


def _package_modules() -> list[str]:
    names = [langgraph_cloudlocal.__name__]
    for info in pkgutil.walk_packages(langgraph_cloudlocal.__path__, prefix="langgraph_cloudlocal."):
        names.append(info.name)
    return names


def test_all_exports_and_type_checking_imports_agree() -> None:
    exports = langgraph_cloudlocal._EXPORTS
    assert len(langgraph_cloudlocal.__all__) == len(set(langgraph_cloudlocal.__all__)), (
        "duplicates in __all__"
    )
    assert set(langgraph_cloudlocal.__all__) == set(exports)
    assert _type_checking_imports() == exports
    assert sorted(dir(langgraph_cloudlocal)) == sorted(exports)


@pytest.mark.parametrize("name", sorted(langgraph_cloudlocal._EXPORTS))
def test_every_export_resolves_to_the_object_its_module_defines(name: str) -> None:
    module = importlib.import_module(langgraph_cloudlocal._EXPORTS[name])
    value = getattr(langgraph_cloudlocal, name)
    assert value is getattr(module, name)
    # Defined there, not re-exported from somewhere else (TypedDicts report their own module too).
    assert getattr(value, "__module__", module.__name__) == module.__name__
    assert inspect.getdoc(value), f"{name} has no docstring"


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'create_everything'"):
        langgraph_cloudlocal.create_everything  # noqa: B018


def test_every_error_is_a_cloudlocal_error_and_exported() -> None:
    defined: dict[str, type[BaseException]] = {}
    for module_name in _package_modules():
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module_name
            ):
                defined[name] = value
    assert defined, "no error classes found: the walk is broken"
    not_ours = sorted(name for name, cls in defined.items() if not issubclass(cls, CloudLocalError))
    assert not_ours == [], f"errors that are not CloudLocalError: {not_ours}"
    missing = sorted(set(defined) - set(langgraph_cloudlocal.__all__) - INTERNAL_ERRORS)
    assert missing == [], f"errors not exported from langgraph_cloudlocal: {missing}"
    for name in INTERNAL_ERRORS:
        assert name in defined, f"{name} is listed as internal but no longer exists"
    exported_errors = [
        name
        for name in langgraph_cloudlocal.__all__
        if inspect.isclass(value := getattr(langgraph_cloudlocal, name)) and issubclass(value, BaseException)
    ]
    assert all(issubclass(getattr(langgraph_cloudlocal, n), CloudLocalError) for n in exported_errors)


def test_every_protocol_settings_class_is_exported() -> None:
    settings = {}
    for module_name in _package_modules():
        if not module_name.startswith("langgraph_cloudlocal.protocols"):
            continue
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, RunSettings) and value.__module__ == module_name:
                settings[name] = value
    assert {"RunSettings", "MinionSettings", "MinionsSettings", "AdaSwitchSettings"} <= set(settings)
    assert sorted(set(settings) - set(langgraph_cloudlocal.__all__)) == []


def test_package_ships_its_type_marker() -> None:
    assert (Path(langgraph_cloudlocal.__file__).parent / "py.typed").is_file()
