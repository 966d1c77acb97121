"""The yardsticks (local-only, cloud-only): prompts by reasoning style, usage, privacy count, budget."""

from __future__ import annotations

import pytest
from langchain_core.messages import BaseMessage

from langgraph_cloudlocal.protocols.baselines import BaselineSettings, create_cloud_only, create_local_only
from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.testing import ScriptedChatModel

DOCUMENT = "The depot shipped 120 crates in May and 80 in June."
QUESTION = "How many crates did the depot ship in May and June together?"


class Recorder:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.systems: list[str] = []

    def __call__(self, messages: list[BaseMessage]) -> str:
        self.systems.append(str(messages[0].content))
        return self.reply


def test_brief_is_the_default_and_steps_asks_for_worked_steps_then_an_answer_line() -> None:
    cloud = Recorder("120 + 80 = 200\nAnswer: 200")
    local = ScriptedChatModel(responder=lambda m: "200", model_name="small")
    graph = create_cloud_only(local, ScriptedChatModel(responder=cloud, model_name="gpt-4o"))
    graph.invoke({"question": QUESTION, "documents": [DOCUMENT]})
    assert "the answer itself first" in cloud.systems[-1]
    out = graph.invoke({"question": QUESTION, "documents": [DOCUMENT]}, context={"reasoning": "steps"})
    assert "step by step" in cloud.systems[-1] and "Answer: <the answer>" in cloud.systems[-1]
    assert out["answer"] == "120 + 80 = 200\nAnswer: 200"
    assert out["usage"]["private_chars_to_cloud"] == len(DOCUMENT)
    assert out["usage"]["cloud_calls"] == 1


def test_build_time_default_and_bad_values() -> None:
    local = Recorder("200")
    graph = create_local_only(ScriptedChatModel(responder=local, model_name="small"), reasoning="steps")
    out = graph.invoke({"question": QUESTION, "documents": [DOCUMENT]})
    assert "step by step" in local.systems[-1]
    assert out["usage"]["private_chars_to_cloud"] == 0 and out["usage"]["cloud_calls"] == 0
    with pytest.raises(InputError, match="reasoning must be 'brief' or 'steps'"):
        create_local_only(ScriptedChatModel(responder=local, model_name="small"), reasoning="verbose")
    with pytest.raises(InputError, match="reasoning must be"):
        graph.invoke({"question": QUESTION, "documents": [DOCUMENT]}, context={"reasoning": "long"})
    assert len(local.systems) == 1  # the bad run made no model call
    assert BaselineSettings().reasoning == "brief"
