"""The account `default` and its bootstrap admin key, registered through the log at start."""

from __future__ import annotations

import logging
import os

import asyncpg

from intentml.config import Settings
from intentml.domain.keys import ADMIN, generate_key, hash_key, new_key
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.commands import Refused, submit
from intentml.events.envelope import make_event
from intentml.events.log import EventLog
from intentml.events.types import AccountCreated, ApiKeyIssued
from projections import queries as q

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
BOOTSTRAP_ACTOR = "intentml-bootstrap"
#: Start-up waits this long for the projector to apply what it registers.
BOOTSTRAP_WAIT_S = 30.0
#: What to do once the bootstrap key is revoked (a revoked key is never live again).
REISSUE_HINT = "issue an admin key with `intentml keys create --account default --scope admin`"


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


async def _register(
    log_: EventLog,
    watcher: CheckpointWatcher,
    pool: asyncpg.Pool,
    event: ApiKeyIssued | AccountCreated,
    account_id: str,
) -> None:
    """Submit a start-up registration and wait until it is applied. One the fold refuses
    (already registered, by an earlier start or by another API process starting now)
    leaves the same end state, so it is no error."""
    try:
        outcome = await submit(
            log_,
            watcher,
            pool,
            make_event(event, account_id=account_id, actor=BOOTSTRAP_ACTOR),
            BOOTSTRAP_WAIT_S,
        )
    except Refused:
        return
    if not outcome.applied:
        raise RuntimeError(
            f"the projector did not apply {type(event).__name__} within {BOOTSTRAP_WAIT_S:.0f} s"
        )


async def ensure_admin_key(
    settings: Settings, pool: asyncpg.Pool, log_: EventLog, watcher: CheckpointWatcher
) -> str:
    """Register the account `default` and the bootstrap key as its admin, if they are new.

    Every API process runs this at start; when two race, the fold accepts one
    registration and rejects the other, which is the same end state.
    """
    await _register(
        log_, watcher, pool, AccountCreated(created_by=BOOTSTRAP_ACTOR), DEFAULT_ACCOUNT
    )
    key = bootstrap_key(settings)
    known = await pool.fetchrow(q.API_KEY_STATE_BY_HASH, hash_key(key))
    if known is None:
        issued = new_key(ADMIN, "bootstrap", BOOTSTRAP_ACTOR, secret=key).issued
        await _register(log_, watcher, pool, issued, DEFAULT_ACCOUNT)
    elif known["revoked_at"] is not None:
        # A revoked key is never live again (the fold refuses to register it twice).
        log.warning("the bootstrap key %s was revoked; %s", known["key_id"], REISSUE_HINT)
    return key


async def bootstrap_key_notice(settings: Settings) -> str:
    """What `intentml up` tells the operator: the bootstrap admin key, or, once it was
    revoked, that it no longer works (printing a dead key would only mislead)."""
    key = bootstrap_key(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        known = await conn.fetchrow(q.API_KEY_STATE_BY_HASH, hash_key(key))
    finally:
        await conn.close()
    if known is not None and known["revoked_at"] is not None:
        return f"The bootstrap admin key {known['key_id']} was revoked: {REISSUE_HINT}"
    return f"API key (admin, account '{DEFAULT_ACCOUNT}'): {key}"
