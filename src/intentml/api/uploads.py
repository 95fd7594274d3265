"""`/uploads`: datasets streamed to disk, parsed once, recorded in the log."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from python_multipart.multipart import FormParser, parse_options_header

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.platform import PlatformDep
from intentml.api.schemas import ColumnOut, UploadOut
from intentml.api.storable import check_upload
from intentml.events.envelope import make_event, new_id
from intentml.events.types import Column, DatasetUploaded
from intentml.infra.storage import upload_key
from intentml.ml.datasets import DatasetError, detect_format, inspect_dataset
from projections.read_models.uploads import UploadRecord, account_upload


class _Received:
    """The `file` part of a multipart body, spooled to a temp file as it streams in."""

    def __init__(self) -> None:
        self.file: Any = None
        #: The other form fields (name, value), only checked (`check_upload`).
        self.fields: list[tuple[str, str]] = []

    def on_field(self, field: Any) -> None:
        name = (field.field_name or b"").decode("utf-8", "replace")
        self.fields.append((name, (field.value or b"").decode("utf-8", "replace")[:1000]))

    def on_file(self, file: Any) -> None:
        if file.field_name == b"file" and self.file is None:
            self.file = file


def upload_out(row: UploadRecord) -> UploadOut:
    """The API shape of an uploads row."""
    return UploadOut(
        upload_id=row.upload_id,
        dataset_id=row.upload_id,
        filename=row.filename,
        format=row.format,
        rows=row.rows,
        columns=[ColumnOut(c.name, c.type, c.profile) for c in row.columns],
        size_bytes=row.size_bytes,
        status="complete",
        created_at=row.created_at,
    )


def _inspect(path: Path, filename: str) -> tuple[str, int, list[Column], str]:
    """Format, row count, columns and sha256 of a received file (runs in a thread)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    fmt = detect_format(filename, head)
    # Streamed in batches: the API must not hold a whole (up to 1 GiB) upload in memory.
    summary = inspect_dataset(path, fmt)
    profiles = summary.profiles or [None] * len(summary.columns)
    cols = [Column(c.name, c.type, p) for c, p in zip(summary.columns, profiles, strict=True)]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return fmt, summary.rows, cols, digest.hexdigest()


async def _receive_file(
    request: Request[Any, Any, Any], tmp_dir: Path, limit: int
) -> tuple[Path, str]:
    """Stream the multipart body to disk, enforcing the size limit as bytes arrive."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(400, "send the file as multipart/form-data in a field named 'file'")
    received = _Received()
    parser = FormParser(
        "multipart/form-data",
        on_field=received.on_field,
        on_file=received.on_file,
        boundary=params[b"boundary"],
        config={
            "UPLOAD_DIR": str(tmp_dir),
            "MAX_MEMORY_FILE_SIZE": 0,
            "UPLOAD_DELETE_TMP": False,
            "UPLOAD_KEEP_FILENAME": False,
        },
    )
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError(
                    413,
                    f"the upload exceeds the limit of {limit} bytes (INTENTML_MAX_UPLOAD_BYTES)",
                    {"limit_bytes": limit},
                )
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(400, f"the multipart body could not be parsed: {exc}") from exc
    f = received.file
    if f is None:
        raise ApiError(400, "no file in the form: send it in a field named 'file'")
    f.flush_to_disk()
    f.file_object.flush()
    name = (f.file_name or b"upload").decode("utf-8", "replace")
    check_upload(name, fields=received.fields)
    return Path(f.actual_file_name.decode()), os.path.basename(name)


class UploadController(Controller):
    path = "/uploads"
    tags = ["uploads"]

    # The body limit is enforced while streaming (INTENTML_MAX_UPLOAD_BYTES), not by the framework.
    @post(
        "/",
        status_code=201,
        request_max_body_size=None,
        summary="Upload a CSV, Parquet or JSON Lines file",
    )
    async def create(
        self, request: Request[Principal, Any, State], platform: PlatformDep
    ) -> UploadOut:
        """Stream a dataset to disk, parse it, and record it; answers with its columns."""
        principal = request.user
        # Received and inspected on this machine's disk, then stored (the data dir, or
        # the shared S3 store that trainers on other machines read it from).
        with platform.blobs.scratch() as tmp_dir:
            path, filename = await _receive_file(
                request, tmp_dir, platform.settings.max_upload_bytes
            )
            try:
                fmt, rows, cols, sha = await asyncio.to_thread(_inspect, path, filename)
            except DatasetError as exc:
                raise ApiError(422, f"the file could not be read as a dataset: {exc}") from exc
            check_upload(filename, [c.name for c in cols])
            upload_id = new_id()
            size = path.stat().st_size
            key = upload_key(principal.account_id, upload_id, fmt)
            await platform.blobs.put_file(key, path)
        event = make_event(
            DatasetUploaded(
                upload_id=upload_id,
                filename=filename,
                format=fmt,
                rows=rows,
                columns=cols,
                size_bytes=size,
                sha256=sha,
            ),
            account_id=principal.account_id,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        return UploadOut(
            upload_id=upload_id,
            dataset_id=upload_id,
            filename=filename,
            format=fmt,
            rows=rows,
            columns=[ColumnOut(c.name, c.type, c.profile) for c in cols],
            size_bytes=size,
            status="complete",
            created_at=outcome.appended.envelope.occurred_at,
        )

    @get("/{upload_id:str}", summary="An upload's metadata")
    async def read(
        self,
        request: Request[Principal, Any, State],
        platform: PlatformDep,
        upload_id: FromPath[str],
    ) -> UploadOut:
        """The upload as `POST /uploads` described it."""
        row = await account_upload(platform.pool, request.user.account_id, upload_id)
        if row is None:
            raise ApiError(404, f"upload '{upload_id}' not found; upload a file with POST /uploads")
        return upload_out(row)
