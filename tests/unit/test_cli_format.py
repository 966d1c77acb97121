"""How the CLI words the cost comparison with cloud-only."""

from __future__ import annotations

from langgraph_cloudlocal.cli import compared_to_cloud_only


def test_cost_reduction_in_words() -> None:
    assert compared_to_cloud_only(5.74) == "5.7x cheaper"
    assert compared_to_cloud_only(1.0) == "1.0x cheaper"
    assert compared_to_cloud_only(0.2) == "5.0x dearer"
    assert compared_to_cloud_only(None) == "no cloud spend"
    assert compared_to_cloud_only(0) == "no cloud spend"
