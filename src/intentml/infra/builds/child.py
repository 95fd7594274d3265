"""The body of a build's own process (the local executor's child): train, and send the
progress lines and the outcome back through the pipe it was given.

Imported once by the fork server (`local.py` preloads it), so each build's process
starts with LightGBM, pandas and the trainer already imported.
"""

from __future__ import annotations

import os
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from intentml.infra.builds import BuildJob
from intentml.ml.errors import TrainingFailed
from intentml.ml.train import train

#: Exit status of a build whose trainer is gone (nobody is left to hear its outcome).
ORPHANED = 3


def run_build(conn: Connection, payload: bytes) -> None:
    """Train the encoded `BuildJob`; messages: ("progress", percent, line), then one of
    ("trained", msgpack TrainingResult) or ("failed", code, message)."""
    finished = threading.Event()
    _exit_with_parent(conn, finished)
    job = msgspec.msgpack.decode(payload, type=BuildJob)
    lock = threading.Lock()

    def send(message: tuple[object, ...]) -> None:
        with lock:
            conn.send(message)

    def progress(percent: int, line: str) -> None:
        send(("progress", percent, line))

    try:
        if job.cluster:
            from intentml.ml.distributed import train_distributed  # Dask only when used

            result = train_distributed(
                Path(job.dataset), job.fmt, job.spec, Path(job.artifact_dir), progress, job.cluster
            )
        else:
            result = train(Path(job.dataset), job.fmt, job.spec, Path(job.artifact_dir), progress)
        send(("trained", msgspec.msgpack.encode(result)))
    except TrainingFailed as exc:
        send(("failed", exc.code, str(exc)))
    except Exception as exc:  # a bug or a broken file: the user still gets a final state
        traceback.print_exc()
        send(("failed", "internal_error", f"training failed unexpectedly: {exc}"))
    finally:
        finished.set()
        conn.close()


def _exit_with_parent(conn: Connection, finished: threading.Event) -> None:
    """End this process when the trainer that started it is gone: its end of the pipe
    closes, and a build nobody will hear of must not hold a core."""

    def wait() -> None:
        try:
            while True:
                conn.recv()
        except (EOFError, OSError):
            if not finished.is_set():
                os._exit(ORPHANED)

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()
