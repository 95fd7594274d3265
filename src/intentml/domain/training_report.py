"""What a training run found and decided, as it travels in `VersionTrained` and `describe`.

Plain data: the trainer fills it, the log keeps it, the projection serves it. Every
decision carries its reason, so a user (or an auditor replaying the log) can see why
the platform trained what it trained.
"""

from __future__ import annotations

from typing import Any

import msgspec

from intentml.domain.training_options import TrainingOptions


class Choice(msgspec.Struct, frozen=True):
    """One choice the platform made (target, task, metric) and why."""

    value: str
    reason: str


class ClassScores(msgspec.Struct, frozen=True):
    """Test-set scores of one class."""

    precision: float
    recall: float
    f1: float
    support: int


class TestEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """Scores on the held-out test rows, which the search never saw."""

    rows: int
    metrics: dict[str, float]
    #: Class labels in the order of the confusion matrix's rows and columns.
    labels: list[str] = msgspec.field(default_factory=list)
    #: confusion_matrix[actual][predicted] = rows; empty for regression.
    confusion_matrix: list[list[int]] = msgspec.field(default_factory=list)
    per_class: dict[str, ClassScores] = msgspec.field(default_factory=dict)


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One configuration the search tried and how it scored."""

    iteration: int
    params: dict[str, Any]
    score: float
    rounds: int
    seconds: float
    #: Cross-validation folds `score` and `rounds` come from (0: not recorded, in a build
    #: from before the search screened candidates on fewer folds, or not cross-validated,
    #: in a distributed build scored on its test rows).
    folds: int = 0
    #: A finalist's score on the screening fold(s), before it was scored on all folds.
    screen_score: float | None = None


class SearchSummary(msgspec.Struct, frozen=True, kw_only=True):
    """How the configuration was chosen: strategy, evaluation, every candidate."""

    strategy: str
    evaluation: str
    selection_metric: str
    higher_is_better: bool
    #: Candidates in the order they were tried; `best` indexes into this list.
    candidates: list[Candidate]
    best: int
    #: Why the search ended before `max_iterations` (time budget), or "".
    stopped: str = ""


class DataSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The rows and columns training used and what it set aside, with reasons."""

    rows_total: int
    rows_used: int
    rows_missing_target: int
    columns_total: int
    inputs: list[str]
    dropped_columns: dict[str, str]
    selection_rows: int
    test_rows: int


class Baseline(msgspec.Struct, frozen=True, kw_only=True):
    """The trivial model a trained one is measured against, on the same test rows."""

    #: What the baseline predicts: the training rows' majority class, or their mean.
    strategy: str
    #: The metric compared (the version's reported metric) and both scores on the test rows.
    metric: str
    #: None when the metric is undefined for the baseline on these rows.
    value: float | None
    model_value: float
    #: (model - baseline) / (perfect - baseline): the share of the gap to a perfect score
    #: the model closes; None when the baseline is already perfect on these rows.
    skill: float | None
    #: Share of bootstrap resamples of the test rows where the model did not beat the
    #: baseline: how likely the gain is chance.
    chance_not_better: float
    #: Whether the model counts as clearly better (see `intentml.ml.evaluation`).
    clearly_better: bool
    #: Every metric of the task for the baseline, as `TestEvaluation.metrics` has them.
    metrics: dict[str, float] = msgspec.field(default_factory=dict)


class TrainingReport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `describe` shows about how a version was built."""

    target: Choice
    task: Choice
    metric: Choice
    data: DataSummary
    search: SearchSummary
    test: TestEvaluation
    #: Things a user should look at (a feature that alone predicts the target, ...).
    warnings: list[str] = msgspec.field(default_factory=list)
    #: The trivial baseline on the test rows (None in reports from before it existed).
    baseline: Baseline | None = None
    #: The options the build ran with. UNSET in reports from before they were recorded,
    #: and then left out when encoded, so their stored JSON (and a replayed read model)
    #: stays byte for byte what it was.
    options: TrainingOptions | msgspec.UnsetType = msgspec.UNSET


class TrainingResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a successful build (its artifact is already written): what
    `VersionTrained` carries, whole."""

    task: str
    metric_name: str
    metric_value: float
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    #: Share of the total split gain per input column (sums to 1 unless no splits).
    feature_importance: dict[str, float] = msgspec.field(default_factory=dict)
    features: list[str] = msgspec.field(default_factory=list)
    dropped_columns: dict[str, str] = msgspec.field(default_factory=dict)
    rows_used: int = 0
    training_seconds: float = 0.0
    #: Boosting rounds of the served model (0 in events from before it was recorded).
    best_iteration: int = 0
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    output_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    #: How the build chose and judged the model (absent in events from before the search).
    report: TrainingReport | None = None
