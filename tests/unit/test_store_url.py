"""`INTENTML_STORE_URL`: empty is the data dir, `s3://bucket/prefix` is S3, anything else
stops the start with a message that says what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentml.cli.main import main
from intentml.config import Settings
from intentml.infra.blobs import LocalBlobs, StoreUrlError, open_blob_store, parse_store_url


def test_empty_is_the_data_dir_in_todays_layout(tmp_path: Path) -> None:
    blobs = open_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(blobs, LocalBlobs) and blobs.root == tmp_path
    assert Settings.from_env({}).store_url == ""


def test_an_s3_url_gives_the_bucket_and_the_prefix() -> None:
    assert Settings.from_env({"INTENTML_STORE_URL": " s3://b/p/q "}).store_url == "s3://b/p/q"
    assert parse_store_url("s3://bucket") == ("bucket", "")
    assert parse_store_url("s3://bucket/") == ("bucket", "")
    assert parse_store_url("s3://bucket/team-a/intentml") == ("bucket", "team-a/intentml")


@pytest.mark.parametrize(
    "url",
    ["/srv/data", "file:///srv", "gs://bucket/x", "s3://", "s3:///prefix", "s3://b/p?x=1", "b/p"],
)
def test_anything_else_fails_at_start_saying_what_is_expected(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        Settings.from_env({"INTENTML_STORE_URL": url})
    with pytest.raises(StoreUrlError, match="s3://bucket/prefix"):
        parse_store_url(url)
    monkeypatch.setenv("INTENTML_STORE_URL", url)
    assert main(["trainer"]) == 2
    assert "INTENTML_STORE_URL must be" in capsys.readouterr().err


def test_a_prefix_must_be_made_of_safe_components() -> None:
    with pytest.raises(ValueError, match="safe storage key"):
        parse_store_url("s3://bucket/a/../b")
