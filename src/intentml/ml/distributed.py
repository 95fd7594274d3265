"""Training across a Dask cluster with `lightgbm.dask`, for data over the Dask
executor's threshold (`INTENTML_DASK_DISTRIBUTED_CELLS`).

The same stages as `intentml.ml.train` with a different second and third: `prepare`
reads and encodes the data in the build's process (so the data must still fit there),
then the model is trained across the cluster's workers (the rows split among them,
LightGBM's own network between them) with one fixed configuration, the search's
default candidate, and no search: a search of ten candidates would cost ten
distributed trainings. The booster it gives back is an ordinary LightGBM booster, so
scoring on the test rows, the artifact and the report are `train`'s own.

What is left for later: reading and encoding the data on the workers (a Dask dataframe
per upload), so that data larger than one machine's memory can be trained.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import lightgbm as lgb
import numpy as np
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

from intentml.domain.training_report import Candidate, SearchSummary, TrainingResult
from intentml.ml.errors import TrainingFailed
from intentml.ml.search import SearchOutcome, selection_for
from intentml.ml.train import (
    Prepared,
    Selected,
    TrainingSpec,
    base_params,
    package,
    prepare,
    score_on_test,
)

#: Boosting rounds of the distributed model (no early stopping: `lightgbm.dask` has no
#: validation set per worker), at the default configuration's learning rate.
ROUNDS = 300
LEARNING_RATE = 0.05
STRATEGY = "distributed"

ReportProgress = Callable[[int, str], None]


def train_distributed(
    dataset_path: Path,
    fmt_name: str,
    spec: TrainingSpec,
    artifact_dir: Path,
    progress: ReportProgress,
    scheduler: str,
) -> TrainingResult:
    """Train `spec` on the dataset across the Dask cluster of `scheduler` and write the
    artifact, as `intentml.ml.train.train` does (see the module for what differs)."""
    started = time.perf_counter()
    prepared = prepare(dataset_path, fmt_name, spec, progress)
    target = prepared.target
    selection = selection_for(target.task, prepared.metric.name, counts=target.counts)
    params = _params(prepared, spec)
    rows = len(prepared.rest)
    with Client(scheduler, timeout="30s") as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        progress(
            30,
            "the upload is over INTENTML_DASK_DISTRIBUTED_CELLS: training "
            f"across {workers} Dask workers with lightgbm.dask, one configuration (the "
            f"search's default: learning rate {LEARNING_RATE}, {params['num_leaves']} leaves, "
            f"{ROUNDS} rounds), no search",
        )
        fit_started = time.perf_counter()
        booster = _fit(client, prepared, params, workers)
    seconds = time.perf_counter() - fit_started
    progress(85, f"trained across {workers} workers on {rows:,} rows in {seconds:.1f} s")
    how = f"{ROUNDS} rounds, trained across {workers} Dask workers"
    fitted = score_on_test(prepared, spec, booster, ROUNDS, how, progress)
    summary = SearchSummary(
        strategy=STRATEGY,
        evaluation=(
            f"no search: the data is over INTENTML_DASK_DISTRIBUTED_CELLS, so one "
            f"configuration was trained across {workers} Dask workers with lightgbm.dask; "
            "its score is the test score"
        ),
        selection_metric=fitted.metric_name,
        higher_is_better=selection.higher_is_better,
        candidates=[
            Candidate(
                iteration=1,
                params=params,
                score=fitted.metric_value,
                rounds=ROUNDS,
                seconds=round(seconds, 3),
            )
        ],
        best=0,
    )
    outcome = SearchOutcome(params=params, rounds=ROUNDS, fit_rows=rows, summary=summary)
    selected = Selected(selection=selection, outcome=outcome)
    return package(prepared, selected, fitted, spec, artifact_dir, progress, started=started)


def _params(p: Prepared, spec: TrainingSpec) -> dict[str, Any]:
    """The search's default candidate on top of the base parameters, less what
    `lightgbm.dask` sets itself (threads per worker, the number of classes)."""
    params = base_params(p.target, spec.options.seed, p.matrix.size)
    for own in ("num_threads", "num_class"):
        params.pop(own, None)
    n = len(p.rest)
    params.update(
        learning_rate=LEARNING_RATE,
        num_leaves=int(max(4, min(31, n // 8))),
        min_data_in_leaf=int(min(20, max(2, n // 50))),
        lambda_l2=1e-3,
    )
    if p.categorical:
        params["cat_smooth"] = 10.0
    return params


def _fit(client: Client, p: Prepared, params: dict[str, Any], workers: int) -> lgb.Booster:
    """A booster trained across the cluster on the selection rows."""
    x = p.matrix[p.rest]
    y = p.target.values[p.rest]
    chunk = max(1, math.ceil(len(y) / max(1, workers)))
    dx = client.persist(da.from_array(x, chunks=(chunk, x.shape[1])))
    dy = client.persist(da.from_array(y, chunks=(chunk,)))
    kwargs = {**params, "n_estimators": ROUNDS}
    model: DaskLGBMClassifier | DaskLGBMRegressor
    if p.target.task in ("binary", "multiclass"):
        kwargs["objective"] = p.target.task
        model = DaskLGBMClassifier(client=client, **kwargs)
        labels = np.unique(y)
        if not np.array_equal(labels, np.arange(len(labels))):
            raise TrainingFailed("training_error", "the encoded classes are not 0..k-1")
    else:
        model = DaskLGBMRegressor(client=client, **kwargs)
    try:
        model.fit(dx, dy, feature_name=p.feature_names, categorical_feature=p.categorical)
    except lgb.basic.LightGBMError as exc:
        raise TrainingFailed("training_error", f"LightGBM could not train: {exc}") from exc
    booster: lgb.Booster = model.booster_
    return booster
