"""Where files live: the keys of uploads and model artifacts in the blob store.

A key is a relative, '/'-separated path such as `uploads/<account>/<id>/data.csv` or
`artifacts/<account>/<model_id>/v1`; in the local store it is a path under the data
dir (today's layout), in S3 an object name under the store URL's prefix.

Every path component comes from ids the platform generated (UUIDs, `model_...`),
account names that passed `valid_account_name`, and a fixed set of extensions;
no model name, file name or other request text is ever part of a path. These
functions check each component anyway, and `resolve_in` checks that a stored
reference stays inside the data dir, so a bad value (a corrupt row, a forged
event) is an error here rather than a path outside the data dir.
"""

from __future__ import annotations

import re
from pathlib import Path

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}

#: What a generated id or an account name may look like as one path component: no '/',
#: no '.', nothing a filesystem treats specially.
_COMPONENT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class UnsafePath(ValueError):
    """A path component or reference that could leave the data dir."""


def _component(value: str, what: str) -> str:
    if not _COMPONENT.match(value):
        raise UnsafePath(f"{what} {value!r} is not a safe path component")
    return value


#: One component of a stored key: a safe component, or a file name with an extension
#: (`data.csv`, `model.txt`); never empty, `.` or `..`.
_KEY_PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")


def upload_key(account_id: str, upload_id: str, fmt: str) -> str:
    """The key of an upload's stored file."""
    if fmt not in EXTENSIONS:
        raise UnsafePath(f"unknown dataset format {fmt!r}")
    account = _component(account_id, "account id")
    return f"uploads/{account}/{_component(upload_id, 'upload id')}/data.{EXTENSIONS[fmt]}"


def upload_path(data_dir: Path, account_id: str, upload_id: str, fmt: str) -> Path:
    """The stored file of an upload in the local store."""
    return data_dir / upload_key(account_id, upload_id, fmt)


def check_key(key: str) -> str:
    """`key` if it is a relative key made of safe components (see `_KEY_PART`); every
    blob store checks each key it is given with this, whatever produced it (a row, an
    event)."""
    parts = key.split("/")
    if not all(_KEY_PART.match(p) and p.strip(".") for p in parts):
        raise UnsafePath(f"{key!r} is not a safe storage key")
    return key


def artifact_ref(account_id: str, model_id: str, version: int) -> str:
    """A version's artifact directory, relative to the data dir (what events carry)."""
    account = _component(account_id, "account id")
    return f"artifacts/{account}/{_component(model_id, 'model id')}/v{int(version)}"


def resolve_in(data_dir: Path, ref: str) -> Path:
    """The path of `ref` (relative to the data dir, as events carry it), refused if it is
    absolute or leads outside the data dir (`..`, a symlink)."""
    root = data_dir.resolve()
    path = (root / ref).resolve()
    if Path(ref).is_absolute() or not path.is_relative_to(root):
        raise UnsafePath(f"{ref!r} is not inside the data dir")
    return path
