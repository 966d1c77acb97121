"""Test-only stand-in for an Ollama server: Ollama's native API in front of an OpenAI-compatible one.

No registry ships an Ollama server, so ``ChatOllama`` (the project's default local client for real
users) cannot be exercised against real Ollama here. :class:`OllamaShim` is a small HTTP server on
127.0.0.1 that speaks the part of Ollama's API that the official ``ollama`` Python client (0.6.x) and
``langchain_ollama.ChatOllama`` (1.1.x) use, and forwards chat requests to the embedded llama.cpp
server's ``/v1/chat/completions``:

* ``POST /api/chat`` — streaming (NDJSON, one object per line, the last with ``done: true``) and
  non-streaming. ``options.num_predict`` -> ``max_tokens``; ``temperature``, ``top_p``, ``top_k``,
  ``seed``, ``stop`` and the other samplers llama.cpp understands pass through; ``format`` (``"json"``
  or a JSON-schema dict) -> ``response_format`` (``json_object`` / ``json_schema``); ``logprobs`` /
  ``top_logprobs`` -> the same OpenAI fields, mapped back to Ollama's ``[{token, logprob, bytes,
  top_logprobs}]``. The final object carries ``done_reason``, ``prompt_eval_count`` /
  ``eval_count`` (from the upstream ``usage``) and durations in nanoseconds (from llama.cpp's
  ``timings`` when present, otherwise measured).
* ``GET /api/tags``, ``POST /api/show``, ``GET /api/version``, ``GET /`` (and ``HEAD /``).

Anything it cannot translate faithfully (tool definitions) is refused with an Ollama-style
``{"error": ...}`` rather than silently dropped. It belongs to the tests, not the product.

Usage::

    with OllamaShim("http://127.0.0.1:8080/v1", "smollm2") as shim:
        ChatOllama(model="smollm2", base_url=shim.url).invoke("hi")
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OLLAMA_VERSION = "0.12.6"  # what /api/version reports; any recent version the client accepts

# Ollama option -> OpenAI / llama.cpp request field, for the sampling options llama.cpp's server reads.
_OPTION_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "repeat_penalty": "repeat_penalty",
    "repeat_last_n": "repeat_last_n",
    "mirostat": "mirostat",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}
# Load-time settings of a real Ollama server; llama.cpp fixes them when it starts, so they are ignored.
_IGNORED_OPTIONS = {
    "num_ctx",
    "num_gpu",
    "num_thread",
    "num_batch",
    "num_keep",
    "main_gpu",
    "low_vram",
    "numa",
    "use_mmap",
    "use_mlock",
    "vocab_only",
    "logits_all",
    "embedding_only",
    "penalize_newline",
    "tfs_z",
}


class ShimError(Exception):
    """A request the shim refuses or an upstream failure, reported as Ollama's ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------------
# Translation (pure functions)


def _message_to_openai(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if not role:
        raise ShimError(400, "every message needs a role")
    content = message.get("content") or ""
    images = message.get("images") or []
    out: dict[str, Any] = {"role": role}
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
        for image in images:
            url = image if str(image).startswith("data:") else f"data:image/png;base64,{image}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        out["content"] = parts
    else:
        out["content"] = content
    if message.get("tool_calls"):
        raise ShimError(400, "the Ollama test shim does not translate tool calls")
    if role == "tool" and message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    return out  # "thinking" is Ollama-only: dropped


def _format_to_response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "format", "schema": fmt, "strict": False}}
    raise ShimError(400, f'invalid format {fmt!r}: expected "json" or a JSON schema object')


