"""The bootstrap admin key of the account `default`."""

from __future__ import annotations

import os

import asyncpg

from intentml.config import Settings
from intentml.domain.keys import generate_key, hash_key, key_id_for
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import make_event
from intentml.events.log import EventLog
from intentml.events.types import ApiKeyIssued
from projections import queries as q

DEFAULT_ACCOUNT = "default"


def bootstrap_key(settings: Settings) -> str:
    """`INTENTML_API_KEY`, else the key saved in the data dir, else a new one (saved)."""
    if settings.api_key:
        return settings.api_key
    path = settings.data_dir / "api-key"
    if path.exists():
        return path.read_text().strip()
    key = generate_key()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


async def ensure_admin_key(
    settings: Settings, pool: asyncpg.Pool, log: EventLog, watcher: CheckpointWatcher
) -> str:
    """Register the bootstrap key as admin of `default` (through the log) if it is new."""
    key = bootstrap_key(settings)
    digest = hash_key(key)
    if await pool.fetchrow(q.API_KEY_BY_HASH, digest) is None:
        appended = await log.append(
            make_event(
                ApiKeyIssued(
                    key_id=key_id_for(digest), key_hash=digest, scope="admin", name="bootstrap"
                ),
                account_id=DEFAULT_ACCOUNT,
                actor="intentml-bootstrap",
            )
        )
        if not await watcher.wait(appended.partition, appended.offset, 30.0):
            raise RuntimeError("the projector did not apply the bootstrap key within 30 s")
    return key
