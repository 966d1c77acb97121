"""LangChain Documents and loaders as a graph's ``documents`` input: each protocol reads their texts
(the check happens in the start node, before any model call)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from langgraph_cloudlocal.protocols.baselines import create_local_only
from langgraph_cloudlocal.protocols.common import InputError
from langgraph_cloudlocal.protocols.minions import create_minions
from langgraph_cloudlocal.testing import ScriptedChatModel

MEMO = "The Quillfeather project has a budget of 7,300 euros."


class MemoLoader(BaseLoader):
    def lazy_load(self) -> Iterator[Document]:
        yield Document(page_content=MEMO, metadata={"source": "memo.txt"})


@pytest.mark.parametrize("documents", [[Document(page_content=MEMO)], [MemoLoader()]])
def test_a_yardstick_reads_langchain_documents_and_loaders(documents: list) -> None:
    local = ScriptedChatModel(replies=["7,300 euros"], model_name="smol")
    out = create_local_only(local).invoke({"question": "What is the budget?", "documents": documents})
    assert out["answer"] == "7,300 euros"
    assert MEMO in local.calls[0]["prompt"]
    assert out["usage"]["document_chars"] == len(MEMO)


def test_minions_jobs_read_a_langchain_document() -> None:
    def cloud(messages: list) -> str:
        if "Write at most" in str(messages[-1].content):
            return json.dumps({"tasks": [{"entity": "Quillfeather", "task": "budget"}]})
        return json.dumps({"working": "", "decision": "final", "answer": "7,300 euros"})

    local = ScriptedChatModel(
        replies=[json.dumps({"citation": MEMO, "answer": "7,300 euros"})], model_name="smol"
    )
    out = create_minions(local, ScriptedChatModel(responder=cloud, model_name="gpt-4o")).invoke(
        {"question": "What is the Quillfeather budget?", "documents": [Document(page_content=MEMO)]}
    )
    assert out["answer"] == "7,300 euros"
    assert MEMO in local.calls[0]["prompt"]


def test_something_else_is_a_clear_input_error_before_any_call() -> None:
    local = ScriptedChatModel(replies=["x"], model_name="smol")
    with pytest.raises(InputError, match="LangChain Documents or document loaders"):
        create_local_only(local).invoke({"question": "Budget?", "documents": [42]})
    assert local.calls == []
