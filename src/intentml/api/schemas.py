"""Request and response bodies of the REST API (msgspec Structs, so OpenAPI is generated)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from intentml.domain.interpretation import Interpretation
from intentml.domain.profiles import ColumnProfile
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import Baseline, Choice, ClassScores, DataSummary

#: Free text a user names things with: display names, goals, descriptions.
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=5000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Environment = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class ColumnOut(msgspec.Struct, frozen=True):
    name: str
    type: str
    #: What the upload's inspection learned of the column (null for uploads made
    #: before profiles existed).
    profile: ColumnProfile | None = None


class UploadOut(msgspec.Struct, frozen=True):
    upload_id: str
    dataset_id: str
    filename: str
    format: str
    rows: int
    columns: list[ColumnOut]
    size_bytes: int
    status: str
    created_at: datetime


# The bodies that request a build extend `TrainingOptions`: its fields (metric, task,
# max_iterations, time_budget_s, seed, ...) are fields of the body, checked by its
# constraints, and `options_of(body)` is what the event carries.


class CreateModelIn(TrainingOptions, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}`: give `upload_id` or `dataset_id`."""

    intent: LongText
    upload_id: str | None = None
    dataset_id: str | None = None
    name: ShortText | None = None
    description: LongText | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    tags: Tags | None = None
    target: str | None = None


class PlannedTarget(msgspec.Struct, frozen=True):
    """The column create would predict, and why."""

    column: str
    reason: str
    #: The output field that named it, when the output schema did.
    output_field: str | None = None


class PlannedCandidate(msgspec.Struct, frozen=True):
    """A column weighed as the target: its score and the evidence, strongest first."""

    column: str
    score: float
    evidence: list[str]


class PlannedChoice(msgspec.Struct, frozen=True):
    """A task or metric create would use, and why (decided again from the whole data at
    build time: the plan reads the upload's column profiles)."""

    name: str
    reason: str


class PlannedInput(msgspec.Struct, frozen=True):
    column: str
    type: str


class PlannedDrop(msgspec.Struct, frozen=True):
    column: str
    reason: str


class PlannedOutput(msgspec.Struct, frozen=True):
    field: str
    #: What it holds: label, value, probability, probabilities, confidence, risk.
    kind: str


class PlanOut(msgspec.Struct, frozen=True):
    """`POST /models/{model_name}/plan`: what the same body would do at create, with
    nothing appended."""

    model_name: str
    dataset_id: str
    #: Create would be accepted (202); else `problems` says why, as create's 4xx would.
    would_create: bool
    problems: list[dict[str, Any]]
    target: PlannedTarget | None
    #: Every column weighed as the target, best first (at most five).
    alternatives: list[PlannedCandidate]
    task: PlannedChoice | None
    metric: PlannedChoice | None
    inputs: list[PlannedInput]
    dropped: list[PlannedDrop]
    outputs: list[PlannedOutput]
    #: What a build may still find that the profiles cannot show.
    notes: list[str]
    #: What the LLM interpreter answered (None: none is configured or asked).
    interpretation: Interpretation | None = None


class UpdateModelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `PATCH /models/{model_name}`: fields left out stay as they are."""

    name: ShortText | None = None
    description: LongText | None = None
    tags: Tags | None = None


class RetrainIn(TrainingOptions, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}/retrain`; dataset, goal and metric default to
    the latest version's."""

    upload_id: str | None = None
    dataset_id: str | None = None
    goal: LongText | None = None
    target: str | None = None


class CreateVersionIn(TrainingOptions, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}/versions`: a new version on another dataset."""

    dataset_id: str | None = None
    upload_id: str | None = None
    intent: LongText | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    target: str | None = None


class DeployIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}/deploy`."""

    environment: Environment = "production"
    replicas: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    auto_scale: bool = True
    #: Defaults to the newest READY version.
    model_version: str | None = None


class CancelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}/{model_version}/cancel` (optional)."""

    #: Why, kept in the log and shown in the cancelled version's `error.message`.
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CreateModelOut(msgspec.Struct, frozen=True):
    job_id: str
    status: str
    model_id: str
    model_name: str
    model_version: str
    name: str
    intent: str
    provider: str
    upload_id: str
    dataset_id: str
    target: str
    target_reason: str
    created_at: datetime


class MetricResult(msgspec.Struct, frozen=True):
    metric_name: str
    metric_value: float


class ErrorInfo(msgspec.Struct, frozen=True):
    code: str
    message: str


