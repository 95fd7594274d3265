"""Model and account names and version references: the names a user controls."""

from __future__ import annotations

import re

#: Letters, digits, '-', '_' and '.', 1-100 characters, not starting with '.'.
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")
#: Letters, digits, '-' and '_', 1-64 characters, starting with a letter or digit. Narrower
#: than model names: an account id is a directory of the data dir and the first half of
#: every Kafka key (`account/model`), so it may hold neither '.' nor '/'.
ACCOUNT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_VERSION_PATTERN = re.compile(r"^[vV]?(\d{1,9})(?:\.0)?$")


def valid_model_name(name: str) -> bool:
    """Whether `name` may name a model (it also becomes part of artifact paths)."""
    return bool(MODEL_NAME_PATTERN.match(name))


def valid_account_name(name: str) -> bool:
    """Whether `name` may name an account."""
    return bool(ACCOUNT_NAME_PATTERN.match(name))


def parse_version(ref: str) -> int | None:
    """`v3`, `v3.0` and `3` all mean version 3; anything else is None."""
    m = _VERSION_PATTERN.match(ref.strip())
    if m is None:
        return None
    n = int(m.group(1))
    return n if n >= 1 else None


def version_label(version: int) -> str:
    """The canonical label of a version number: `v3`."""
    return f"v{version}"
