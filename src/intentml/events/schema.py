"""Schema versions of the event types and the upcasters between them, pure.

The version lives in the envelope (`schema_version`), not in the payload: a reader
must know which shape `data` has *before* decoding it into a Struct, and the
envelope is the part whose shape never changes; it also travels in the stored
bytes, so the hash chain covers it, and a subscriber can route on it next to
`type`. It is the version of the envelope's `data` type (each type evolves on its
own), and the envelope fields themselves only ever gain fields with defaults.

Rules (the public contract): a new field gets a default and needs no new version;
a changed meaning, a renamed or removed field, or a field that becomes required
gets the next version and an upcaster from the one before. Stored events are never
rewritten (the hash chain covers their bytes): old events are upcast in memory each
time they are decoded, one version step at a time, so every reader sees only the
current shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: Turns the envelope (a JSON object) of one version of its type into the next version.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _author_named(field: str) -> Upcaster:
    """v1 → v2 of the account events: v1 allowed an empty author field meaning "the
    envelope's actor"; v2 always names the author, so subscribers need no fallback."""

    def upcast(envelope: dict[str, Any]) -> dict[str, Any]:
        data = dict(envelope["data"])
        data[field] = data.get(field) or envelope.get("actor", "")
        return {**envelope, "data": data}

    return upcast


#: The current version of each event type; a type not named here is at version 1.
SCHEMA_VERSIONS: Mapping[str, int] = {
    "AccountCreated": 2,
    "ApiKeyIssued": 2,
    "ApiKeyRevoked": 2,
}

#: (type, version) → the upcaster from that version to the next.
UPCASTERS: Mapping[tuple[str, int], Upcaster] = {
    ("AccountCreated", 1): _author_named("created_by"),
    ("ApiKeyIssued", 1): _author_named("issued_by"),
    ("ApiKeyRevoked", 1): _author_named("revoked_by"),
}


class UnknownSchemaVersion(ValueError):
    """An event of a version this code cannot read: newer than it knows, or with no
    upcaster path (a gap in the registry is a bug)."""


def current_version(type_name: str, versions: Mapping[str, int] = SCHEMA_VERSIONS) -> int:
    """The version events of `type_name` are written with today."""
    return versions.get(type_name, 1)


def upcast(
    envelope: dict[str, Any],
    versions: Mapping[str, int] = SCHEMA_VERSIONS,
    upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
) -> dict[str, Any]:
    """The envelope (a JSON object) brought to the current version of its type."""
    type_name = str(envelope.get("type", ""))
    version = int(envelope.get("schema_version", 1))
    target = current_version(type_name, versions)
    if version > target:
        raise UnknownSchemaVersion(
            f"schema version {version} of {type_name} is newer than this intentml "
            f"({target}): upgrade intentml"
        )
    while version < target:
        step = upcasters.get((type_name, version))
        if step is None:
            raise UnknownSchemaVersion(f"no upcaster for {type_name} v{version}")
        envelope = {**step(envelope), "schema_version": version + 1}
        version += 1
    return envelope


def check_registry(
    versions: Mapping[str, int] = SCHEMA_VERSIONS,
    upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
) -> list[str]:
    """Gaps in a registry: each version below a type's current one needs an upcaster."""
    return [
        f"{t} v{v} has no upcaster"
        for t, current in versions.items()
        for v in range(1, current)
        if (t, v) not in upcasters
    ]
