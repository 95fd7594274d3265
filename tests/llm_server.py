"""A real HTTP server that speaks the chat-completions protocol, with scripted answers.

An LLM endpoint cannot run here, so tests talk to this one over TCP: the same requests,
headers and response bodies as Ollama, vLLM or OpenAI, from `http.server` in a thread.
Each request is answered by the first script whose word is in the user's sentence (else
the default), and recorded so tests can assert what left the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

#: A slow reply waits for the test's teardown, but never longer than this (a forgotten
#: release must not hang the suite).
SLOW_MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status and a body, or a wait for `LlmServer.release`."""

    status: int = 200
    body: bytes = b""
    slow: bool = False


def completion(content: str, model: str = "test-model") -> Reply:
    """A chat completion whose message says `content`."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    return Reply(body=msgspec.json.encode(body))


def answer(
    target: str, task: str | None = None, metric: str | None = None, reasons: str = "because"
) -> Reply:
    """A good answer, as strict structured output gives it."""
    fields = {"target": target, "task": task, "metric": metric, "reasons": reasons}
    return completion(msgspec.json.encode(fields).decode())


def fenced(target: str, reasons: str = "because") -> Reply:
    """A good answer in a ```json fence, as servers that ignore `response_format` give it."""
    fields = {"target": target, "task": None, "metric": None, "reasons": reasons}
    return completion(f"Here you go:\n```json\n{msgspec.json.encode(fields).decode()}\n```")


def failure(status: int = 500, text: str = "internal error") -> Reply:
    """An HTTP error from the endpoint."""
    return Reply(status=status, body=msgspec.json.encode({"error": {"message": text}}))


SLOW = Reply(slow=True)


@dataclass
class Received:
    """A request as the server got it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def table(self) -> dict[str, Any]:
        """The user message's content (the sentence and the columns), decoded."""
        user = next(m for m in self.body["messages"] if m["role"] == "user")
        decoded: dict[str, Any] = msgspec.json.decode(user["content"])
        return decoded


@dataclass
class LlmServer:
    """The running server: its base URL, its scripts and what it received."""

    base_url: str = ""
    scripts: dict[str, Reply] = field(default_factory=dict)
    default: Reply = field(default_factory=lambda: failure(500, "no script for this sentence"))
    received: list[Received] = field(default_factory=list)
    #: Set at teardown (or by a test) to let slow replies finish.
    release: threading.Event = field(default_factory=threading.Event)
    #: Set when a slow reply started waiting (the request surely arrived).
    slow_started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, word: str, reply: Reply) -> None:
        """Answer requests whose sentence contains `word` with `reply`."""
        with self.lock:
            self.scripts[word] = reply

    def reply_for(self, sentence: str) -> Reply:
        """The scripted reply for a sentence."""
        with self.lock:
            for word, reply in self.scripts.items():
                if word in sentence:
                    return reply
            return self.default


def _handler(server: LlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body: dict[str, Any] = msgspec.json.decode(raw)
            got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with server.lock:
                server.received.append(got)
            if self.path != "/v1/chat/completions":
                self._send(failure(404, f"no route {self.path}"))
                return
            reply = server.reply_for(got.table.get("sentence", ""))
            if reply.slow:
                server.slow_started.set()
                server.release.wait(SLOW_MAX_WAIT_S)
                reply = answer("late")
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a time-out): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


@contextmanager
def running_llm_server() -> Iterator[LlmServer]:
    """Start the server on a free port of 127.0.0.1; on exit, release slow replies and stop."""
    state = LlmServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    # a short poll interval: shutdown() waits for it at every teardown
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05,), name="llm-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
