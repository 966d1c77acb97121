"""Fault injection helpers: broken replies, a tiny OpenAI-compatible server on loopback that can be slow,
refuse, or die mid-run, and a closed loopback port.

The server speaks just enough of ``/v1/chat/completions`` (with usage; streamed as SSE when asked) for
``ChatOpenAI``;
what it answers is decided by a ``responder(body) -> str`` function, so one server can play the cloud
(plans, syntheses) or the local model (jobs). It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.faults import tally

# --------------------------------------------------------------------------------------------------
# Broken model output, the four kinds small models produce

BROKEN_REPLIES: dict[str, str] = {
    "not_json": "I am sorry, I cannot answer in that format. The answer might be somewhere. BROKEN-NOT-JSON",
    "wrong_types": '{"tasks": "BROKEN-WRONG-TYPES", "decision": 7, "message": ["x"], "answer": {"a": 1}, '
    '"explanation": 3.5, "verdict": [], "score": "high", "confidence": "BROKEN"}',
    "empty": "",
    # Cut off in the middle of a string: repaired by closing it, when the schema then validates.
    "truncated": '{"tasks": [{"task": "find the budget BROKEN-TRUNC',
}
# Markers that identify each broken reply in outputs (the raw text must be kept with the failure).
BROKEN_MARKERS = {"not_json": "BROKEN-NOT-JSON", "wrong_types": "BROKEN-WRONG-TYPES", "empty": None}


class _TrackedHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler that registers its connection in ``connections`` (guarded by ``lock``), so
    that a kill can drop the connections still open."""

    protocol_version = "HTTP/1.1"
    lock: threading.Lock
    connections: set[socket.socket]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def setup(self) -> None:
        super().setup()
        with self.lock:
            self.connections.add(self.connection)

    def finish(self) -> None:
        with self.lock:
            self.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:  # the client (or a kill) already closed the socket: nothing left to flush
            pass


def _drop(connections: list[socket.socket]) -> None:
    """Close connections like a crashed server: reset, whatever state each is in."""
    for conn in connections:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed by its peer: closing it is all that is left
            pass
        conn.close()


def closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def all_text(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# A fake OpenAI-compatible server


class FakeOpenAIServer:
    """``/v1/chat/completions`` on 127.0.0.1, answering with ``responder(body)``.

    ``delay`` seconds are slept before each answer (a slow server). ``kill()`` closes the listening socket
    and every open connection at once, like a crashed process; ``start()`` brings it back on the same port.
    ``requests`` holds every request body received, ``headers`` their HTTP headers (names lower-cased).
    """

    def __init__(
        self,
        responder: Callable[[dict[str, Any]], str],
        *,
        model: str = "fake",
        delay: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.responder = responder
        self.model = model
        self.delay = delay
        self.port = port or closed_port()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, name: str | None = None) -> str:
        return f"openai-compatible:{name or self.model}@{self.url}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_TrackedHandler):
            lock = fake._lock
            connections = fake._connections

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, usage: dict[str, int], *, include_usage: bool) -> None:
                """Server-sent events as OpenAI-compatible servers send them: the reply in pieces."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # no length: the stream ends with the connection
                self.end_headers()
                self.close_connection = True
                base = {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": fake.model,
                }
                pieces = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
                chunks = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
                chunks += [
                    {"index": 0, "delta": {"content": piece}, "finish_reason": None} for piece in pieces
                ]
                chunks += [{"index": 0, "delta": {}, "finish_reason": "stop"}]
                for choice in chunks:
                    self.wfile.write(f"data: {json.dumps(base | {'choices': [choice]})}\n\n".encode())
                    self.wfile.flush()
                if include_usage:
                    self.wfile.write(
                        f"data: {json.dumps(base | {'choices': [], 'usage': usage})}\n\n".encode()
                    )
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if fake.delay:
                    time.sleep(fake.delay)
                try:
                    text = fake.responder(body)
                except Exception as exc:  # noqa: BLE001 - becomes a 500, like a crashing server
                    self._send(
                        500, {"error": {"message": f"responder failed: {exc}", "type": "server_error"}}
                    )
                    return
                prompt_tokens = max(1, len(all_text(body)) // 4)
                completion_tokens = max(1, len(text) // 4)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }
                if body.get("stream"):
                    try:
                        self._stream(
                            text,
                            usage,
                            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
                        )
                    except OSError:
                        return  # killed while answering
                    with fake._lock:
                        fake.answered += 1
                    return
                try:
                    self._send(
                        200,
                        {
                            "id": f"chatcmpl-{len(fake.requests)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": fake.model,
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": prompt_tokens,
                                "completion_tokens": completion_tokens,
                                "total_tokens": prompt_tokens + completion_tokens,
                            },
                        },
                    )
                except OSError:
                    return  # killed while answering
                with fake._lock:
                    fake.answered += 1

        return Handler

    def start(self) -> FakeOpenAIServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler(), bind_and_activate=False)
        server.allow_reuse_address = True
        server.daemon_threads = True
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def kill(self) -> None:
        """Die like a crashed process: stop listening and drop every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        tally.fault()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        _drop(connections)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# A counting proxy in front of a real model server


class CountingProxy:
    """Forwards every request to ``upstream`` (``http://127.0.0.1:PORT``) and counts the chat calls, so a
    test can see which of several real model servers answered. Binds 127.0.0.1 only."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = closed_port()
        self.calls = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> CountingProxy:
        import urllib.error
        import urllib.request

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def _forward(self, body: bytes | None) -> None:
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=body,
                    method=self.command,
                    headers={"Content-Type": self.headers.get("Content-Type") or "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        status, data = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._forward(None)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/chat/completions"):
                    with proxy._lock:
                        proxy.calls += 1
                self._forward(body)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


# --------------------------------------------------------------------------------------------------
# A proxy that knows which requests are in flight, and can die with them


class InFlightProxy:
    """Forwards chat requests to ``upstream`` (a real model server) and tracks them: ``started``,
    ``answered`` (the upstream reply was passed on) and ``in_flight`` (started, not yet answered).

    ``kill()`` makes the proxy die like the server behind it: it stops listening and drops every client
    connection, answered or not. Binds 127.0.0.1 only.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = closed_port()
        self.started = 0
        self.answered = 0
        self.dead = False
        self.lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None

    @property
    def in_flight(self) -> int:
        with self.lock:
            return self.started - self.answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, name: str) -> str:
        return f"openai-compatible:{name}@{self.url}"

    def start(self) -> InFlightProxy:
        import urllib.error
        import urllib.request

        proxy = self

        class Handler(_TrackedHandler):
            lock = proxy.lock
            connections = proxy._connections

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    if proxy.dead:
                        return
                    proxy.started += 1
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=body,
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        status, data = response.status, response.read()
                except (urllib.error.URLError, OSError):
                    self.close_connection = True
                    return  # the server died with the request in flight: no reply at all
                with proxy.lock:
                    if proxy.dead:
                        return
                    proxy.answered += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def kill(self) -> None:
        with self.lock:
            self.dead = True
            connections = list(self._connections)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        _drop(connections)
