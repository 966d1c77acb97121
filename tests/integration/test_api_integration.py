"""The OpenAI-compatible endpoint over real HTTP (uvicorn on 127.0.0.1), driven by the official
``openai`` client, with the real SmolLM2 in both roles. Checks structure, usage and decisions."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import uvicorn

from langgraph_cloudlocal.api import create_app

KEY = "integration-key"
SHORT = {"local_max_tokens": 40, "cloud_max_tokens": 40, "verifier_max_tokens": 40}
QUESTION = [{"role": "user", "content": "Name one primary colour."}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(smollm2_spec: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    documents = tmp_path_factory.mktemp("documents")
    (documents / "memo.md").write_text("Memo: the Eastern region is led by Dana Ortiz.")
    app = create_app(
        smollm2_spec,
        smollm2_spec,
        api_key=KEY,
        documents_dir=documents,
        protocol_settings={"minion": {"max_rounds": 1, "local_max_tokens": 40, "cloud_max_tokens": 60}},
        verifier="logprobs",  # no verifier calls: short tests
        **SHORT,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the endpoint did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=300)


def test_models_are_listed(endpoint: str) -> None:
    ids = [m.id for m in _client(endpoint).models.list()]
    assert {"cascade", "adaswitch@0.3", "minions", "minion", "cloud-only"} <= set(ids)


def test_a_completion_through_the_openai_client(endpoint: str) -> None:
    # logprobs verifier at threshold 0: any doubt escalates, so both roles are used.
    reply = _client(endpoint).chat.completions.create(
        model="cascade@0.0", messages=QUESTION, extra_body={"budget": {"max_cloud_calls": 1}}
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in ("stop", "length")  # "length": cut at its token limit
    report = reply.usage.model_extra["cloudlocal"]
    assert report["local"]["calls"] >= 1 and report["local"]["model"] == "smollm2"
    assert reply.usage.prompt_tokens == report["local"]["input_tokens"] + report["cloud"]["input_tokens"]
    extra = reply.model_extra["cloudlocal"]
    decisions = [d["decision"] for d in extra["decisions"]]
    assert decisions[-1] in ("escalate", "accept")
    assert (extra["answered_by"] == "cloud") == (report["cloud_calls"] == 1)


def test_a_streamed_completion_joins_and_ends_with_usage(endpoint: str) -> None:
    stream = _client(endpoint).chat.completions.create(model="cascade@0.0", messages=QUESTION, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason in ("stop", "length")
    extra = finish[0].model_extra["cloudlocal"]
    assert extra["decisions"] and extra["answered_by"] in ("local", "cloud")
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.total_tokens > 0
    report = usage.model_extra["cloudlocal"]
    assert report["local"]["calls"] >= 1
    if extra["answered_by"] == "cloud":
        assert report["cloud"]["output_tokens"] > 0
        # token by token: more content chunks than one
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert isinstance(text, str)


def test_a_streamed_minions_answer_with_live_decisions(endpoint: str) -> None:
    """MinionS through the openai client: its decisions arrive as they are made (empty-choice chunks),
    then its answer's tokens, which join to the answer the report ends with."""
    stream = _client(endpoint).chat.completions.create(
        model="minions",
        messages=[
            {
                "role": "system",
                "content": "Memo. The dredging of berth 4 was quoted at 18,450 euros by Ysolde Brannigan.",
            },
            {"role": "user", "content": "How much was the dredging quoted at?"},
        ],
        stream=True,
        stream_options={"include_decisions": True},  # type: ignore[typeddict-unknown-key]
        extra_body={"settings": {"max_rounds": 1, "structured_retries": 0, "cloud_max_tokens": 96}},
    )
    chunks = list(stream)
    live = [
        c.model_extra["cloudlocal"]["decision"]
        for c in chunks
        if not c.choices and c.model_extra.get("cloudlocal")
    ]
    finish = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    reported = finish.model_extra["cloudlocal"]["decisions"]
    assert [d["decision"] for d in live] == [d["decision"] for d in reported]
    assert live[0]["decision"] in ("all_chunks", "retrieval") and "plan" in [d["decision"] for d in live]
    first_text = next((i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content), None)
    if first_text is not None:  # the plan was decided before any answer token
        assert (
            chunks.index(next(c for c in chunks if not c.choices and c.model_extra.get("cloudlocal")))
            < first_text
        )


def test_a_wrong_key_is_refused(endpoint: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(endpoint, key="wrong").chat.completions.create(model="cascade", messages=QUESTION)
    assert caught.value.status_code == 401


def test_a_bad_body_is_a_400_with_a_clear_message(endpoint: str) -> None:
    client = _client(endpoint)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="cascade", messages=[{"role": "robot", "content": "hi"}])
    assert "role must be" in caught.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-17", messages=QUESTION)


def test_a_document_file_for_a_minion_model(endpoint: str, tmp_path: Path) -> None:
    reply = _client(endpoint).chat.completions.create(
        model="minion",
        messages=[{"role": "user", "content": "Who leads the Eastern region?"}],
        extra_body={"documents": [{"path": "memo.md"}]},
    )
    report = reply.usage.model_extra["cloudlocal"]
    assert report["document_chars"] == len("Memo: the Eastern region is led by Dana Ortiz.")
    assert report["private_chars_to_cloud"] == 0 and report["cloud_calls"] >= 1
    assert reply.model_extra["cloudlocal"]["policy"] == "minion"


def test_the_cli_serves_the_endpoint(smollm2_spec: str) -> None:
    import os
    import subprocess
    import sys

    port = _free_port()
    env = dict(os.environ, CLOUDLOCAL_API_KEY=KEY)
    command = [sys.executable, "-m", "langgraph_cloudlocal.cli", "serve-api", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--local", smollm2_spec, "--cloud", smollm2_spec],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                ids = [m.id for m in _client(url).models.list()]
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert "cascade" in ids and "minions" in ids
        with pytest.raises(openai.AuthenticationError):
            _client(url, key="wrong").models.list()
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert KEY not in output  # the key never reaches the log
    refused = subprocess.run(
        [*command, "--host", "0.0.0.0"],
        env=dict(os.environ, CLOUDLOCAL_API_KEY=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "needs an API key" in refused.stderr
