"""Where builds run: the `BuildExecutor` port and what passes through it.

A trainer hands a `BuildJob` to an executor and gets one `BuildOutcome` back; the
executor streams the build's progress lines meanwhile. Adapters: `local` (a process
per build on this machine, the default) and `dask` (an existing Dask cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from intentml.domain.training_report import TrainingResult
from intentml.ml.train import TrainingSpec

#: A build's progress: (percent of the build, one build-log line).
Progress = Callable[[int, str], None]


class BuildJob(msgspec.Struct, frozen=True, kw_only=True):
    """One version's build, as an executor runs it: `dataset` and `artifact_dir` are
    paths local to the executor (the trainer's jobs carry blob store keys there, which
    `StoredBuilds` turns into local paths)."""

    job_id: str
    dataset: str
    fmt: str
    artifact_dir: str
    spec: TrainingSpec
    #: Rows times columns of the dataset (the scheduler's measure of size).
    cells: int = 0
    #: A Dask scheduler to train across with `lightgbm.dask` (`intentml.ml.distributed`);
    #: empty: train in the build's process. Set by the Dask executor for large data.
    cluster: str = ""


class Trained(msgspec.Struct, frozen=True, tag=True):
    """The build wrote its artifact."""

    result: TrainingResult


class Failed(msgspec.Struct, frozen=True, tag=True):
    """The build ended without a model: `code` as in `BuildFailed`."""

    code: str
    message: str


class Cancelled(msgspec.Struct, frozen=True, tag=True):
    """The build was stopped on request."""

    reason: str


BuildOutcome = Trained | Failed | Cancelled


class BuildExecutor(Protocol):
    """Runs builds; never raises for a build's own failure (that is a `Failed`)."""

    #: Builds it may run at once.
    capacity: int

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        """Run `job` to its end; `progress` is called on the event loop."""

    def cancel(self, job_id: str, reason: str) -> bool:
        """Stop a running build (its `run` returns `Cancelled`); False if not running."""

    async def close(self) -> None:
        """Stop every build and release the executor's resources."""
