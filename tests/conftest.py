"""Shared test setup. Unit tests (tests/unit) run with the network disabled; integration tests
(tests/integration) talk to real embedded models and servers on 127.0.0.1."""

from __future__ import annotations

import os

import pytest

# Tests must never send traces anywhere, whatever the developer's shell has set.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)
