"""`Idempotency-Key` on every command: one middleware, after authentication.

The rules (which retry gets what) are pure functions in `intentml.domain.idempotency`;
this is the I/O around them: the key's row in PostgreSQL (`idempotency_keys`), the
request body hashed as it streams to the handler, the answer captured and stored
before it is sent.

Crash safety: the row is claimed before the command runs, with a lease renewed
while it runs. `Platform.submit` (through the `COMMAND_HOOKS` context variable)
renews the claim just before it appends, refusing to append if the claim was
lost, and records the event's id as soon as the event is in the log, so a retry
after the process died between the append and the answer finds the event and
answers 409 naming it instead of appending a second one. Answers of 5xx are not stored
(a retry may succeed), unless an event was appended.

Reads and the prediction routes pass straight through: one method check and one
set lookup, nothing more on the inference hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import msgspec
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from python_multipart.multipart import parse_options_header

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.domain.idempotency import (
    AnswerLost,
    BodyHasher,
    Conflict,
    Record,
    Replay,
    Run,
    Running,
    body_needed,
    key_problem,
    verdict,
)
from intentml.domain.scopes import is_command
from intentml.events.log import Appended

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
#: Marks a replayed answer (as Stripe's `Idempotent-Replayed`).
REPLAYED = (b"idempotent-replayed", b"true")
#: An attempt's claim lasts this long unless renewed; it is renewed every third of it.
LEASE_S = 30.0
#: What a client is told to wait when the first attempt is still running.
RETRY_AFTER_S = 1
#: Answers whose body carries a secret that must not be stored: (method, route, field).
SECRET_FIELDS = {("POST", "/auth/api-keys"): "key"}


class CommandHooks(Protocol):
    """What `Platform.submit` calls around the append of a command with a key."""

    async def before_append(self) -> None:
        """Raise (an ApiError) if the command must not be appended."""

    async def appended(self, appended: Appended) -> None:
        """The command's event is in the log."""


#: Set by the middleware while a command with a key runs.
COMMAND_HOOKS: contextvars.ContextVar[CommandHooks | None] = contextvars.ContextVar(
    "intentml_command_hooks", default=None
)

_PURGE_AND_CLAIM = """
WITH purged AS (
    DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM idempotency_keys
        WHERE expires_at < now() AND NOT (account_id = $1 AND key = $2)
        ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))
)
INSERT INTO idempotency_keys AS k
    (account_id, key, method, path, owner, leased_until, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6),
        now() + make_interval(secs => $7))
ON CONFLICT (account_id, key) DO UPDATE SET
    method = EXCLUDED.method, path = EXCLUDED.path, body_hash = NULL,
    owner = EXCLUDED.owner, leased_until = EXCLUDED.leased_until, event_id = NULL,
    status = NULL, headers = NULL, body = NULL, secret_withheld = false,
    created_at = now(), expires_at = EXCLUDED.expires_at
WHERE k.expires_at <= now()
RETURNING 1
"""
_GET = """
SELECT method, path, body_hash, event_id, status, headers, body, secret_withheld, owner,
       coalesce(leased_until > now(), false) AS running
FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND expires_at > now()
"""
#: Take over a row whose attempt died before appending anything.
_TAKE_OVER = """
UPDATE idempotency_keys SET owner = $3, leased_until = now() + make_interval(secs => $5)
WHERE account_id = $1 AND key = $2 AND owner IS NOT DISTINCT FROM $4
  AND status IS NULL AND event_id IS NULL AND coalesce(leased_until <= now(), true)
RETURNING 1
"""
_RENEW = """
UPDATE idempotency_keys SET leased_until = now() + make_interval(secs => $4)
WHERE account_id = $1 AND key = $2 AND owner = $3
RETURNING 1
"""
_APPENDED = """
UPDATE idempotency_keys SET event_id = $4, body_hash = $5
WHERE account_id = $1 AND key = $2 AND owner = $3
"""
_ANSWERED = """
UPDATE idempotency_keys
SET status = $4, headers = $5, body = $6, secret_withheld = $7, body_hash = $8,
    event_id = coalesce(event_id, $9), owner = NULL, leased_until = NULL
WHERE account_id = $1 AND key = $2 AND owner = $3
"""
#: No answer kept, but an event was appended: a retry must learn of it, not run again.
_UNANSWERED = """
UPDATE idempotency_keys
SET event_id = $4, body_hash = $5, owner = NULL, leased_until = NULL
WHERE account_id = $1 AND key = $2 AND owner = $3
"""
#: The header as the OpenAPI document shows it on every command.
HEADER_DOC = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING, max_length=255, pattern="^[ -~]{1,255}$"),
    description=(
        "A unique value (e.g. a UUID) per command; a retry with the same key and request "
        "gets the first answer and appends nothing (see the README's Idempotent retries)."
    ),
)


