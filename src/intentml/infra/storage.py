"""Where files live under the data dir: uploads and model artifacts.

Every path component comes from ids the platform generated or from names that
passed `valid_model_name`, so no request text reaches the filesystem unchecked.
"""

from __future__ import annotations

from pathlib import Path

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}


def upload_path(data_dir: Path, account_id: str, upload_id: str, fmt: str) -> Path:
    """The stored file of an upload."""
    return data_dir / "uploads" / account_id / upload_id / f"data.{EXTENSIONS[fmt]}"


def artifact_ref(account_id: str, model_id: str, version: int) -> str:
    """A version's artifact directory, relative to the data dir (what events carry)."""
    return f"artifacts/{account_id}/{model_id}/v{version}"
