"""The blob store port: the same tests against both adapters, the local data dir and a
real S3-compatible server (SeaweedFS, started by the session; not a mock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import obstore
import pytest

from intentml.config import Settings
from intentml.infra.blobs import BlobNotFound, BlobStore, S3Blobs, open_blob_store
from intentml.infra.storage import UnsafePath

#: Opens the store as a process on a machine with the data dir given would: for the
#: local adapter every process shares the one data dir, for S3 each has its own disk.
Opener = Callable[[str], BlobStore]


@pytest.fixture(params=["local", "s3"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """A way to open the adapter under test from a named machine."""
    url = "" if request.param == "local" else request.getfixturevalue("store_url")

    def open_on(machine: str) -> BlobStore:
        data_dir = tmp_path / ("shared" if not url else machine)
        return open_blob_store(Settings(data_dir=data_dir, store_url=url))

    return open_on


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


ARTIFACT = {"model.txt": b"tree\n" * 1000, "meta.json": b"{}", "extra/explainer.bin": b"\x00\x01"}


async def put_artifact(blobs: BlobStore, prefix: str, files: dict[str, bytes]) -> None:
    with blobs.scratch() as scratch:
        out = scratch / "out"
        for name, content in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(content)
        await blobs.put_dir(prefix, out)
        assert not out.exists()  # consumed
    assert not scratch.exists()


async def test_a_file_put_under_a_key_is_fetched_by_another_process(opener: Opener) -> None:
    writer, reader = opener("api"), opener("trainer")
    with writer.scratch() as scratch:
        source = scratch / "incoming.csv"
        source.write_bytes(b"a,b\n1,2\n")
        await writer.put_file("uploads/acct/u1/data.csv", source)
        assert not source.exists()
    path = await reader.fetch("uploads/acct/u1/data.csv")
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert await reader.fetch("uploads/acct/u1/data.csv") == path  # the same local copy
    assert await reader.exists("uploads/acct/u1/data.csv")


async def test_a_directory_put_under_a_prefix_is_fetched_whole(opener: Opener) -> None:
    writer, reader = opener("trainer"), opener("deployer")
    await put_artifact(writer, "artifacts/acct/model_1/v1", ARTIFACT)
    assert tree(await reader.fetch_dir("artifacts/acct/model_1/v1")) == ARTIFACT
    assert tree(await writer.fetch_dir("artifacts/acct/model_1/v1")) == ARTIFACT


async def test_concurrent_first_reads_all_get_the_complete_directory(opener: Opener) -> None:
    await put_artifact(opener("trainer"), "artifacts/acct/model_1/v1", ARTIFACT)
    reader = opener("api")
    paths = await asyncio.gather(*(reader.fetch_dir("artifacts/acct/model_1/v1") for _ in range(6)))
    assert len(set(paths)) == 1
    assert tree(paths[0]) == ARTIFACT


async def test_putting_a_prefix_again_replaces_its_files(opener: Opener) -> None:
    writer = opener("trainer")
    await put_artifact(writer, "artifacts/acct/model_1/v1", ARTIFACT)
    again = {name: content + b"2" for name, content in ARTIFACT.items()}
    await put_artifact(writer, "artifacts/acct/model_1/v1", again)
    assert tree(await writer.fetch_dir("artifacts/acct/model_1/v1")) == again
    assert tree(await opener("api").fetch_dir("artifacts/acct/model_1/v1")) == again


async def test_exists_knows_keys_and_prefixes_by_whole_components(opener: Opener) -> None:
    blobs = opener("trainer")
    await put_artifact(blobs, "artifacts/acct/model_1/v1", ARTIFACT)
    assert await blobs.exists("artifacts/acct/model_1/v1")
    assert await blobs.exists("artifacts/acct/model_1/v1/model.txt")
    assert await blobs.exists("artifacts/acct")
    assert not await blobs.exists("artifacts/acct/model_1/v10")
    assert not await blobs.exists("artifacts/acct/model_1/v")
    assert not await blobs.exists("uploads/acct/u1/data.csv")


async def test_what_is_not_stored_is_not_found(opener: Opener) -> None:
    blobs = opener("api")
    with pytest.raises(BlobNotFound):
        await blobs.fetch("uploads/acct/missing/data.csv")
    with pytest.raises(BlobNotFound):
        await blobs.fetch_dir("artifacts/acct/model_1/v9")


async def test_delete_removes_a_prefix_or_a_key(opener: Opener) -> None:
    writer, reader = opener("trainer"), opener("api")
    await put_artifact(writer, "artifacts/acct/model_1/v1", ARTIFACT)
    await put_artifact(writer, "artifacts/acct/model_1/v2", ARTIFACT)
    await writer.delete("artifacts/acct/model_1/v1")
    assert not await reader.exists("artifacts/acct/model_1/v1")
    with pytest.raises(BlobNotFound):
        await writer.fetch_dir("artifacts/acct/model_1/v1")
    assert tree(await reader.fetch_dir("artifacts/acct/model_1/v2")) == ARTIFACT
    await writer.delete("artifacts/acct/model_1/v2/meta.json")
    assert not await reader.exists("artifacts/acct/model_1/v2/meta.json")
    await writer.delete("artifacts/acct/nothing")  # nothing there: no error


@pytest.mark.parametrize(
    "key", ["../outside", "/etc/passwd", "uploads//x", "uploads/./x", "uploads/..", "a\x00b", ""]
)
async def test_unsafe_keys_are_refused_by_every_operation(opener: Opener, key: str) -> None:
    blobs = opener("api")
    with blobs.scratch() as scratch:
        (scratch / "f").write_bytes(b"x")
        with pytest.raises(UnsafePath):
            await blobs.put_file(key, scratch / "f")
        with pytest.raises(UnsafePath):
            await blobs.put_dir(key, scratch)
    for op in (blobs.fetch, blobs.fetch_dir, blobs.exists, blobs.delete):
        with pytest.raises(UnsafePath):
            await op(key)


# --- S3 only: what several machines sharing a bucket rely on ---------------------------


async def test_s3_objects_are_in_the_bucket_under_the_url_prefix(
    store_url: str, tmp_path: Path
) -> None:
    blobs = open_blob_store(Settings(data_dir=tmp_path, store_url=store_url))
    assert isinstance(blobs, S3Blobs)
    await put_artifact(blobs, "artifacts/acct/model_1/v1", ARTIFACT)
    bucket = obstore.store.S3Store(store_url.split("/")[2])  # the whole bucket, no prefix
    prefix = store_url.split("/", 3)[3]
    names = {m["path"] for chunk in obstore.list(bucket, prefix) for m in chunk}
    assert names == {f"{prefix}/artifacts/acct/model_1/v1/{name}" for name in ARTIFACT}


async def test_s3_repeated_reads_are_served_from_the_local_cache(
    store_url: str, tmp_path: Path
) -> None:
    await put_artifact(
        open_blob_store(Settings(data_dir=tmp_path / "a", store_url=store_url)),
        "artifacts/acct/model_1/v1",
        ARTIFACT,
    )
    reader = open_blob_store(Settings(data_dir=tmp_path / "b", store_url=store_url))
    assert isinstance(reader, S3Blobs)
    first = await reader.fetch_dir("artifacts/acct/model_1/v1")
    assert first.is_relative_to(tmp_path / "b" / "store-cache")
    # Gone from the bucket behind the adapter's back: the cached copy still answers,
    # which shows a repeated read never went to the store.
    obstore.delete(reader.store, [f"artifacts/acct/model_1/v1/{name}" for name in ARTIFACT])
    assert tree(await reader.fetch_dir("artifacts/acct/model_1/v1")) == ARTIFACT
    assert not await reader.exists("artifacts/acct/model_1/v1")
