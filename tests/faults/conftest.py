"""The fault suite: broken model output, dead and slow servers, killed processes, bad input.

Most faults are injected with scripted models or tiny loopback HTTP servers (tests/faults/fakes.py); a few
use the real embedded SmolLM2 server. At the end of the session one line reports what was injected and
whether any finished result was lost (it must be 0)::

    fault suite: N faults injected, M runs completed, 0 results lost (K checks)

It starts with FAILED (in red) when a test of the session failed: a failed test may have stopped before it
counted. Tests in tests/integration (resume after SIGKILL, Postgres, scale-out, security) add to the same
counters.
"""

from __future__ import annotations

from typing import Any

from tests.faults import tally


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    counts = tally.snapshot()
    if not any(counts.values()):
        return
    failed = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))
    bad = counts["lost"] > 0 or failed > 0
    terminalreporter.write_line(tally.summary_line(failed), bold=True, red=bad, green=not bad)
