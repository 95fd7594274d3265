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


#: The fields of v1's `training` (ModelCreated, VersionRequested) that v2 keeps in
#: `training.options`.
V1_TRAINING_OPTIONS = ("metric", "task", "max_iterations", "time_budget_s")
#: The fields of a v1 `VersionTrained` that v2 keeps in `result`.
V1_TRAINING_RESULT = (
    "task",
    "metric_name",
    "metric_value",
    "metrics",
    "feature_importance",
    "features",
    "dropped_columns",
    "rows_used",
    "training_seconds",
    "input_schema",
    "output_schema",
    "report",
)


def _moved_into(field: str, names: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An object with those of `names` it has moved into a nested object `field`."""

    def move(obj: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in obj.items() if k not in names}
        return {**kept, field: {k: obj[k] for k in names if k in obj}}

    return move


def _options_nested(envelope: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 of ModelCreated and VersionRequested: the training request's loose
    options became one `TrainingOptions` (`training.options`)."""
    data = dict(envelope["data"])
    data["training"] = _moved_into("options", V1_TRAINING_OPTIONS)(data["training"])
    return {**envelope, "data": data}


def _result_nested(envelope: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 of VersionTrained: the loose result fields became one `TrainingResult`."""
    return {**envelope, "data": _moved_into("result", V1_TRAINING_RESULT)(envelope["data"])}


def _columns_profiled(envelope: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 of DatasetUploaded: each column carries its `profile`; a v1 upload's
    columns were never profiled, which v2 says with `null`."""
    data = dict(envelope["data"])
    data["columns"] = [{**column, "profile": None} for column in data.get("columns", [])]
    return {**envelope, "data": data}


#: The current version of each event type; a type not named here is at version 1.
SCHEMA_VERSIONS: Mapping[str, int] = {
    "AccountCreated": 2,
    "ApiKeyIssued": 2,
    "ApiKeyRevoked": 2,
    "DatasetUploaded": 2,
    "ModelCreated": 2,
    "VersionRequested": 2,
    "VersionTrained": 2,
}

#: (type, version) → the upcaster from that version to the next.
UPCASTERS: Mapping[tuple[str, int], Upcaster] = {
    ("AccountCreated", 1): _author_named("created_by"),
    ("ApiKeyIssued", 1): _author_named("issued_by"),
    ("ApiKeyRevoked", 1): _author_named("revoked_by"),
    ("DatasetUploaded", 1): _columns_profiled,
    ("ModelCreated", 1): _options_nested,
    ("VersionRequested", 1): _options_nested,
    ("VersionTrained", 1): _result_nested,
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
