"""A conversation with private documents: follow-up questions on a LangGraph thread (``MemorySaver``),
the answers streamed token by token.

MinionS (or Minion, ``--protocol minion``) keeps the conversation on the thread: a follow-up may refer to
the previous answer ("that region"), because the cloud model sees the earlier questions and the answers
it gave — but still never the documents, which only the local model reads (``private_chars_to_cloud``
stays 0 unless the local model quotes them). Each turn reports its own usage. The answer is printed as it
is written: ``stream_mode="messages"`` tokens tagged ``cloudlocal:answer``.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/minions_conversation.py [--protocol minion]
"""

from __future__ import annotations

import argparse
import sys

from _demo import DATA, demo_models, print_usage, say
from langgraph.checkpoint.memory import MemorySaver

from langgraph_cloudlocal import create_minion, create_minions
from langgraph_cloudlocal.protocols.answer_stream import is_answer_token

QUESTIONS = [
    "Which region had the best on-time rate?",
    "Who leads that region, and how many containers did it ship?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=["minions", "minion"], default="minions")
    parser.add_argument("--quick", action="store_true", help="one round per question, short replies (tests)")
    args = parser.parse_args()
    memo = (DATA / "quarterly_memo.md").read_text()
    settings = (
        {"max_rounds": 1, "local_max_tokens": 64, "cloud_max_tokens": 96} if args.quick else {"max_rounds": 2}
    )
    create = create_minions if args.protocol == "minions" else create_minion
    with demo_models() as (local, cloud):
        graph = create(local, cloud, checkpointer=MemorySaver(), **settings)
        config = {"configurable": {"thread_id": "memo-chat"}}
        for turn, question in enumerate(QUESTIONS, start=1):
            # The documents go in once; later turns on the thread reuse them.
            inputs = {"question": question, "documents": [memo]} if turn == 1 else {"question": question}
            say(f"turn {turn}: {question}")
            print("  answer: ", end="", flush=True)
            out: dict = {}
            streamed = ""
            for mode, payload in graph.stream(inputs, config, stream_mode=["messages", "values"]):
                if mode == "values":
                    out = payload
                elif is_answer_token(payload[1]):
                    streamed += str(payload[0].content)
                    sys.stdout.write(str(payload[0].content))
                    sys.stdout.flush()
            print("" if streamed else out["answer"])
            say(f"  the cloud saw {len(out['history']) - 1} earlier turn(s) of this conversation")
            print_usage(out["usage"])


if __name__ == "__main__":
    main()
