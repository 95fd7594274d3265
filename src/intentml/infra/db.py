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


async def create_pool(url: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool with the jsonb codec installed."""
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=init_connection
    )
    assert pool is not None
    return pool


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
