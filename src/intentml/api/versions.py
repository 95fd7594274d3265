"""A model's versions: list, request (retrain or new dataset), details, status, describe."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.lookups import Req, check_verdict, command_response, find_model, find_version
from intentml.api.platform import Outcome, Platform, PlatformDep
from intentml.api.schemas import (
    CancelIn,
    Choices,
    ConfusionMatrixOut,
    CreateVersionIn,
    DescribeOut,
    ErrorInfo,
    LeaderboardEntry,
    MetricResult,
    RetrainIn,
    SearchOut,
    StatusOut,
    TrainingInfo,
    VersionDetail,
    VersionList,
    VersionRequestedOut,
    VersionSummary,
    metrics_out,
)
from intentml.api.training import TrainingAsk, resolve_training
from intentml.domain.names import version_label
from intentml.domain.schemas import simple_schema
from intentml.domain.statuses import FINAL_VERSION_STATUSES, VersionStatus
from intentml.domain.training_options import TrainingOptions, options_of
from intentml.domain.training_report import TrainingReport
from intentml.events.envelope import Envelope, make_event
from intentml.events.types import BuildCancelRequested, TrainingRequest, VersionRequested
from projections.read_models.versions import (
    VersionRecord,
    queue_place,
    version_by_number,
    versions_of_model,
)

ALGORITHM = "LightGBM gradient-boosted decision trees"


def status_out(row: VersionRecord) -> StatusOut:
    """The status document of a version row."""
    result = None
    if (
        row.status == VersionStatus.READY
        and row.metric_name is not None
        and row.metric_value is not None
    ):
        result = MetricResult(row.metric_name, row.metric_value)
    stopping = row.cancel_requested_at is not None and row.status not in FINAL_VERSION_STATUSES
    return StatusOut(
        model_name=row.model_name,
        model_version=version_label(row.version),
        status=row.status,
        deployment_status=row.deployment_status,
        last_updated=row.updated_at,
        build_progress=row.build_progress,
        result=result,
        error=_error(row),
        attempt=row.build_attempts,
        status_reason=(
            f"cancel requested by {row.cancel_requested_by}; the build is being stopped"
            if stopping
            else _search_cut_short(row)
        ),
    )


def _search_cut_short(row: VersionRecord) -> str | None:
    """For a READY version whose search a time budget ended early: that it serves the
    best candidate found by then (the build log and `describe` give the details)."""
    if row.status != VersionStatus.READY or not row.report:
        return None
    search = row.report.get("search")
    stopped = search.get("stopped") if isinstance(search, dict) else None
    if not stopped:
        return None
    return f"READY with the best candidate found before the search stopped: {stopped}"


def _error(row: VersionRecord) -> ErrorInfo | None:
    if row.error_code is None:
        return None
    return ErrorInfo(row.error_code, row.error_message or "")


def version_detail(row: VersionRecord) -> VersionDetail:
    """Document 000's version details, with JSON Schema input and output schemas."""
    return VersionDetail(
        model_id=row.model_id,
        model_name=row.model_name,
        model_version=version_label(row.version),
        version_id=row.version_id,
        version=row.version,
        name=row.name,
        intent=row.intent,
        status=row.status,
        deployment_status=row.deployment_status,
        provider="auto",
        job_id=row.job_id,
        dataset_id=row.upload_id,
        upload_id=row.upload_id,
        target=row.target,
        target_reason=row.target_reason,
        task=row.task,
        metric_name=row.metric_name,
        metric_value=row.metric_value,
        metrics=metrics_out(row.metrics),
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        build_progress=row.build_progress,
        error=_error(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _summary(row: VersionRecord) -> VersionSummary:
    return VersionSummary(
        version_id=row.version_id,
        version=row.version,
        model_version=version_label(row.version),
        status=row.status,
        job_id=row.job_id,
        dataset_id=row.upload_id,
        intent=row.intent,
        metric_name=row.metric_name,
        metric_value=row.metric_value,
        metrics=metrics_out(row.metrics),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def describe_text(row: VersionRecord) -> str:
    """The model's own description, or one written from what training found."""
    if row.description:
        return str(row.description)
    kind = {
        "binary": "binary classifier",
        "multiclass": "multiclass classifier",
        "regression": "regression model",
    }.get(row.task or "", "model")
    features = row.features or []
    text = (
        f"A LightGBM {kind} that predicts '{row.target}' from {len(features)} input "
        f"field(s), trained on {row.rows_used or 0:,} rows for the intent "
        f"{row.intent!r}."
    )
    if row.metric_name is not None:
        text += f" Its {row.metric_name} on held-out rows is {row.metric_value:.4f}."
    return text


def describe(row: VersionRecord) -> DescribeOut:
    """Both documents' describe fields for a trained version."""
    metrics = metrics_out(row.metrics)
    seconds = row.training_seconds
    out = DescribeOut(
        model_name=row.model_name,
        model_version=version_label(row.version),
        description=describe_text(row),
        intent=row.intent,
        features=row.features or [],
        target=row.target,
        target_reason=row.target_reason,
        task=row.task,
        metric_name=row.metric_name,
        metric_value=row.metric_value,
        performance=metrics,
        performance_metrics=metrics,
        input_schema=simple_schema(row.input_schema),
        output_schema=simple_schema(row.output_schema),
        training_info=TrainingInfo(
            dataset_size=row.rows_used,
            training_time_minutes=round(seconds / 60, 4) if seconds is not None else None,
            training_time_seconds=seconds,
            algorithm=ALGORITHM,
            feature_importance=row.feature_importance or {},
            dropped_columns=row.dropped_columns or {},
        ),
    )
    if row.report is None:
        return out
    report = msgspec.convert(row.report, TrainingReport)
    return msgspec.structs.replace(out, **report_fields(report))


def report_fields(report: TrainingReport) -> dict[str, Any]:
    """describe's fields from the build report: choices, test details, leaderboard."""
    search = report.search
    ordered = sorted(
        range(len(search.candidates)),
        key=lambda i: (-1 if search.higher_is_better else 1) * search.candidates[i].score,
    )
    test = report.test
    return {
        "choices": Choices(target=report.target, task=report.task, metric=report.metric),
        "test_rows": test.rows,
        "confusion_matrix": (
            ConfusionMatrixOut(labels=test.labels, matrix=test.confusion_matrix)
            if test.confusion_matrix
            else None
        ),
        "per_class_metrics": test.per_class or None,
        "search": SearchOut(
            strategy=search.strategy,
            evaluation=search.evaluation,
            selection_metric=search.selection_metric,
            higher_is_better=search.higher_is_better,
            candidates_tried=len(search.candidates),
            stopped=search.stopped,
        ),
        "leaderboard": [
            LeaderboardEntry(
                rank=rank,
                iteration=search.candidates[i].iteration,
                score=search.candidates[i].score,
                rounds=search.candidates[i].rounds,
                seconds=search.candidates[i].seconds,
                selected=i == search.best,
                params=search.candidates[i].params,
            )
            for rank, i in enumerate(ordered, start=1)
        ],
        "data_summary": report.data,
        "warnings": report.warnings,
        "baseline": report.baseline,
    }


class VersionAsk(msgspec.Struct, frozen=True, kw_only=True):
    """A retrain or new-version command; None means "as the latest version"."""

    reason: str
    upload_id: str | None = None
    intent: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    target: str | None = None
    #: The metric left None is the latest version's requested one.
    options: TrainingOptions = msgspec.field(default_factory=TrainingOptions)


async def request_version(
    platform: Platform, principal: Principal, model_name: str, ask: VersionAsk
) -> tuple[TrainingRequest, Envelope, Outcome]:
    """Resolve and append a `VersionRequested` for the model's next version.

    With neither a new intent nor an output schema the latest version's target is
    kept, as long as the dataset still has that column.
    """
    model = await find_model(platform, principal.account_id, model_name)
    latest = await version_by_number(
        platform.pool, principal.account_id, model_name, model.latest_version
    )
    assert latest is not None  # a live model always has its latest version
    keep_target = ask.intent is None and ask.output_schema is None
    options = ask.options
    if not options.metric:
        options = msgspec.structs.replace(options, metric=latest.requested_metric)
    training = await resolve_training(
        platform,
        principal.account_id,
        TrainingAsk(
            version=model.latest_version + 1,
            upload_id=ask.upload_id or latest.upload_id,
            intent=ask.intent or latest.intent,
            target=ask.target,
            output_schema=ask.output_schema or model.output_schema,
            options=options,
            previous_target=latest.target if keep_target else None,
            previous_version=latest.version,
        ),
    )
    event = make_event(
        VersionRequested(
            model_id=model.model_id,
            training=training,
            reason=ask.reason,
            # Recorded as given (None: the model's), for auditors and the next issue's search.
            input_schema=ask.input_schema,
            output_schema=ask.output_schema,
        ),
        account_id=principal.account_id,
        model_name=model_name,
        actor=principal.key_id,
    )
    outcome = await platform.submit(event)
    check_verdict(outcome, "another version was requested at the same time; retry")
    return training, event, outcome


def requested(
    model_name: str, training: TrainingRequest, event: Envelope, outcome: Outcome
) -> Response[VersionRequestedOut]:
    """202 for a requested version: both documents' fields (`model_version`, `new_version`)."""
    label = version_label(training.version)
    body = VersionRequestedOut(
        job_id=training.job_id,
        status=VersionStatus.PENDING,
        model_name=model_name,
        model_version=label,
        new_version=label,
        version_id=training.version_id,
        version=training.version,
        target=training.target,
        target_reason=training.target_reason,
        created_at=event.occurred_at,
    )
    return command_response(body, outcome, f"/models/{model_name}/{label}/status")


class VersionController(Controller):
    path = "/models/{model_name:str}"
    tags = ["versions"]

    @get("/versions", summary="A model's versions, newest first")
    async def list_versions(
        self, request: Req, platform: PlatformDep, model_name: FromPath[str]
    ) -> VersionList:
        """Every version with its status and metrics."""
        model = await find_model(platform, request.user.account_id, model_name)
        versions = await versions_of_model(platform.pool, request.user.account_id, model_name)
        return VersionList(
            model_name=model_name,
            model_version=version_label(model.latest_version),
            versions=[_summary(v) for v in versions],
        )

    @post("/versions", status_code=202, summary="Train a new version on a dataset")
    async def create_version(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[CreateVersionIn],
    ) -> Response[VersionRequestedOut]:
        """`dataset_id` is required; intent and schemas default to the model's."""
        dataset = data.dataset_id or data.upload_id
        if not dataset:
            raise ApiError(
                422,
                "'dataset_id' is required: the upload_id of the data to train on",
                [{"field": "dataset_id", "message": "required"}],
            )
        training, event, outcome = await request_version(
            platform,
            request.user,
            model_name,
            VersionAsk(
                reason="new_version",
                upload_id=dataset,
                intent=data.intent,
                input_schema=data.input_schema,
                output_schema=data.output_schema,
                target=data.target,
                options=options_of(data),
            ),
        )
        return requested(model_name, training, event, outcome)

    @post("/retrain", status_code=202, summary="Retrain: the next version, new data optional")
    async def retrain(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[RetrainIn | None] = None,
    ) -> Response[VersionRequestedOut]:
        """Dataset, goal and metric default to the latest version's (the body is optional)."""
        data = data or RetrainIn()
        training, event, outcome = await request_version(
            platform,
            request.user,
            model_name,
            VersionAsk(
                reason="retrain",
                upload_id=data.upload_id or data.dataset_id,
                intent=data.goal,
                target=data.target,
                options=options_of(data),
            ),
        )
        return requested(model_name, training, event, outcome)

    @get("/{model_version:str}", summary="One version: status, metrics, JSON schemas")
    async def get_version(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
    ) -> VersionDetail:
        """`model_version`: v3, v3.0, 3, latest or a version_id."""
        row = await find_version(platform, request.user.account_id, model_name, model_version)
        return version_detail(row)

    @get("/{model_version:str}/status", summary="A version's build status")
    async def status(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
    ) -> StatusOut:
        """PENDING → BUILDING → READY or ERROR (or CANCELLED), with progress, metric and
        error; while PENDING, its place in the build queue and why it waits."""
        row = await find_version(platform, request.user.account_id, model_name, model_version)
        status = status_out(row)
        if row.status != VersionStatus.PENDING or status.status_reason is not None:
            return status
        place = await queue_place(platform.pool, row.job_id)
        if place is None:
            return status
        return msgspec.structs.replace(
            status, queue_position=place.position, status_reason=place.reason
        )

    @post("/{model_version:str}/cancel", status_code=202, summary="Stop a version's build")
    async def cancel(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
        data: JSONBody[CancelIn | None] = None,
    ) -> Response[StatusOut]:
        """A PENDING or BUILDING version's build is stopped (dequeued, or its process
        killed) and the version becomes CANCELLED; 202 with its status as of the accepted
        request. A version already final, or trained, → 409 (the fold's pre-check)."""
        principal = request.user
        row = await find_version(platform, principal.account_id, model_name, model_version)
        event = make_event(
            BuildCancelRequested(
                model_id=row.model_id,
                job_id=row.job_id,
                version=row.version,
                reason=(data or CancelIn()).reason,
            ),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "see the version's status")
        label = version_label(row.version)
        if outcome.applied:
            row = await find_version(platform, principal.account_id, model_name, label)
        return command_response(status_out(row), outcome, f"/models/{model_name}/{label}/status")

    @get("/{model_version:str}/describe", summary="What a trained version is and how good")
    async def describe(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
    ) -> DescribeOut:
        """Features, target, metrics, schemas and training information."""
        row = await find_version(platform, request.user.account_id, model_name, model_version)
        if row.artifact is None:
            raise ApiError(
                409,
                f"{model_name} {version_label(row.version)} is {row.status} and has no "
                "trained model to describe"
                + (
                    "; see its error with GET .../status"
                    if row.status in (VersionStatus.ERROR, VersionStatus.CANCELLED)
                    else "; poll its status until READY"
                ),
            )
        return describe(row)
