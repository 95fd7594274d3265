"""`StoredBuilds`: a build's dataset comes from the blob store and its artifact goes
there, around a real executor (real builds in real processes), on both adapters."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import pytest
from obstore.store import S3Store

from intentml.config import Settings
from intentml.infra.blobs import BlobStore, S3Blobs, open_blob_store
from intentml.infra.builds import BuildJob, BuildOutcome, Failed, Progress, Trained
from intentml.infra.builds.local import LocalExecutor
from intentml.infra.builds.stored import StoredBuilds
from intentml.infra.storage import artifact_ref, upload_key
from intentml.ml.train import TrainingSpec
from tests.data import churn_rows, to_csv

DATASET = upload_key("acct", "u1", "csv")
ARTIFACT = artifact_ref("acct", "model_1", 1)


def _job(target: str = "churned") -> BuildJob:
    return BuildJob(
        job_id="job_1",
        dataset=DATASET,
        fmt="csv",
        artifact_dir=ARTIFACT,
        spec=TrainingSpec(target=target),
    )


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The store under test, holding a churn upload at `DATASET`."""
    url = "" if request.param == "local" else request.getfixturevalue("store_url")
    return open_blob_store(Settings(data_dir=tmp_path / "api", store_url=url))


async def _upload(blobs: BlobStore) -> None:
    with blobs.scratch() as scratch:
        (scratch / "data.csv").write_bytes(to_csv(churn_rows(200)))
        await blobs.put_file(DATASET, scratch / "data.csv")


class _Recorded:
    """An inner executor that records its jobs and answers `outcome` (for the paths where
    no build should run, or a build fails)."""

    capacity = 1

    def __init__(self, outcome: BuildOutcome) -> None:
        self.outcome = outcome
        self.jobs: list[BuildJob] = []
        #: The bytes of each job's dataset, read from the local path it was given.
        self.datasets: list[bytes] = []

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        self.jobs.append(job)
        self.datasets.append(await asyncio.to_thread(Path(job.dataset).read_bytes))
        return self.outcome

    def cancel(self, job_id: str, reason: str) -> bool:
        return False

    async def close(self) -> None:
        pass


async def test_a_build_reads_the_upload_and_stores_its_artifact(blobs: BlobStore) -> None:
    await _upload(blobs)
    builds = StoredBuilds(
        LocalExecutor(capacity=1, threads=1, memory_limit_mb=None, timeout_s=None), blobs
    )
    try:
        outcome = await builds.run(_job(), lambda percent, line: None)
    finally:
        await builds.close()
    assert isinstance(outcome, Trained), outcome
    stored = await blobs.fetch_dir(ARTIFACT)
    assert {"model.txt", "meta.json"} <= {p.name for p in stored.iterdir()}


async def test_a_failed_build_stores_nothing(blobs: BlobStore) -> None:
    await _upload(blobs)
    inner = _Recorded(Failed("dataset_invalid", "no such target"))
    outcome = await StoredBuilds(inner, blobs).run(_job("nope"), lambda p, line: None)
    assert outcome == Failed("dataset_invalid", "no such target")
    [job] = inner.jobs
    assert Path(job.artifact_dir).is_absolute()  # the executor wrote to a local directory
    assert inner.datasets == [to_csv(churn_rows(200))]
    assert not await blobs.exists(ARTIFACT)


async def test_an_upload_missing_from_the_store_fails_the_build_before_it_runs(
    blobs: BlobStore,
) -> None:
    inner = _Recorded(Failed("x", "y"))
    outcome = await StoredBuilds(inner, blobs).run(_job(), lambda p, line: None)
    assert isinstance(outcome, Failed) and outcome.code == "dataset_invalid"
    assert "not in the store" in outcome.message and inner.jobs == []


async def test_a_store_that_cannot_be_reached_fails_the_build_with_the_reason(
    tmp_path: Path,
) -> None:
    unreachable = S3Store(
        "intentml-blobs",
        endpoint="http://127.0.0.1:9",  # discard: nothing listens
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        client_options={"allow_http": True},
        retry_config={
            "max_retries": 0,
            "backoff": {
                "init_backoff": datetime.timedelta(0),
                "max_backoff": datetime.timedelta(0),
                "base": 2,
            },
            "retry_timeout": datetime.timedelta(seconds=1),
        },
    )
    inner = _Recorded(Failed("x", "y"))
    blobs = S3Blobs(unreachable, tmp_path / "store-cache", tmp_path / "tmp")
    outcome = await StoredBuilds(inner, blobs).run(_job(), lambda p, line: None)
    assert isinstance(outcome, Failed) and outcome.code == "store_unavailable", outcome
    assert "could not be fetched" in outcome.message and inner.jobs == []
