"""Resolving a create, retrain or new-version command into a `TrainingRequest`.

The checks a user can act on at once happen here, before anything is appended:
the dataset exists, the intent says something, the target column resolves.
"""

from __future__ import annotations

from typing import Any

import msgspec

from intentml.api.errors import ApiError
from intentml.api.platform import Platform
from intentml.domain.interpretation import Interpretation
from intentml.domain.schemas import field_names
from intentml.domain.training_options import TrainingOptions
from intentml.events.envelope import new_id
from intentml.events.types import Column, TrainingRequest
from intentml.ml.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, canonical_metric
from intentml.ml.outputs import possible_tasks, unfillable_everywhere
from intentml.ml.target import ColumnFacts, TargetChoice, TargetResolutionError, resolve_target
from intentml.ml.target.interpreter import InterpretedRefusal, combine
from intentml.ml.train import TrainingFailed, check_task
from projections.read_models.uploads import UploadRecord, account_upload

TASKS = ["binary", "multiclass", "regression"]


class TrainingAsk(msgspec.Struct, frozen=True, kw_only=True):
    """What the user asked a build for, before it is resolved (None: not given)."""

    version: int
    upload_id: str | None
    intent: str
    target: str | None = None
    output_schema: dict[str, Any] | None = None
    #: Passed on whole into the request; only checked here.
    options: TrainingOptions = msgspec.field(default_factory=TrainingOptions)
    #: A target to keep when the user names none and the dataset still has it.
    previous_target: str | None = None
    previous_version: int | None = None


async def resolve_training(
    platform: Platform, account_id: str, ask: TrainingAsk
) -> TrainingRequest:
    """Check the command against the read model and resolve its target; 4xx if it can't run."""
    upload = await checked_upload(platform, account_id, ask)
    try:
        choice, said = await choose_target(platform, ask, upload)
    except TargetResolutionError as exc:
        raise target_refusal(exc, upload) from exc
    refused = unfillable_outputs(ask, upload.columns, choice.column)
    if refused:
        raise ApiError(
            422,
            f"{len(refused)} output field(s) cannot be filled by a model predicting "
            f"'{choice.column}'; see details, or leave `output_schema` out for the default fields",
            refused,
        )
    return TrainingRequest(
        job_id="job_" + new_id(),
        version=ask.version,
        version_id="ver_" + new_id(),
        upload_id=upload.upload_id,
        dataset_format=upload.format,
        intent=ask.intent,
        target=choice.column,
        target_reason=choice.reason,
        output_fields=field_names(ask.output_schema),
        options=ask.options,
        interpretation=said,
    )


async def checked_upload(platform: Platform, account_id: str, ask: TrainingAsk) -> UploadRecord:
    """The upload to train on, once the request's own fields are valid; 4xx otherwise."""
    if not ask.intent.strip():
        raise ApiError(
            422,
            "'intent' must say what to predict, e.g. 'Predict churn'",
            [{"field": "intent", "message": "must not be empty"}],
        )
    if not ask.upload_id:
        raise ApiError(
            422,
            "give the training data as 'upload_id' or 'dataset_id'",
            [{"field": "dataset_id", "message": "required"}],
        )
    metric = ask.options.metric
    if metric is not None and metric.strip() and canonical_metric(metric) is None:
        known = [*CLASSIFICATION_METRICS, *REGRESSION_METRICS]
        raise ApiError(
            422,
            f"unknown metric '{metric}'; use one of {', '.join(known)}, "
            "or leave it out for the task's default",
            [{"field": "metric", "message": "unknown metric", "expected": known}],
        )
    try:
        check_task(ask.options.task)
    except TrainingFailed as exc:
        raise ApiError(
            422,
            exc.message,
            [{"field": "task", "message": "unknown task", "expected": TASKS}],
        ) from exc
    upload = await account_upload(platform.pool, account_id, ask.upload_id)
    if upload is None:
        raise ApiError(404, f"upload '{ask.upload_id}' not found; upload a file with POST /uploads")
    return upload


async def choose_target(
    platform: Platform, ask: TrainingAsk, upload: UploadRecord
) -> tuple[TargetChoice, Interpretation | None]:
    """The column to predict and why, with what an LLM interpreter said of it (None when
    none was asked); raises `TargetResolutionError` with the ranked candidates.

    The interpreter (when configured) is asked only when the request names no target,
    neither by `target` nor by an output field; `combine` weighs its answer."""
    columns = [c.name for c in upload.columns]
    if ask.target is None and ask.previous_target in columns:
        reason = f"the target of v{ask.previous_version}, still a column of the dataset"
        return TargetChoice(column=ask.previous_target, reason=reason), None
    facts = [ColumnFacts(c.name, c.type, c.profile) for c in upload.columns]
    interpreter = platform.interpreter
    named = ask.target is not None and bool(ask.target.strip())
    if interpreter is None or named:
        return resolve_target(facts, ask.intent, ask.target, ask.output_schema), None
    deterministic: TargetChoice | TargetResolutionError
    try:
        deterministic = resolve_target(facts, ask.intent, None, ask.output_schema)
    except TargetResolutionError as exc:
        deterministic = exc
    if isinstance(deterministic, TargetChoice) and deterministic.output_field is not None:
        return deterministic, None  # the output schema named it: the user's own word
    said = await interpreter.interpret(ask.intent, upload.columns)
    return combine(deterministic, said, facts), said


def target_refusal(exc: TargetResolutionError, upload: UploadRecord) -> ApiError:
    """The 422 for a target that cannot be told: the ranked candidates and the columns,
    and what the LLM interpreter said when it was asked."""
    ranked = [msgspec.to_builtins(c) for c in exc.ranked]
    columns = [c.name for c in upload.columns]
    details: dict[str, Any] = {"candidates": ranked, "columns": columns}
    if isinstance(exc, InterpretedRefusal):
        details["interpretation"] = msgspec.to_builtins(exc.interpretation)
    return ApiError(422, str(exc), details)


def unfillable_outputs(
    ask: TrainingAsk, columns: list[Column], target: str
) -> list[dict[str, str]]:
    """The output fields no model of this target could fill, as error details (rules:
    `ml.outputs`); empty when every field can be filled."""
    fields = field_names(ask.output_schema)
    if not fields:
        return []
    column_type = next(c.type for c in columns if c.name == target)
    asked = ask.options.metric
    metric = canonical_metric(asked) if asked and asked.strip() else None
    tasks = possible_tasks(
        column_type,
        check_task(ask.options.task),
        None if metric is None else metric in REGRESSION_METRICS,
    )
    refused = unfillable_everywhere(fields, target, tasks, [c.name for c in columns])
    return [{"field": f"output_schema.{r.field}", "message": r.reason} for r in refused]
