"""The PostgreSQL pool and the migration runner (numbered plain SQL files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

import projections

MIGRATIONS_DIR = Path(projections.__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 724_001  # advisory lock id: one migrator at a time

_JSONB_VERSION = b"\x01"  # jsonb's binary format: a version byte, then the JSON text


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + msgspec.json.encode(value)


def _decode_jsonb(data: bytes) -> Any:
    return msgspec.json.decode(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """Install the jsonb codec: jsonb columns come back as Python objects and take them.
    In binary format, so COPY (which is binary in asyncpg) can write jsonb too."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


#: What "the database cannot be reached or does not answer in time" looks like: the API
#: answers 503 for these (`intentml.api.errors`) and its caches serve what they last
#: knew (`intentml.api.serving_cache`). TimeoutError: a bounded pool's acquire, connect
#: or command timeout; QueryCanceledError: the server's statement_timeout (a lock);
#: OperatorInterventionError also covers "the database system is starting up".
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)


class BoundedPool(asyncpg.Pool):
    """A pool whose `acquire` (and so `fetch`, `execute`, ...) waits at most
    `acquire_timeout_s` for a connection, unless a caller passes its own timeout."""

    __slots__ = ("acquire_timeout_s",)
    acquire_timeout_s: float

    def acquire(self, *, timeout: float | None = None) -> Any:
        """A connection within `timeout`, by default `acquire_timeout_s`."""
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)


async def create_pool(
    url: str, min_size: int = 1, max_size: int = 10, *, timeout_s: float | None = None
) -> asyncpg.Pool:
    """A connection pool with the jsonb codec installed.

    `timeout_s` bounds everything a caller can wait for: a connection from the pool, a
    new connection, each statement (client side, and `statement_timeout` server side, so
    a statement stuck on a lock is cancelled by the server), and asyncpg's cancellation of
    a timed-out statement (bounded by the same `command_timeout`). The API uses it; the
    projector, workers and replay run long statements on purpose and pass None.
    """
    if timeout_s is None:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=init_connection
        )
        assert pool is not None
        return pool
    bounded = BoundedPool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=timeout_s,  # connecting
        command_timeout=timeout_s,
        server_settings={"statement_timeout": str(int(timeout_s * 1000))},
    )
    bounded.acquire_timeout_s = timeout_s
    await bounded
    return bounded


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """The numbered `NNN_name.sql` files, in order."""
    found = []
    for path in directory.glob("*.sql"):
        m = re.match(r"^(\d+)_", path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


async def migrate(pool: asyncpg.Pool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, path in migration_files(directory):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        path.name,
                    )
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied
