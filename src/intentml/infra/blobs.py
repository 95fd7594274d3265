"""The blob store: where uploads, artifacts and build inputs live.

`BlobStore` is the port; `LocalBlobs` (the default: the data dir, today's layout) and
`S3Blobs` (any S3-compatible store, through obstore) are its adapters, and
`open_blob_store` picks one from `INTENTML_STORE_URL`. Keys are the relative refs of
`intentml.infra.storage` (`uploads/<account>/<id>/data.csv`, `artifacts/<account>/
<model_id>/v1`): events carry keys, never data.

Readers get a local path (LightGBM and pandas read files). The S3 adapter keeps what
it fetched or stored in a cache under the data dir (`store-cache/`): uploads and
artifacts never change once stored, so a cached copy is valid for good and a repeated
read costs nothing. Every download lands under a temporary name and is renamed into
place, so a reader never sees half a file or half an artifact.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from intentml.config import Settings
from intentml.infra.storage import check_key, resolve_in

#: Uploads of an artifact's files at once (S3 round trips dominate for small files).
_PUT_CONCURRENCY = 8


class BlobNotFound(FileNotFoundError):
    """Nothing is stored under a key (or a prefix)."""


class BlobStore(Protocol):
    """Stored files: one file under a key, or a directory of files under a prefix."""

    def scratch(self) -> AbstractContextManager[Path]:
        """A fresh local directory, removed after the block, from which `put_file` and
        `put_dir` take their sources cheaply (a rename, on the same disk as the store's
        local side)."""
        ...

    async def put_file(self, key: str, source: Path) -> None:
        """Store the file `source` under `key`. `source` is consumed: moved into the
        store (or its cache); the caller must not use it afterwards."""
        ...

    async def put_dir(self, prefix: str, source: Path) -> None:
        """Store every file under the directory `source` under `prefix` (replacing what
        was there). `source` is consumed like `put_file`'s."""
        ...

    async def fetch(self, key: str) -> Path:
        """A local path holding the file stored under `key`; `BlobNotFound` if none."""
        ...

    async def fetch_dir(self, prefix: str) -> Path:
        """A local directory holding the files stored under `prefix`; `BlobNotFound` if
        none."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`, or any file under it as a prefix."""
        ...

    async def delete(self, prefix: str) -> None:
        """Remove the file under `prefix` or every file under it; nothing if none."""
        ...


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _install_dir(source: Path, dest: Path, trash: Path) -> None:
    """Rename `source` to `dest`, replacing a `dest` that exists: the old one is renamed
    aside first, so `dest` is at every moment either the old directory or the new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, dest)
        return
    except OSError:
        if not dest.exists():
            raise
    trash.mkdir(parents=True, exist_ok=True)
    old = trash / f"old-{uuid.uuid4().hex}"
    os.rename(dest, old)
    os.rename(source, dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _scratch_in(root: Path) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class LocalBlobs:
    """The data dir as the blob store: a key is a path under it, as it always was
    (`<data_dir>/uploads/...`, `<data_dir>/artifacts/...`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def _path(self, key: str) -> Path:
        return resolve_in(self.root, check_key(key))

    def scratch(self) -> AbstractContextManager[Path]:
        """See `BlobStore.scratch` (under `<data_dir>/tmp`)."""
        return _scratch_in(self._tmp)

    async def put_file(self, key: str, source: Path) -> None:
        """See `BlobStore.put_file` (a rename)."""
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)

    async def put_dir(self, prefix: str, source: Path) -> None:
        """See `BlobStore.put_dir` (a rename)."""
        await asyncio.to_thread(_install_dir, source, self._path(prefix), self._tmp)

    async def fetch(self, key: str) -> Path:
        """See `BlobStore.fetch` (the stored file itself)."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(f"nothing is stored at {key}")
        return path

    async def fetch_dir(self, prefix: str) -> Path:
        """See `BlobStore.fetch_dir` (the stored directory itself)."""
        path = self._path(prefix)
        if not path.is_dir():
            raise BlobNotFound(f"nothing is stored under {prefix}")
        return path

    async def exists(self, key: str) -> bool:
        """See `BlobStore.exists`."""
        return self._path(key).exists()

    async def delete(self, prefix: str) -> None:
        """See `BlobStore.delete`."""
        path = self._path(prefix)
        if path.is_dir():
            await asyncio.to_thread(shutil.rmtree, path)
        else:
            path.unlink(missing_ok=True)


class S3Blobs:
    """An S3 bucket (any S3-compatible store) as the blob store, through obstore.

    Keys are object names under the URL's prefix. What is fetched or stored is also
    kept in `cache_dir` (see the module). obstore's calls run in worker threads
    (`asyncio.to_thread`), so no network or disk wait ever blocks the event loop.
    """

    def __init__(self, store: S3Store, cache_dir: Path, scratch_root: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._tmp = scratch_root

    def _cached(self, key: str) -> Path:
        return resolve_in(self.cache_dir, check_key(key))

    def scratch(self) -> AbstractContextManager[Path]:
        """See `BlobStore.scratch` (under `<data_dir>/tmp`, next to the cache)."""
        return _scratch_in(self._tmp)

    async def put_file(self, key: str, source: Path) -> None:
        """See `BlobStore.put_file`: uploaded (multipart when large), then kept in the
        cache, so this machine reads it back for free."""
        cached = self._cached(key)
        await asyncio.to_thread(obstore.put, self.store, key, source)
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, cached)

    async def put_dir(self, prefix: str, source: Path) -> None:
        """See `BlobStore.put_dir`: each file uploaded, then the directory kept in the
        cache. An earlier attempt's files are overwritten by name (a build writes the
        same names every time, so none is left over)."""
        cached = self._cached(prefix)
        gate = asyncio.Semaphore(_PUT_CONCURRENCY)

        async def put(path: Path) -> None:
            key = f"{prefix}/{path.relative_to(source).as_posix()}"
            async with gate:
                await asyncio.to_thread(obstore.put, self.store, check_key(key), path)

        await asyncio.gather(*(put(p) for p in await asyncio.to_thread(_tree_files, source)))
        await asyncio.to_thread(_install_dir, source, cached, self._tmp)

    async def fetch(self, key: str) -> Path:
        """See `BlobStore.fetch`: from the cache, else downloaded into it."""
        cached = self._cached(key)
        if not cached.is_file():
            await asyncio.to_thread(self._download_file, key, cached)
        return cached

    async def fetch_dir(self, prefix: str) -> Path:
        """See `BlobStore.fetch_dir`: from the cache, else downloaded into it whole."""
        cached = self._cached(prefix)
        if not cached.is_dir():
            await asyncio.to_thread(self._download_dir, prefix, cached)
        return cached

    async def exists(self, key: str) -> bool:
        """See `BlobStore.exists` (asks the store, not the cache)."""
        check_key(key)
        return await asyncio.to_thread(self._exists, key)

    async def delete(self, prefix: str) -> None:
        """See `BlobStore.delete`: from the store, then from this machine's cache."""
        cached = self._cached(prefix)
        await asyncio.to_thread(self._delete, prefix)
        if cached.is_dir():
            await asyncio.to_thread(shutil.rmtree, cached, True)
        else:
            cached.unlink(missing_ok=True)

    def _list(self, prefix: str) -> list[str]:
        return [meta["path"] for chunk in obstore.list(self.store, prefix) for meta in chunk]

    def _exists(self, key: str) -> bool:
        return self._exists_file(key) or bool(self._list(key))

    def _delete(self, prefix: str) -> None:
        names = self._list(prefix)
        if self._exists_file(prefix):
            names.append(prefix)
        for i in range(0, len(names), 1000):
            obstore.delete(self.store, names[i : i + 1000])

    def _exists_file(self, key: str) -> bool:
        try:
            obstore.head(self.store, key)
            return True
        except FileNotFoundError:  # what obstore raises for a 404
            return False

    def _download(self, key: str, dest: Path) -> None:
        try:
            got = obstore.get(self.store, key)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"nothing is stored at {key}") from exc
        with dest.open("wb") as f:
            for chunk in got:
                f.write(chunk)

    def _download_file(self, key: str, cached: Path) -> None:
        with _scratch_in(self._tmp) as tmp:
            part = tmp / "part"
            self._download(key, part)
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, cached)  # another reader may have won: same bytes

    def _download_dir(self, prefix: str, cached: Path) -> None:
        names = self._list(prefix)
        if not names:
            raise BlobNotFound(f"nothing is stored under {prefix}")
        with _scratch_in(self._tmp) as tmp:
            tree = tmp / "tree"
            for name in names:
                rel = name[len(prefix) :].lstrip("/")
                dest = resolve_in(tree, check_key(rel))
                dest.parent.mkdir(parents=True, exist_ok=True)
                self._download(name, dest)
            cached.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tree, cached)
            except OSError:
                if not cached.is_dir():  # not another reader's complete copy: a real error
                    raise


