"""A conversation with private documents: follow-up questions on a LangGraph thread (``MemorySaver``).

Minion keeps the conversation on the thread: a follow-up may refer to the previous answer ("its",
"that region"), because the cloud model sees the earlier questions and the answers it gave — but still
never the documents, which only the local model reads (``private_chars_to_cloud`` stays 0; what the
local model quotes is measured as ``quoted_chars_to_cloud``). Each turn reports its own usage.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/minions_conversation.py
"""

from __future__ import annotations

import argparse

from _demo import DATA, demo_models, print_usage, say, short
from langgraph.checkpoint.memory import MemorySaver

from langgraph_cloudlocal import build_minion

QUESTIONS = [
    "Which region had the best on-time rate?",
    "Who leads that region, and how many containers did it ship?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round per question, short replies (tests)")
    args = parser.parse_args()
    memo = (DATA / "quarterly_memo.md").read_text()
    settings = (
        {"max_rounds": 1, "local_max_tokens": 64, "cloud_max_tokens": 96} if args.quick else {"max_rounds": 2}
    )
    with demo_models() as (local, cloud):
        graph = build_minion(local, cloud, **settings).compile(checkpointer=MemorySaver())
        config = {"configurable": {"thread_id": "memo-chat"}}
        for turn, question in enumerate(QUESTIONS, start=1):
            # The documents go in once; later turns on the thread reuse them.
            inputs = {"question": question, "documents": [memo]} if turn == 1 else {"question": question}
            out = graph.invoke(inputs, config)
            say(f"turn {turn}: {question}")
            say(f"  answer: {short(out['answer'], 120)}")
            say(f"  the cloud saw {len(out['history']) - 1} earlier turn(s) of this conversation")
            print_usage(out["usage"])


if __name__ == "__main__":
    main()