@dataclass
class IdempotentOperation(Operation):
    """The OpenAPI operation of a command: its parameters include `Idempotency-Key`."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), HEADER_DOC]


_RELEASE = "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND owner = $3"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _boundary(scope: Scope) -> bytes | None:
    ctype, params = parse_options_header(_header(scope, b"content-type") or b"")
    return params.get(b"boundary") if ctype == b"multipart/form-data" else None


def _record(row: asyncpg.Record) -> Record:
    return Record(
        method=row["method"],
        path=row["path"],
        body_hash=row["body_hash"],
        event_id=row["event_id"],
        status=row["status"],
        running=row["running"],
    )


class IdempotencyMiddleware:
    """ASGI middleware: commands with an `Idempotency-Key` run at most once per key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope  # only HTTP routes exist; a websocket has no method
        if not is_command(http.get("method", "GET"), http.get("path_template", "")):
            await self.app(scope, receive, send)
            return
        raw_key = _header(scope, HEADER)
        principal = scope.get("user")
        if raw_key is None or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        problem = key_problem(key)
        if problem:
            raise ApiError(400, problem, {"header": "Idempotency-Key"})
        platform = scope["app"].state.platform
        attempt = _Attempt(self.app, platform, principal.account_id, key, scope, receive, send)
        await attempt.run()


