"""Text PostgreSQL can store: the one rule the API and the fold both apply.

PostgreSQL's `text` and `jsonb` cannot hold U+0000 (NUL), and a lone UTF-16
surrogate (U+D800 to U+DFFF) cannot be encoded as UTF-8 at all. An event holding
either could never be projected, so the API refuses it (400 naming the field)
and the fold rejects one that arrives anyway (from another writer); the
archive then keeps it with its unstorable characters replaced (`storable`)
next to its bytes, kept verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import msgspec

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: What the API and the fold say about such text.
UNSTORABLE_REASON = "holds a NUL character (\\u0000) or a lone surrogate, which cannot be stored"


def unstorable(text: str) -> bool:
    """Whether `text` holds a character PostgreSQL text cannot store."""
    return _UNSTORABLE.search(text) is not None


def storable(text: str) -> str:
    """`text` with each character PostgreSQL cannot store replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def unstorable_field(value: object, path: str = "") -> str | None:
    """The path (`tags[1]`, `training.intent`) of the first string in `value`, a JSON-like
    tree of dicts, lists and scalars, that PostgreSQL cannot store; None when all can be.
    A bad dict key is named by its path too."""
    if isinstance(value, str):
        return path if unstorable(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = _join(path, storable(str(key)))
            if isinstance(key, str) and unstorable(key):
                return where
            found = unstorable_field(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for i, item in enumerate(value):
            found = unstorable_field(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


_encoder = msgspec.json.Encoder()


def unstorable_in(obj: object) -> str | None:
    """`unstorable_field` of any msgspec-encodable object (an envelope, a Struct).

    Fast on the common path: JSON escapes NUL as `\\u0000` and cannot encode a lone
    surrogate at all, so only an object whose encoding shows either is walked."""
    try:
        if b"\\u0000" not in _encoder.encode(obj):
            return None
    except UnicodeEncodeError:
        pass
    return unstorable_field(msgspec.to_builtins(obj))
