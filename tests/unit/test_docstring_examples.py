"""The ``Example:`` sections of the protocol kit and the protocols' docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "langgraph_cloudlocal.protocols.common",
    "langgraph_cloudlocal.protocols.baselines",
    "langgraph_cloudlocal.protocols.minion",
    "langgraph_cloudlocal.protocols.minions",
    "langgraph_cloudlocal.protocols.answer_stream",
    "langgraph_cloudlocal.timing",
    "langgraph_cloudlocal.protocols.adaswitch",
    "langgraph_cloudlocal.protocols.step_checks",
    "langgraph_cloudlocal.prompts.baselines",
    "langgraph_cloudlocal.prompts.minion",
    "langgraph_cloudlocal.prompts.adaswitch",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} example(s) failed in {name}"
