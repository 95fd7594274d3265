"""API keys: how they look, how they are stored (only a hash, never the secret), and scopes."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

import msgspec

from intentml.events.types import ApiKeyIssued, RateLimits

KEY_PREFIX = "iml_sk_"

#: What a key may do, weakest first; each scope includes the ones before it.
Scope = Literal["read_only", "read_write", "admin"]
READ_ONLY: Scope = "read_only"
READ_WRITE: Scope = "read_write"
ADMIN: Scope = "admin"
SCOPES: tuple[Scope, ...] = (READ_ONLY, READ_WRITE, ADMIN)


def generate_key() -> str:
    """A new secret key, `iml_sk_` + 32 random URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    """What the log and the database keep of a key.

    Keys are long random secrets, so one unsalted SHA-256 is enough: there is
    nothing to brute-force, and lookups stay one indexed equality.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_for(key_hash: str) -> str:
    """The stable, public identifier of a key, derived from its hash.

    The fold relies on the derivation: it finds the key a revocation names among
    the hashes it has seen, so ids need no state of their own.
    """
    return "key_" + key_hash[:16]


class NewKey(msgspec.Struct, frozen=True):
    """A key about to be issued: its secret (shown once, to whoever asked) and the event
    that registers it (only the hash, never the secret)."""

    secret: str
    issued: ApiKeyIssued

    @property
    def key_id(self) -> str:
        """The key's public id."""
        return self.issued.key_id


def new_key(
    scope: str,
    name: str,
    issued_by: str,
    rate_limits: RateLimits | None = None,
    secret: str | None = None,
) -> NewKey:
    """The one way a key is made, by the API, the operator CLI and start-up: a new secret
    (or `secret`, a bootstrap key chosen beforehand), its hash and the id derived from it."""
    secret = generate_key() if secret is None else secret
    digest = hash_key(secret)
    return NewKey(
        secret,
        ApiKeyIssued(
            key_id=key_id_for(digest),
            key_hash=digest,
            scope=scope,
            name=name,
            issued_by=issued_by,
            rate_limits=rate_limits,
        ),
    )
