"""One build on the local executor against the same build on a two-worker Dask
`LocalCluster`, and the same data trained across the two workers with `lightgbm.dask`.

Each executor first runs one warm-up build (the fork servers start, the workers import
the trainer), then `--runs` timed builds of the same job; the times are the executor's
`run` from submit to outcome, the figure a user waits for. The data: `train_latency`'s
synthetic churn table (16 numeric, 3 categorical columns), `--rows` rows.

    .venv/bin/python benchmarks/dask_build.py [--rows 20000] [--runs 3]

`compare(rows, runs)` returns the figures for another benchmark to print.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import LocalCluster

from intentml.infra.blobs import LocalBlobs
from intentml.infra.builds import BuildExecutor, BuildJob, Trained
from intentml.infra.builds.dask import DaskExecutor
from intentml.infra.builds.local import LocalExecutor
from intentml.infra.builds.stored import StoredBuilds
from intentml.infra.storage import artifact_ref, upload_key
from intentml.ml.train import TrainingSpec

NUMERIC, CATEGORICAL = 16, 3


def make_csv(rows: int, seed: int = 0) -> bytes:
    """`rows` rows: 16 numeric, 3 categorical columns, a binary target with a signal."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(NUMERIC)})
    for j in range(CATEGORICAL):
        df[f"c{j}"] = rng.choice(["a", "b", "c", "d"], size=rows)
    logit = df["x0"] * 1.5 - df["x1"] + (df["c0"] == "a") * 1.0 + rng.normal(scale=0.5, size=rows)
    df["churned"] = (logit > 0).astype(int)
    return df.to_csv(index=False).encode()


async def _timed(executor: BuildExecutor, dataset: str, cells: int, runs: int) -> list[float]:
    """Seconds of each of `runs` builds after one warm-up build."""
    seconds: list[float] = []
    for i in range(runs + 1):
        job = BuildJob(
            job_id=f"job_{i}",
            dataset=dataset,
            fmt="csv",
            artifact_dir=artifact_ref("bench", f"model_{i}", 1),
            spec=TrainingSpec(target="churned"),
            cells=cells,
        )
        started = time.perf_counter()
        outcome = await executor.run(job, lambda percent, line: None)
        if not isinstance(outcome, Trained):
            raise RuntimeError(f"the build did not train: {outcome}")
        if i:
            seconds.append(time.perf_counter() - started)
    print(f"  {executor.__class__.__name__}: {', '.join(f'{s:.2f}' for s in seconds)} s")
    return seconds


async def compare(rows: int = 20_000, runs: int = 3) -> dict[str, list[float]]:
    """Seconds per build: `local` (one process on this machine), `dask` (the same build
    as a task on a two-worker LocalCluster) and `lightgbm.dask` (trained across both)."""
    data_dir = Path(tempfile.mkdtemp(prefix="intentml-dask-bench-"))
    dataset = upload_key("bench", "u_bench", "csv")
    (data_dir / dataset).parent.mkdir(parents=True)
    (data_dir / dataset).write_bytes(make_csv(rows))
    cells = rows * (NUMERIC + CATEGORICAL + 1)
    local = StoredBuilds(
        LocalExecutor(capacity=1, threads=1, memory_limit_mb=None, timeout_s=None),
        LocalBlobs(data_dir),
    )
    figures = {"local": await _timed(local, dataset, cells, runs)}
    await local.close()
    cluster = await asyncio.to_thread(
        LocalCluster, n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        for name, threshold in (("dask", 0), ("lightgbm.dask", 1)):
            executor = await asyncio.to_thread(
                DaskExecutor,
                cluster.scheduler_address,
                data_dir=data_dir,
                threads=1,
                distributed_cells=threshold,
            )
            figures[name] = await _timed(executor, dataset, cells, runs)
            await executor.close()
    finally:
        await asyncio.to_thread(cluster.close)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(compare(args.rows, args.runs))
    print()
    local = statistics.median(figures["local"])
    print(f"{args.rows:,} rows × {NUMERIC + CATEGORICAL + 1} columns, median of {args.runs}")  # noqa: RUF001
    for name, seconds in figures.items():
        median = statistics.median(seconds)
        print(f"{name:>14}: {median:6.2f} s  ({median / local:.2f}× local)")  # noqa: RUF001


if __name__ == "__main__":
    main()
