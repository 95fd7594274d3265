"""Spotting likely leakage: one input that on its own almost perfectly predicts the target.

Such a column is usually recorded after the outcome (a cancellation date for churn,
the total for a price) and will not be known when the model is used. It is not
dropped, since it may be legitimate, but the user is warned in the build log and in
`describe` — unless it also looks like an identifier or a row number, which can only
predict the target by where the row sits (training drops those, see `train.prepare`).

Each input gets a tiny one-feature model, trained on part of a sample and
scored on the rest, so a column that only looks predictive by memorizing rows does
not trip the warning.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from intentml.ml import metrics as m
from intentml.ml.serving import FeatureSpec, expanded_columns

#: Rows sampled for the check; enough to be sure, small enough to stay cheap.
SAMPLE_ROWS = 5000
#: A held-out score at least this good from one input alone is "almost perfect".
NEAR_PERFECT = 0.99
_ROUNDS = 30


def leaky_inputs(
    matrix: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    inputs: list[FeatureSpec],
    categorical: list[int],
    task: str,
    n_classes: int,
    seed: int,
) -> dict[str, str]:
    """Each input whose one-feature model scores ≥ NEAR_PERFECT held out, with its warning."""
    rng = np.random.default_rng(seed + 2)
    sample = rng.permutation(rows)[:SAMPLE_ROWS]
    cut = (len(sample) * 2) // 3
    fit, held = sample[:cut], sample[cut:]
    if len(held) < 10 or len(fit) < 10:
        return {}
    if task != "regression" and _majority_share(y[held]) >= NEAR_PERFECT:
        return {}  # a constant guess is already "perfect"; the check would say nothing
    warnings: dict[str, str] = {}
    j = 0
    for spec in inputs:
        width = len(expanded_columns(spec))
        columns = list(range(j, j + width))
        j += width
        score = _one_input_score(
            matrix,
            y,
            fit,
            held,
            columns,
            [c for c in columns if c in categorical],
            task,
            n_classes,
        )
        if score is not None and score >= NEAR_PERFECT:
            what = {"binary": "ROC AUC", "multiclass": "accuracy", "regression": "R²"}[task]
            warnings[spec.name] = (
                f"possible leakage: '{spec.name}' alone predicts the target with {what} "
                f"{score:.3f} on held-out rows; if its value is only known after the "
                "outcome, remove it from the data, or the model will disappoint in use"
            )
    return warnings


def _one_input_score(
    matrix: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    fit: npt.NDArray[np.int64],
    held: npt.NDArray[np.int64],
    columns: list[int],
    categorical: list[int],
    task: str,
    n_classes: int,
) -> float | None:
    params = {
        "objective": task,
        "num_leaves": 15,
        "learning_rate": 0.2,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "verbose": -1,
        "num_threads": 1,
        "seed": 0,
        "deterministic": True,
        "force_row_wise": True,
    }
    if task == "multiclass":
        params["num_class"] = n_classes
    local_categorical = [columns.index(c) for c in categorical]
    dataset = lgb.Dataset(
        matrix[fit][:, columns],
        label=y[fit],
        categorical_feature=local_categorical,
        params={"verbose": -1},
    )
    try:
        booster = lgb.train(params, dataset, num_boost_round=_ROUNDS)
    except lgb.basic.LightGBMError:
        return None  # a column LightGBM cannot split on predicts nothing
    predicted = np.asarray(booster.predict(matrix[held][:, columns]))
    truth = y[held]
    if task == "binary":
        score = m.roc_auc(truth.astype(np.int64), predicted)
    elif task == "multiclass":
        score = m.accuracy(truth.astype(np.int64), np.argmax(predicted, axis=1))
    else:
        score = m.r2(truth, predicted)
    return None if np.isnan(score) else float(score)


def _majority_share(values: npt.NDArray[np.float64]) -> float:
    _, counts = np.unique(values, return_counts=True)
    return float(counts.max() / counts.sum())