class StoreUrlError(ValueError):
    """`INTENTML_STORE_URL` names no store this platform can use."""


def parse_store_url(url: str) -> tuple[str, str]:
    """The bucket and prefix of an `s3://bucket/prefix` URL; `StoreUrlError` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise StoreUrlError(
            f"INTENTML_STORE_URL must be empty (the data dir) or s3://bucket/prefix, not {url!r}"
        )
    if parts.query or parts.fragment:
        raise StoreUrlError(
            f"INTENTML_STORE_URL must be s3://bucket/prefix with no query or fragment: {url!r}"
        )
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return parts.netloc, prefix


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store `settings.store_url` names: the data dir when empty, else S3 with
    the endpoint, region and credentials of the usual `AWS_*` variables (see the README).
    A URL that names no usable store raises `StoreUrlError` with the reason."""
    if not settings.store_url:
        return LocalBlobs(settings.data_dir)
    bucket, prefix = parse_store_url(settings.store_url)
    try:
        store = S3Store(bucket, prefix=prefix or None)
    except Exception as exc:  # obstore reads the AWS_* variables here: say which failed
        raise StoreUrlError(f"the object store {settings.store_url} cannot be used: {exc}") from exc
    return S3Blobs(store, settings.data_dir / "store-cache", settings.data_dir / "tmp")