def chat_request_to_openai(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """An Ollama ``/api/chat`` body as an OpenAI ``/v1/chat/completions`` body (without ``stream``)."""
    if body.get("tools"):
        raise ShimError(400, "the Ollama test shim does not translate tool definitions")
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise ShimError(400, "messages must be a list")
    request: dict[str, Any] = {
        "model": upstream_model,
        "messages": [_message_to_openai(m) for m in messages],
    }
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ShimError(400, "options must be an object")
    for name, value in options.items():
        if value is None or name in _IGNORED_OPTIONS:
            continue
        if name == "num_predict":
            # Ollama: -1 = no limit, -2 = fill the context; only a positive count is a limit.
            if int(value) > 0:
                request["max_tokens"] = int(value)
        elif name in _OPTION_FIELDS:
            request[_OPTION_FIELDS[name]] = value
        # Unknown options are ignored, as Ollama itself does with options it does not know.
    response_format = _format_to_response_format(body.get("format"))
    if response_format is not None:
        request["response_format"] = response_format
    top = body.get("top_logprobs")
    if body.get("logprobs") or top:
        request["logprobs"] = True
        if top:
            request["top_logprobs"] = int(top)
    return request


def _token_logprob(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"token": entry.get("token", ""), "logprob": float(entry.get("logprob", 0.0))}
    if entry.get("bytes") is not None:
        out["bytes"] = list(entry["bytes"])
    return out


def logprobs_to_ollama(logprobs: dict[str, Any] | None, top_logprobs: int) -> list[dict[str, Any]]:
    """OpenAI ``choices[i].logprobs`` -> Ollama's list of ``{token, logprob, bytes[, top_logprobs]}``."""
    if not logprobs:
        return []
    out = []
    for entry in logprobs.get("content") or []:
        item = _token_logprob(entry)
        if top_logprobs > 0:
            # llama.cpp may return more alternatives than asked for; Ollama returns exactly that many.
            item["top_logprobs"] = [_token_logprob(t) for t in (entry.get("top_logprobs") or [])][
                :top_logprobs
            ]
        out.append(item)
    return out


def _done_reason(finish_reason: str | None) -> str:
    # Ollama reports "stop" or "length"; a tool call also ends with "stop".
    return "length" if finish_reason == "length" else "stop"


def final_fields(
    finish_reason: str | None, usage: dict[str, Any] | None, timings: dict[str, Any] | None, elapsed_s: float
) -> dict[str, Any]:
    """The counters and durations (nanoseconds) of Ollama's last (``done: true``) object."""
    usage = usage or {}
    timings = timings or {}
    total_ns = int(elapsed_s * 1e9)
    prompt_ns = int(float(timings.get("prompt_ms", 0.0)) * 1e6)
    eval_ns = int(float(timings.get("predicted_ms", 0.0)) * 1e6)
    if not timings:
        prompt_ns, eval_ns = 0, total_ns
    return {
        "done": True,
        "done_reason": _done_reason(finish_reason),
        "total_duration": total_ns,
        "load_duration": 0,
        "prompt_eval_count": int(usage.get("prompt_tokens", 0)),
        "prompt_eval_duration": prompt_ns,
        "eval_count": int(usage.get("completion_tokens", 0)),
        "eval_duration": eval_ns,
    }


# --------------------------------------------------------------------------------------------------
# The server


class OllamaShim:
    """An Ollama-API server on 127.0.0.1 that forwards chats to an OpenAI-compatible ``upstream_base_url``.

    ``model`` is the name Ollama clients use (``"smollm2"``; ``"smollm2:latest"`` is accepted too);
    ``upstream_model`` the name sent upstream (defaults to ``model``). Every ``/api/chat`` body received
    is kept in :attr:`requests` and every body sent upstream in :attr:`upstream_requests`, so tests can
    check what the client sent.
    """

    def __init__(
        self,
        upstream_base_url: str,
        model: str,
        *,
        upstream_model: str | None = None,
        port: int = 0,
        upstream_timeout: float = 300.0,
    ) -> None:
        self.upstream_base_url = upstream_base_url.rstrip("/")
        self.model = model
        self.upstream_model = upstream_model or model
        self.upstream_timeout = upstream_timeout
        self.requests: list[dict[str, Any]] = []
        self.upstream_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = _now()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Ollama shim is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OllamaShim:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="ollama-shim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> OllamaShim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------------

    def knows(self, name: str) -> bool:
        return name in (self.model, f"{self.model}:latest")

    def _record(self, body: dict[str, Any], upstream: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.upstream_requests.append(upstream)

    def _upstream_meta(self) -> dict[str, Any]:
        """llama.cpp's ``meta`` block for the model from ``/v1/models`` (empty when unavailable)."""
        try:
            with urllib.request.urlopen(self.upstream_base_url + "/models", timeout=5) as response:
                data = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        for entry in data.get("data") or []:
            if entry.get("id") == self.upstream_model:
                return dict(entry.get("meta") or {})
        return {}

    def _details(self, meta: dict[str, Any]) -> dict[str, Any]:
        params = meta.get("n_params")
        return {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": f"{params / 1e6:.0f}M" if params else "",
            "quantization_level": str(meta.get("ftype", "")),
        }

    def tags(self) -> dict[str, Any]:
        meta = self._upstream_meta()
        name = f"{self.model}:latest"
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": self._started,
                    "size": int(meta.get("size", 0)),
                    "digest": "0" * 64,
                    "details": self._details(meta),
                }
            ]
        }

    def show(self, name: str) -> dict[str, Any]:
        if not self.knows(name):
            raise ShimError(404, f"model '{name}' not found")
        meta = self._upstream_meta()
        return {
            "modelfile": f"FROM {self.model}\n",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": self._details(meta),
            "model_info": {
                "general.architecture": "llama",
                "general.parameter_count": int(meta.get("n_params", 0)),
                "llama.context_length": int(meta.get("n_ctx_train", 0)),
                "llama.embedding_length": int(meta.get("n_embd", 0)),
            },
            "capabilities": ["completion"],
            "modified_at": self._started,
        }

    def _post_upstream(self, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.upstream_base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer not-needed"},
            method="POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.upstream_timeout)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
                if isinstance(message, dict):
                    message = message.get("message", text)
            except (ValueError, AttributeError):
                message = text
            raise ShimError(exc.code, f"upstream: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ShimError(502, f"upstream {self.upstream_base_url} unreachable: {exc}") from None

    # -- /api/chat -----------------------------------------------------------------------------

    def _prepare_chat(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
        name = body.get("model")
        if not name:
            raise ShimError(400, "model is required")
        if not self.knows(str(name)):
            raise ShimError(404, f"model '{name}' not found, try pulling it first")
        upstream = chat_request_to_openai(body, self.upstream_model)
        self._record(body, upstream)
        top = int(body.get("top_logprobs") or 0)
        return str(name), upstream, top

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming ``/api/chat``."""
        name, upstream, top = self._prepare_chat(body)
        started = time.perf_counter()
        with self._post_upstream({**upstream, "stream": False}) as response:
            data = json.load(response)
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        out: dict[str, Any] = {
            "model": name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": message.get("content") or ""},
        }
        if upstream.get("logprobs"):
            out["logprobs"] = logprobs_to_ollama(choice.get("logprobs"), top)
        out.update(
            final_fields(
                choice.get("finish_reason"),
                data.get("usage"),
                data.get("timings"),
                time.perf_counter() - started,
            )
        )
        return out

    def chat_stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A streaming ``/api/chat``: validates and connects first (errors raise before the first item)."""
        name, upstream, top = self._prepare_chat(body)
        started = time.perf_counter()
        response = self._post_upstream(
            {**upstream, "stream": True, "stream_options": {"include_usage": True}}
        )
        return self._stream_parts(response, name, upstream, top, started)

    def _stream_parts(
        self, response: Any, name: str, upstream: dict[str, Any], top: int, started: float
    ) -> Iterator[dict[str, Any]]:
        finish_reason = None
        usage = None
        timings = None
        with response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                if chunk.get("error"):
                    error = chunk["error"]
                    raise ShimError(
                        500, str(error.get("message", error) if isinstance(error, dict) else error)
                    )
                usage = chunk.get("usage") or usage
                timings = chunk.get("timings") or timings
                for choice in chunk.get("choices") or []:
                    finish_reason = choice.get("finish_reason") or finish_reason
                    content = (choice.get("delta") or {}).get("content") or ""
                    logprobs = (
                        logprobs_to_ollama(choice.get("logprobs"), top) if upstream.get("logprobs") else []
                    )
                    if not content and not logprobs:
                        continue
                    part: dict[str, Any] = {
                        "model": name,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": content},
                        "done": False,
                    }
                    if logprobs:
                        part["logprobs"] = logprobs
                    yield part
        final: dict[str, Any] = {
            "model": name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
        }
        final.update(final_fields(finish_reason, usage, timings, time.perf_counter() - started))
        yield final


def _make_handler(shim: OllamaShim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ollama-test-shim"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
            return

        # -- responses ---------------------------------------------------------------------

        def _send_json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_text(self, status: int, text: str, *, body: bool = True) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _send_error(self, error: ShimError) -> None:
            self._send_json(error.status, {"error": error.message})

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _read_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return {}
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ShimError(400, f"invalid JSON body: {exc}") from None
            if not isinstance(body, dict):
                raise ShimError(400, "the request body must be a JSON object")
            return body

        # -- routes ------------------------------------------------------------------------

        def do_HEAD(self) -> None:  # noqa: N802
            if self.path in ("/", ""):
                self._send_text(200, "Ollama is running", body=False)
            else:
                self._send_text(404, "404 page not found", body=False)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path in ("/", ""):
                self._send_text(200, "Ollama is running")
            elif path == "/api/version":
                self._send_json(200, {"version": OLLAMA_VERSION})
            elif path == "/api/tags":
                self._send_json(200, shim.tags())
            elif path == "/api/ps":
                self._send_json(200, {"models": []})
            else:
                self._send_text(404, "404 page not found")

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            try:
                body = self._read_body()
                if path == "/api/show":
                    self._send_json(200, shim.show(str(body.get("model") or body.get("name") or "")))
                elif path == "/api/chat":
                    self._chat(body)
                else:
                    self._send_text(404, "404 page not found")
            except ShimError as exc:
                self._send_error(exc)
            except Exception as exc:  # a shim bug: answer like Ollama instead of dropping the connection
                self._send_json(500, {"error": f"ollama test shim: {type(exc).__name__}: {exc}"})

        def _chat(self, body: dict[str, Any]) -> None:
            # Ollama streams unless told otherwise.
            if body.get("stream") is False:
                self._send_json(200, shim.chat(body))
                return
            parts = shim.chat_stream(body)  # raises ShimError before any byte is sent
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for part in parts:
                    self._chunk(json.dumps(part).encode() + b"\n")
            except ShimError as exc:
                # Headers are gone: report the error the way Ollama does mid-stream.
                self._chunk(json.dumps({"error": exc.message}).encode() + b"\n")
            except (ValueError, OSError) as exc:
                try:
                    self._chunk(json.dumps({"error": f"upstream stream broke: {exc}"}).encode() + b"\n")
                except OSError:
                    self.close_connection = True
                    return
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    return Handler
