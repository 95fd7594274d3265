"""API keys: how they look, how they are stored (only a hash, never the secret), and scopes."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

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