class _Attempt:
    """One request with a key: claim it, or answer from what an earlier attempt left."""

    def __init__(
        self,
        app: ASGIApp,
        platform: Any,
        account_id: str,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        self.app = app
        self.pool: asyncpg.Pool = platform.pool
        self.ttl_s: float = platform.settings.idempotency_ttl_s
        self.drain_limit: int = max(
            platform.settings.max_upload_bytes, platform.settings.max_body_bytes
        )
        self.ids = (account_id, key)
        self.scope, self.receive, self.send = scope, receive, send
        http: Any = scope
        self.method: str = http["method"]
        query = scope.get("query_string", b"")
        self.path = scope["path"] + (f"?{query.decode('latin-1')}" if query else "")
        self.route: str = http["path_template"]
        self.owner = uuid.uuid4()
        self.hasher = BodyHasher(_boundary(scope))
        self.body_hash: str | None = None
        self.event_id: str | None = None

    async def run(self) -> None:
        for _ in range(3):  # a row may expire or be taken over between two statements
            claimed = await self.pool.fetchval(
                _PURGE_AND_CLAIM, *self.ids, self.method, self.path, self.owner, LEASE_S, self.ttl_s
            )
            if claimed:
                await self._run_command()
                return
            row = await self.pool.fetchrow(_GET, *self.ids)
            if row is not None and await self._answer_from(row):
                return
        raise ApiError(503, "this Idempotency-Key is contended; retry in a moment")

    async def _answer_from(self, row: asyncpg.Record) -> bool:
        """Answer a request whose key has a row; False if the row changed meanwhile."""
        record = _record(row)
        body_hash = None
        if body_needed(record) == "needed":
            body_hash = await self._drain()
            if body_hash is None:
                raise ApiError(400, "the request body did not arrive in full; send it whole")
        match verdict(record, self.method, self.path, body_hash):
            case Replay():
                await self._replay(row)
            case Conflict(message):
                raise ApiError(409, message, {"reason": "key_reused"})
            case Running():
                raise ApiError(
                    409,
                    "a request with this Idempotency-Key is still in progress; retry in a "
                    "moment to get its answer",
                    {"reason": "in_progress"},
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            case AnswerLost(event_id):
                raise ApiError(
                    409,
                    f"a request with this Idempotency-Key was recorded as event {event_id}, "
                    f"but the server stopped before answering it; it is not run again: read "
                    f"the resource (or the model's GET /models/{{name}}/events) to see its "
                    f"effect",
                    {"reason": "answer_lost", "event_id": event_id},
                )
            case Run():
                if not await self.pool.fetchval(
                    _TAKE_OVER, *self.ids, self.owner, row["owner"], LEASE_S
                ):
                    return False
                await self._run_command()
        return True

    async def _drain(self) -> str | None:
        """Read the rest of the request body, hashing it; None if it never ended."""
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return None
            self.hasher.feed(message.get("body", b""))
            if self.hasher.size > self.drain_limit:
                return None
            if not message.get("more_body", False):
                self.body_hash = self.hasher.hexdigest()
                return self.body_hash

    async def _replay(self, row: asyncpg.Record) -> None:
        if row["secret_withheld"]:
            first = msgspec.json.decode(row["body"])
            raise ApiError(
                409,
                "a request with this Idempotency-Key was already answered, and its secret is "
                "shown only once: it was not kept. If you lost it, revoke that key "
                "(DELETE /auth/api-keys/{key_id}) and issue another with a new "
                "Idempotency-Key",
                {"reason": "secret_not_kept", "first_answer": first},
            )
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in row["headers"]]
        await self.send(
            {
                "type": "http.response.start",
                "status": row["status"],
                "headers": [*headers, REPLAYED],
            }
        )
        await self.send({"type": "http.response.body", "body": row["body"], "more_body": False})

    async def _run_command(self) -> None:
        """Run the handler with the key claimed; store its answer before sending it."""
        renewing = asyncio.create_task(self._renew())
        token = COMMAND_HOOKS.set(self)
        answer = _Answer()
        stored = False
        try:
            await self.app(self.scope, self._hashing_receive, answer.capture)
            if answer.complete and answer.status is not None and answer.status < 500:
                if self.body_hash is None and self.event_id is not None:
                    # Appended without reading its whole body (a DELETE): read the rest, to
                    # know the request. Answered without it and nothing appended (a 413
                    # from the header alone): not kept, a retry runs again just as safely.
                    await self._drain()
                if self.body_hash is not None:
                    stored = await self._store(answer)
        finally:
            COMMAND_HOOKS.reset(token)
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            if not stored:
                await self._release()
        for message in answer.messages:
            await self.send(message)

    async def _hashing_receive(self) -> ReceiveMessage:
        message = await self.receive()
        if message["type"] == "http.request" and self.body_hash is None:
            self.hasher.feed(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_hash = self.hasher.hexdigest()
        return message

    async def before_append(self) -> None:
        """Renew the claim, or refuse to append if it was lost: a retry may have taken the
        key over after this attempt's renewals failed for a whole lease."""
        if not await self.pool.fetchval(_RENEW, *self.ids, self.owner, LEASE_S):
            raise ApiError(
                503,
                "this request's Idempotency-Key claim lapsed (the database was out of reach) "
                "and nothing was done; retry with the same key to get the answer",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )

    async def appended(self, appended: Appended) -> None:
        """Remember the command's event at once: a retry after a crash must not append
        it again (called by `Platform.submit`)."""
        self.event_id = appended.envelope.event_id
        try:
            await self.pool.execute(_APPENDED, *self.ids, self.owner, self.event_id, self.body_hash)
        except (asyncpg.PostgresError, OSError) as exc:  # the answer's store tries again
            log.warning("could not record event %s for an idempotency key: %s", self.event_id, exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self.pool.fetchval(_RENEW, *self.ids, self.owner, LEASE_S)

    async def _store(self, answer: _Answer) -> bool:
        body, withheld = answer.body, False
        field = SECRET_FIELDS.get((self.method, self.route))
        if field is not None and answer.status is not None and answer.status < 300:
            parsed = msgspec.json.decode(body)
            withheld = parsed.pop(field, None) is not None
            body = msgspec.json.encode(parsed)
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in answer.headers]
        try:
            await self.pool.execute(
                _ANSWERED,
                *self.ids,
                self.owner,
                answer.status,
                headers,
                body,
                withheld,
                self.body_hash,
                self.event_id,
            )
        except (asyncpg.PostgresError, OSError) as exc:
            # The answer still goes out; a retry finds the event (if any) once the lease ends.
            log.warning("could not store the answer of an idempotency key: %s", exc)
        return True

    async def _release(self) -> None:
        """No answer to keep (a 5xx, or none): forget the key unless an event was appended."""
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            if self.event_id is None:
                await self.pool.execute(_RELEASE, *self.ids, self.owner)
            else:
                await self.pool.execute(
                    _UNANSWERED, *self.ids, self.owner, self.event_id, self.body_hash
                )


class _Answer:
    """The handler's answer, held back until it is stored."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.complete = False

    async def capture(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)