class StatusOut(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    status: str
    deployment_status: str | None
    last_updated: datetime
    build_progress: int
    result: MetricResult | None
    error: ErrorInfo | None
    #: Which start of the build this is: 0 while PENDING, 1, then 2+ after a lost worker.
    attempt: int = 0
    #: While PENDING: the build's place in its trainer's queue (1 starts next) and why
    #: it waits; None when it is not queued yet (the trainer has not heard of it). Once
    #: a cancel was requested (until CANCELLED): no position, and the reason says so.
    queue_position: int | None = None
    status_reason: str | None = None


class InferOut(msgspec.Struct, frozen=True):
    request_id: str
    result: dict[str, Any]
    model_name: str
    model_version: str
    created_at: datetime
    warnings: list[str] = msgspec.field(default_factory=list)
    deployment_id: str | None = None


class VersionRequestedOut(msgspec.Struct, frozen=True):
    """A retrain or new version was requested: `new_version` (retrain's name for it) and
    `model_version` (the versions endpoint's) are the same label."""

    job_id: str
    status: str
    model_name: str
    model_version: str
    new_version: str
    version_id: str
    version: int
    target: str
    target_reason: str
    created_at: datetime


class ModelSummary(msgspec.Struct, frozen=True):
    model_id: str
    model_name: str
    model_version: str
    name: str
    intent: str
    status: str
    deployment_status: str | None
    provider: str
    metric_name: str | None
    metric_value: float | None
    created_at: datetime
    updated_at: datetime


class Pagination(msgspec.Struct, frozen=True):
    total: int
    limit: int
    offset: int
    has_more: bool


class ModelList(msgspec.Struct, frozen=True):
    models: list[ModelSummary]
    pagination: Pagination


class ModelDetail(msgspec.Struct, frozen=True):
    """`GET /models/{model_name}`: the model, its newest version and its serving figures."""

    model_id: str
    model_name: str
    model_version: str
    name: str
    intent: str
    description: str
    status: str
    deployment_status: str | None
    endpoint: str | None
    provider: str
    metric_name: str | None
    metric_value: float | None
    metrics: dict[str, float]
    dataset_id: str
    upload_id: str
    target: str
    task: str | None
    input_schema: dict[str, str] | None
    output_schema: dict[str, str] | None
    build_progress: int
    ready_version: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    tags: list[str]


class ModelUpdatedOut(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    name: str
    description: str
    tags: list[str]
    updated_at: datetime


class ModelDeletedOut(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    status: str
    deleted_at: datetime


class VersionDetail(msgspec.Struct, frozen=True):
    """`GET /models/{model_name}/{model_version}`; schemas are JSON Schema."""

    model_id: str
    model_name: str
    model_version: str
    version_id: str
    version: int
    name: str
    intent: str
    status: str
    deployment_status: str | None
    provider: str
    job_id: str
    dataset_id: str
    upload_id: str
    target: str
    target_reason: str
    task: str | None
    metric_name: str | None
    metric_value: float | None
    metrics: dict[str, float]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    build_progress: int
    error: ErrorInfo | None
    created_at: datetime
    updated_at: datetime


class VersionSummary(msgspec.Struct, frozen=True):
    version_id: str
    version: int
    model_version: str
    status: str
    job_id: str
    dataset_id: str
    intent: str
    metric_name: str | None
    metric_value: float | None
    metrics: dict[str, float]
    created_at: datetime
    updated_at: datetime


class VersionList(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    versions: list[VersionSummary]


class TrainingInfo(msgspec.Struct, frozen=True):
    dataset_size: int | None
    training_time_minutes: float | None
    training_time_seconds: float | None
    algorithm: str
    #: Each input's share of the model's total split gain (sums to 1).
    feature_importance: dict[str, float]
    dropped_columns: dict[str, str]
    feature_importance_type: str = "gain, normalized to sum to 1"


class Choices(msgspec.Struct, frozen=True):
    """What the platform decided for this version, each with its reason."""

    target: Choice
    task: Choice
    metric: Choice


class ConfusionMatrixOut(msgspec.Struct, frozen=True):
    """Test rows by actual class (rows of `matrix`) and predicted class (columns)."""

    labels: list[str]
    matrix: list[list[int]]


class LeaderboardEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A configuration the search tried, best first: the finalists, cross-validated on
    all folds, then the candidates only screened (on fewer folds)."""

    rank: int
    iteration: int
    score: float
    rounds: int
    seconds: float
    #: Folds `score` comes from (0: a build from before the search screened candidates).
    folds: int
    selected: bool
    params: dict[str, Any]


class SearchOut(msgspec.Struct, frozen=True, kw_only=True):
    strategy: str
    evaluation: str
    selection_metric: str
    higher_is_better: bool
    candidates_tried: int
    stopped: str


class DescribeOut(msgspec.Struct, frozen=True):
    """Both documents' describe fields; schemas in the simple `{"field": "type"}` form."""

    model_name: str
    model_version: str
    description: str
    intent: str
    features: list[str]
    target: str
    target_reason: str
    task: str | None
    metric_name: str | None
    metric_value: float | None
    performance: dict[str, float]
    performance_metrics: dict[str, float]
    input_schema: dict[str, str]
    output_schema: dict[str, str]
    training_info: TrainingInfo
    #: The fields below come from the build's report (absent for older versions).
    choices: Choices | None = None
    test_rows: int | None = None
    confusion_matrix: ConfusionMatrixOut | None = None
    per_class_metrics: dict[str, ClassScores] | None = None
    search: SearchOut | None = None
    leaderboard: list[LeaderboardEntry] | None = None
    data_summary: DataSummary | None = None
    warnings: list[str] = msgspec.field(default_factory=list)
    #: The trivial model this one is measured against on the same test rows.
    baseline: Baseline | None = None


class DeploymentOut(msgspec.Struct, frozen=True):
    deployment_id: str
    model_name: str
    model_version: str
    version_id: str
    version: int
    status: str
    endpoint: str
    environment: str
    replicas: int
    auto_scale: bool
    created_at: datetime
    updated_at: datetime
    error: str | None = None


class DeploymentList(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    deployments: list[DeploymentOut]


class UndeployOut(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    deployment_id: str
    status: str
    undeployed_at: datetime


class BuildLogLine(msgspec.Struct, frozen=True):
    job_id: str
    model_name: str
    model_version: str
    timestamp: datetime
    level: str
    message: str


class BuildLogList(msgspec.Struct, frozen=True):
    logs: list[BuildLogLine]
    pagination: Pagination


class PredictionOut(msgspec.Struct, frozen=True):
    """One element of a batch answer, in the order of the request's rows."""

    prediction: dict[str, Any]


class ClassExplanationOut(msgspec.Struct, frozen=True):
    """One class's raw score split into contributions (multiclass explanations)."""

    base_value: float
    raw_score: float
    contributions: dict[str, float]


class ExplanationOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """`?explain=true`: why the model predicts what it does for this row.

    LightGBM's own feature contributions (TreeSHAP, `pred_contrib`): the model's raw
    score for the row is `base_value` (the same for every row) plus one contribution
    per input field (`contributions`; a date's derived parts are summed into its field);
    `raw_score` is that sum. `scale` says what the raw score is: `log_odds` (binary:
    of `positive_class`; probability = 1 / (1 + exp(-raw_score))), `value`
    (regression: the predicted value itself), `logit` (multiclass: `classes` holds one
    split per class label instead; the probabilities are the softmax of the raw scores).
    """

    scale: str
    positive_class: Any = None
    base_value: float | None = None
    raw_score: float | None = None
    contributions: dict[str, float] | None = None
    classes: dict[str, ClassExplanationOut] | None = None


class ExplainedPredictionOut(PredictionOut, frozen=True):
    """One element of a batch answer with `?explain=true`."""

    explanation: ExplanationOut


class ExplainedInferOut(InferOut, frozen=True, kw_only=True):
    """The answer of `/infer` and `/predict/{deployment_id}` with `?explain=true`."""

    explanation: ExplanationOut


class HaltOut(msgspec.Struct, frozen=True):
    """A partition the projector stopped at: an event there is newer than its code."""

    partition: int
    offset: int
    reason: str
    since: datetime


class HealthOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """Each part: `ok` or `down`; the projector may also be `halted` (see `halted`)."""

    status: str
    database: str
    kafka: str
    projector: str
    #: Partitions halted at an event newer than the projector's code: upgrade intentml.
    halted: list[HaltOut] = msgspec.field(default_factory=list)
    #: Records of the log that could not be decoded, kept in `quarantine`.
    quarantined: int = 0


#: Metric names the Plexe documents use for ours (`f1` is `f1_score` there).
METRIC_ALIASES = {"f1": "f1_score"}


def metrics_out(metrics: dict[str, float] | None) -> dict[str, float]:
    """A version's metrics as the API shows them: ours plus the documents' aliases."""
    out = dict(metrics or {})
    for ours, theirs in METRIC_ALIASES.items():
        if ours in out:
            out.setdefault(theirs, out[ours])
    return out
