"""Drop ``CloudLocalChatModel`` into LangGraph's prebuilt ReAct agent, with one tool.

The agent sees an ordinary chat model. Behind it the cascade runs: the local model proposes each turn
(a tool call or an answer, as JSON-schema constrained output, since small local models have no native
tool calling), a verifier scores the proposal, and a doubtful one goes to the cloud. Each AI turn's
``response_metadata`` says who answered, why (``decisions``) and what it cost (``usage``); decisions also
arrive live on the graph's ``custom`` stream, printed here as they happen.

Run (no key needed; starts the embedded models unless CLOUDLOCAL_LOCAL_MODEL/CLOUDLOCAL_CLOUD_MODEL are set):

    .venv/bin/python examples/chat_model_react_agent.py
    .venv/bin/python examples/chat_model_react_agent.py --threshold 0.2   # escalate more
"""

from __future__ import annotations

import argparse
import warnings

from _demo import demo_models, say, short
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from langgraph_cloudlocal import CloudLocalChatModel

DEPOTS = {"gdansk": "cold storage, 4,200 pallets", "rotterdam": "general cargo, 9,800 pallets"}


@tool
def depot_capacity(city: str) -> str:
    """The kind and capacity of Harborline's depot in a city."""
    return DEPOTS.get(city.strip().lower().replace("ń", "n"), f"no depot in {city}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--question", default="What is the capacity of the depot in Gdansk?")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="short replies (tests)")
    args = parser.parse_args()
    tokens = 64 if args.quick else 160
    with demo_models() as (local, cloud):
        chat = CloudLocalChatModel(
            local=local,
            cloud=cloud,
            threshold=args.threshold,
            verifier="logprobs",  # scores the proposal from its own tokens: no extra call
            local_max_tokens=tokens,
            cloud_max_tokens=tokens,
        )
        with warnings.catch_warnings():  # create_react_agent moved to langchain.agents; it still works
            warnings.simplefilter("ignore")
            from langgraph.prebuilt import create_react_agent

            agent = create_react_agent(chat, [depot_capacity])
        say(f"question: {args.question}")
        final = None
        for mode, payload in agent.stream(
            {"messages": [HumanMessage(args.question)]},
            {"recursion_limit": 6},
            stream_mode=["custom", "values"],
        ):
            if mode == "custom" and payload.get("type") == "cloudlocal.decision":
                say(f"  decision: {payload['decision']:<8} {short(payload['reason'], 90)}")
            elif mode == "values":
                final = payload
        say("turns:")
        for message in final["messages"] if final else []:
            if message.type == "ai" and "policy" in message.response_metadata:
                meta = message.response_metadata
                what = (
                    "calls " + ", ".join(f"{c['name']}({c['args']})" for c in message.tool_calls)
                    if message.tool_calls
                    else f"answers {short(message.content, 70)!r}"
                )
                say(
                    f"  ai [{meta['answered_by']}] {what}  "
                    f"(local {meta['usage']['local']['calls']} calls, cloud ${meta['usage']['cloud_cost_usd']:.5f})"
                )
            elif message.type == "tool":
                say(f"  tool {message.name}: {message.content}")
            elif message.type == "ai":
                say(f"  ai [agent] {short(message.content, 80)}")
        spent = chat.usage_so_far()
        say(
            f"usage: local {spent['local']['calls']} calls / {spent['local']['input_tokens']} in tokens; "
            f"cloud {spent['cloud_calls']} calls, cloud $ {spent['cloud_cost_usd']:.5f}"
        )


if __name__ == "__main__":
    main()
