"""API keys: how they look and how they are stored (only a hash, never the secret)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "iml_sk_"
SCOPES = ("read_only", "read_write", "admin")


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
    """A stable, public identifier of a key, derived from its hash."""
    return "key_" + key_hash[:16]
