"""Minion end to end with the real embedded SmolLM2 in both roles (it is often wrong: structure only)."""

from __future__ import annotations

from langgraph_cloudlocal.models import resolve_model
from langgraph_cloudlocal.protocols.minion import create_minion

MEMO = (
    "Internal memo, harbour office. The dredging of berth 4 was approved on 12 May. "
    "The contractor, Ysolde Brannigan, quoted 18,450 euros for the work and promised to finish "
    "within nine days. The harbour master asked that the night ferry keep running during the works."
)
QUESTION = "How much did Ysolde Brannigan quote for the dredging?"


def test_minion_end_to_end(smollm2_spec: str) -> None:
    local = resolve_model(smollm2_spec, "local", temperature=0).model
    cloud = resolve_model(smollm2_spec, "cloud", temperature=0).model
    graph = create_minion(
        local, cloud, max_rounds=1, local_max_tokens=48, cloud_max_tokens=96, structured_retries=0
    )
    out = graph.invoke({"question": QUESTION, "documents": [MEMO]})

    assert isinstance(out["answer"], str)
    usage = out["usage"]
    for role in ("local", "cloud"):
        assert usage[role]["calls"] >= 1
        assert usage[role]["input_tokens"] > 0 and usage[role]["output_tokens"] > 0
    assert usage["cloud"]["calls"] == 2  # the first question, then the forced answer
    # measured from the cloud requests: what the real worker relayed (it may quote); the protocol adds no
    # document text of its own (tests/integration/test_privacy_canary.py checks that over HTTP)
    assert 0 <= usage["private_chars_to_cloud"] <= usage["document_chars"]
    assert 0 <= usage["sensitive_values_to_cloud"] <= usage["sensitive_values_total"]
    assert usage["document_chars"] == len(MEMO)

    kinds = [d["decision"] for d in out["decisions"]]
    assert kinds[0] == "ask"
    assert kinds == ["ask", "forced_answer"]
    assert all(d["protocol"] == "minion" for d in out["decisions"])

    transcript = out["transcript"]
    assert transcript[0]["role"] == "cloud" and transcript[1]["role"] == "local"
    assert [t["role"] for t in transcript] == ["cloud", "local"]
    assert all(isinstance(t["text"], str) for t in transcript)
