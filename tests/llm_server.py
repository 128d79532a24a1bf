"""A scripted language-model server on 127.0.0.1 speaking the two protocols the backends use.

    POST /v1/chat/completions   OpenAI chat completions: JSON, or SSE `data: {...}` ending `data: [DONE]`
    POST /api/chat              Ollama: one JSON object, or NDJSON lines ending with `"done": true`

Each request takes the next scripted `Reply` (the last one repeats), so a test reads as a script:

    with ScriptedServer() as server:
        server.script(Reply("Golts is a military expert [1]."))
        ... point ASSISTANT_LLM_BASE_URL at server.openai_url or server.ollama_url ...
        server.requests[0]["messages"]   # what the assistant sent
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    Args:
        text: what the model says; streamed word by word.
        status: HTTP status; anything but 200 sends an error body instead of `text`.
        delay: seconds to wait before answering (a slow model).
        piece_delay: seconds between streamed pieces.
        raw: bytes to send verbatim as a 200 body (garbage, malformed JSON).
        stall_after: stream this many pieces, then go silent for `delay` seconds (a model that hangs).
    """

    text: str = ""
    status: int = 200
    delay: float = 0.0
    piece_delay: float = 0.0
    raw: bytes | None = None
    stall_after: int | None = None


class ScriptedServer:
    """A real HTTP server in a background thread; use as a context manager."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply(status=500, text="no reply scripted")]
        self.requests: list[dict] = []  # request bodies, in order, with "path" added
        self._lock = threading.Lock()
        self._http = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.port = self._http.server_address[1]
        self.openai_url = f"http://127.0.0.1:{self.port}/v1"
        self.ollama_url = f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies = list(replies)

    def next_reply(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow reply must not hold up shutdown

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (it timed out, as tests intend) is not worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def closed_port() -> int:
    """A port nothing listens on: the 'server down' case."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pieces(text: str) -> list[str]:
    """'A b c' -> ['A', ' b', ' c']: how a model streams words."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]] if text else []


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            body["path"] = self.path
            if not self.path.endswith(("/chat/completions", "/api/chat")):
                return self._send(404, {"error": f"no route {self.path}"})
            reply = server.next_reply(body)
            time.sleep(reply.delay if reply.stall_after is None else 0.0)
            ollama = self.path.endswith("/api/chat")
            if reply.status != 200:
                error = reply.text or "scripted failure"
                return self._send(reply.status, {"error": error} if ollama else {"error": {"message": error}})
            if reply.raw is not None:
                return self._send_bytes(200, reply.raw, "application/json")
            if not body.get("stream"):
                return self._send(200, _ollama_message(body, reply.text, True) if ollama
                                  else _openai_completion(body, reply.text))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i, piece in enumerate(pieces(reply.text)):
                    if i == reply.stall_after:
                        time.sleep(reply.delay)
                    self._chunk(_ollama_line(body, piece, False) if ollama else _sse(_openai_chunk(body, piece, None)))
                    time.sleep(reply.piece_delay)
                if ollama:
                    self._chunk(_ollama_line(body, "", True))
                else:
                    self._chunk(_sse(_openai_chunk(body, "", "stop")) + b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
                pass

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _send(self, status: int, payload: dict) -> None:
            self._send_bytes(status, json.dumps(payload).encode(), "application/json")

        def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def _openai_completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _openai_chunk(body: dict, piece: str, finish: str | None) -> dict:
    delta = {"role": "assistant", "content": piece} if piece else {}
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": body.get("model", ""), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _ollama_message(body: dict, text: str, done: bool) -> dict:
    message = {
        "model": body.get("model", ""), "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text}, "done": done,
    }
    if done:
        message.update(done_reason="stop", total_duration=1, prompt_eval_count=1, eval_count=1)
    return message


def _ollama_line(body: dict, piece: str, done: bool) -> bytes:
    return json.dumps(_ollama_message(body, piece, done)).encode() + b"\n"
