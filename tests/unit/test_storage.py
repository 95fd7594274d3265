"""Paths under the data dir: only generated ids and checked names become path components."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentml.infra.storage import UnsafePath, artifact_ref, resolve_in, upload_path


def test_paths_are_built_from_ids_and_stay_in_the_data_dir(tmp_path: Path) -> None:
    path = upload_path(tmp_path, "default", "01a2-b3_c", "csv")
    assert path == tmp_path / "uploads" / "default" / "01a2-b3_c" / "data.csv"
    ref = artifact_ref("acme", "model_01a2", 3)
    assert ref == "artifacts/acme/model_01a2/v3"
    assert resolve_in(tmp_path, ref) == (tmp_path / ref).resolve()


@pytest.mark.parametrize(
    ("account", "upload", "fmt"),
    [
        ("..", "u1", "csv"),
        ("default", "../../etc", "csv"),
        ("default", "a/b", "csv"),
        ("default", ".", "csv"),
        ("", "u1", "csv"),
        ("default", "u1", "exe"),
        ("default", "u1", "../csv"),
        ("de\x00fault", "u1", "csv"),
    ],
)
def test_anything_else_is_refused(account: str, upload: str, fmt: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePath):
        upload_path(tmp_path, account, upload, fmt)


def test_artifact_refs_that_leave_the_data_dir_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafePath):
        artifact_ref("acme", "../model", 1)
    for ref in ("../outside", "artifacts/../../outside", "/etc/passwd"):
        with pytest.raises(UnsafePath):
            resolve_in(tmp_path, ref)
    # a symlink inside the data dir that points out of it
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePath):
        resolve_in(tmp_path, "artifacts/link/x")
