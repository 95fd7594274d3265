"""The API's HTTP server: uvicorn (httptools), with stalled requests cut off.

uvicorn times out only the idle time between two requests of a keep-alive
connection. A client that connects and sends nothing, sends half its headers
(slowloris), or announces a body and stops short of its Content-Length holds
the connection (and, for a body, the request's handler) forever: the fault
probe found 603 of 1,000 such requests still open after 15 s.

`StallGuardProtocol` gives every request a deadline from its first byte (or
from the connection's opening, for the first one) until its last body byte:
`timeout_s` plus one second per `min_bytes_per_s` bytes of body received, so a
large upload at any reasonable speed goes through while a trickle is cut off.
Past the deadline it answers 408 `request_timeout` in the documented error
format (when no answer was started), closes the connection, and marks the
request's scope (`BODY_INCOMPLETE`) so it is not charged to the key's rate
limit (a request whose body is still arriving when it is authenticated is
charged when answered, see `intentml.api.auth`).
A client that disconnects before its body ends is marked the same way. Time
while the server itself stopped reading (flow control: the handler has not
taken the body yet) is not held against the client.

One timer per connection, reset only at request boundaries: nothing is added
per body chunk but a counter.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from intentml.api.errors import error_body
from intentml.config import Settings

#: Set in a request's ASGI scope when its body never arrived in full (stalled or
#: the client went away): the request is not charged to the key's rate limit.
BODY_INCOMPLETE = "intentml.body_incomplete"
#: In a request's ASGI scope while its body is still arriving.
BODY_PENDING = "intentml.body_pending"


def timeout_response(timeout_s: float, min_bytes_per_s: int) -> bytes:
    """The raw HTTP 408 sent to a stalled client, in the documented error format."""
    body = msgspec.json.encode(
        error_body(
            408,
            f"the request did not arrive in time: the headers and body must arrive within "
            f"{timeout_s:g} s, plus 1 s per {min_bytes_per_s} bytes of body "
            f"(INTENTML_BODY_TIMEOUT_S, INTENTML_BODY_MIN_BYTES_PER_S); send the whole "
            f"request without pausing",
            {"timeout_s": timeout_s, "min_bytes_per_s": min_bytes_per_s},
        )
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class StallGuardProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's arrival
    (configure a subclass with `guarded_protocol`)."""

    timeout_s: float = 10.0
    min_bytes_per_s: int = 16384
    response_408: bytes = timeout_response(10.0, 16384)

    # uvicorn's constructor takes keyword arguments that differ between versions.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._received = 0
        self._in_request = False
        self._headers_done = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if self._in_request and self._headers_done and cycle is not None and cycle.more_body:
            cycle.scope[BODY_INCOMPLETE] = True  # type: ignore[literal-required]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes that begin no request (stray line ends) must not keep a connection open
        # either: uvicorn's keep-alive timer stops at any byte.
        if self._guard is None:
            self._arm()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_request = True
        self._headers_done = False
        if self._guard is None:  # a pipelined request, in the same bytes as the last one
            self._arm()

    def on_headers_complete(self) -> None:
        self.scope[BODY_PENDING] = True  # type: ignore[literal-required]
        super().on_headers_complete()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.scope.pop(BODY_PENDING, None)  # type: ignore[misc]
        super().on_message_complete()
        self._in_request = False
        self._disarm()

    def _arm(self) -> None:
        self._started = self.loop.time()
        self._received = 0
        self._guard = self.loop.call_later(self.timeout_s, self._check)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _check(self) -> None:
        """The timer fired: cut the request off, or wait for its extended deadline."""
        self._guard = None
        now = self.loop.time()
        busy = not self._in_request and self.cycle is not None and not self.cycle.response_complete
        if self.flow.read_paused or busy:
            # The server stopped reading (the handler has not taken the body yet), or is
            # still answering the last request: the client is not late, start again.
            self._arm()
            return
        deadline = self._started + self.timeout_s + self._received / self.min_bytes_per_s
        if now < deadline:
            self._guard = self.loop.call_later(deadline - now, self._check)
            return
        self._stalled()

    def _stalled(self) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_request and self._headers_done and cycle is not None:
            # The handler may be waiting for the body: it gets a disconnect, and whatever
            # it answers goes nowhere, after our 408.
            cycle.scope[BODY_INCOMPLETE] = True  # type: ignore[literal-required]
            if not cycle.response_started:
                self.transport.write(self.response_408)
            cycle.disconnected = True
            cycle.message_event.set()
        elif self._in_request and (cycle is None or cycle.response_complete):
            self.transport.write(self.response_408)  # headers never completed
        self.transport.close()


def guarded_protocol(timeout_s: float, min_bytes_per_s: int) -> type[StallGuardProtocol]:
    """A `StallGuardProtocol` with these limits, for `uvicorn.Config(http=...)`."""
    return type(
        "StallGuardProtocol",
        (StallGuardProtocol,),
        {
            "timeout_s": timeout_s,
            "min_bytes_per_s": min_bytes_per_s,
            "response_408": timeout_response(timeout_s, min_bytes_per_s),
        },
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.Config arguments every API server uses (the CLI's and the tests')."""
    return {"http": guarded_protocol(settings.body_timeout_s, settings.body_min_bytes_per_s)}
