"""`/models` and `/models/{model_name}`: list, create, read, update and delete models."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from intentml.api.errors import ApiError
from intentml.api.lookups import (
    RESERVED_NAMES,
    Req,
    base_url,
    check_name,
    check_verdict,
    command_response,
    find_model,
    model_not_found,
    reserved_name,
)
from intentml.api.pagination import page_params, pagination
from intentml.api.plans import plan_model
from intentml.api.platform import Platform, PlatformDep, refuse_if_rejected
from intentml.api.schemas import (
    CreateModelIn,
    CreateModelOut,
    ModelDeletedOut,
    ModelDetail,
    ModelList,
    ModelSummary,
    ModelUpdatedOut,
    PlanOut,
    UpdateModelIn,
    metrics_out,
)
from intentml.api.training import TrainingAsk, resolve_training
from intentml.domain.fold import name_in_use
from intentml.domain.names import version_label
from intentml.domain.schemas import simple_schema
from intentml.domain.statuses import VersionStatus
from intentml.domain.training_options import options_of
from intentml.events.envelope import make_event, new_id, utcnow
from intentml.events.types import ModelCreated, ModelDeleted, ModelUpdated
from projections.read_models.models import (
    ModelDetailRecord,
    ModelListingRecord,
    ModelRecord,
    model_by_name,
    model_detail,
    models_page,
)

#: The statuses `GET /models?status=` accepts (DRAFT exists in the Plexe API; nothing
#: here is ever a draft, so it filters to nothing).
LIST_STATUSES = ("DRAFT", *VersionStatus)
SORT_FIELDS = ("created_at", "name")
SORT_DIRS = ("asc", "desc")
MAX_PAGE = 100


#: The largest OFFSET PostgreSQL takes (a bigint); a larger one would fail in the query.
def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ApiError(
            400, f"'{name}' must be one of: {', '.join(allowed)}", {name: value, "allowed": allowed}
        )


def _summary(r: ModelListingRecord) -> ModelSummary:
    return ModelSummary(
        model_id=r.model_id,
        model_name=r.model_name,
        model_version=version_label(r.version),
        name=r.name,
        intent=r.intent,
        status=r.status,
        deployment_status=r.deployment_status,
        provider="auto",
        metric_name=r.metric_name,
        metric_value=r.metric_value,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _detail(r: ModelDetailRecord, base: str) -> ModelDetail:
    ready = r.ready_version
    endpoint = None
    if ready is not None:
        endpoint = f"{base}/models/{r.model_name}/{version_label(ready)}/infer"
    trained = r.trained_version is not None
    return ModelDetail(
        model_id=r.model_id,
        model_name=r.model_name,
        model_version=version_label(r.version),
        name=r.name,
        intent=r.intent,
        description=r.description,
        status=r.status,
        deployment_status=r.deployment_status,
        endpoint=endpoint,
        provider="auto",
        metric_name=r.metric_name,
        metric_value=r.metric_value,
        metrics=metrics_out(r.metrics),
        dataset_id=r.dataset_id,
        upload_id=r.dataset_id,
        target=r.target,
        task=r.task if trained else r.version_task,
        input_schema=simple_schema(r.trained_input_schema) if trained else r.input_schema,
        output_schema=simple_schema(r.trained_output_schema) if trained else r.output_schema,
        build_progress=r.build_progress,
        ready_version=version_label(ready) if ready is not None else None,
        created_at=r.created_at,
        updated_at=r.updated_at,
        created_by=r.created_by,
        tags=r.tags,
    )


def _ask(data: CreateModelIn) -> TrainingAsk:
    """What a create (or plan) body asks of v1's build."""
    return TrainingAsk(
        version=1,
        upload_id=data.upload_id or data.dataset_id,
        intent=data.intent,
        target=data.target,
        output_schema=data.output_schema,
        options=options_of(data),
    )


class ModelController(Controller):
    path = "/models"
    tags = ["models"]

    @get("/", summary="The account's models, paginated")
    async def list_models(
        self,
        request: Req,
        platform: PlatformDep,
        limit: FromQuery[int] = 20,
        offset: FromQuery[int] = 0,
        status: FromQuery[str | None] = None,
        sort_by: FromQuery[str] = "created_at",
        sort_dir: FromQuery[str] = "desc",
    ) -> ModelList:
        """Live models with their newest version's status; filter by status, sort by
        `created_at` or `name`."""
        page_params(limit, offset, MAX_PAGE)
        if status is not None:
            status = status.upper()
            _one_of("status", status, LIST_STATUSES)
        sort_by, sort_dir = sort_by.lower(), sort_dir.lower()
        _one_of("sort_by", sort_by, SORT_FIELDS)
        _one_of("sort_dir", sort_dir, SORT_DIRS)
        models, total = await models_page(
            platform.pool, request.user.account_id, status, (sort_by, sort_dir), limit, offset
        )
        return ModelList(
            [_summary(m) for m in models], pagination(total, limit, offset, len(models))
        )

    @get("/{model_name:str}", summary="One model: newest version, metrics, schemas")
    async def get_model(
        self, request: Req, platform: PlatformDep, model_name: FromPath[str]
    ) -> ModelDetail:
        """The full model record (document 001's fields and more)."""
        check_name(model_name)
        model = await model_detail(platform.pool, request.user.account_id, model_name)
        if model is None:
            raise model_not_found(model_name)
        return _detail(model, base_url(request))

    @post(
        "/{model_name:str}/plan",
        status_code=200,
        summary="Dry run: what creating this model would do, with nothing created",
    )
    async def plan(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[CreateModelIn],
    ) -> PlanOut:
        """The create body's target, task, metric, inputs, dropped columns and outputs, with
        reasons and the alternatives weighed; nothing is appended. What create would refuse
        is listed in `problems` (a 4xx only when there is nothing to plan)."""
        principal = request.user
        check_name(model_name)
        problems: list[dict[str, Any]] = []
        if model_name in RESERVED_NAMES:
            problems.append({"field": "model_name", "message": reserved_name(model_name).message})
        state = await platform.stream_state(principal.account_id, model_name)
        taken = name_in_use(state, model_name)
        if taken is not None and not taken.accepted:
            problems.append({"field": "model_name", "message": taken.reason or "in use"})
        return await plan_model(platform, principal.account_id, model_name, _ask(data), problems)

    @post("/{model_name:str}", status_code=202, summary="Create a model and train v1")
    async def create(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[CreateModelIn],
    ) -> Response[CreateModelOut]:
        """Validate the request, submit `ModelCreated` (the fold's pre-check refuses a name in
        use: 409), and wait for the verdict."""
        principal = request.user
        check_name(model_name)
        if model_name in RESERVED_NAMES:
            raise reserved_name(model_name)
        # The fold's rule, before the training request is resolved: a name in use is a 409
        # before any question about the request (`submit` pre-checks the event again).
        state = await platform.stream_state(principal.account_id, model_name)
        refuse_if_rejected(name_in_use(state, model_name))
        training = await resolve_training(platform, principal.account_id, _ask(data))
        model_id = "model_" + new_id()
        event = make_event(
            ModelCreated(
                model_id=model_id,
                name=data.name or model_name,
                intent=data.intent,
                description=data.description or "",
                tags=data.tags or [],
                input_schema=data.input_schema,
                output_schema=data.output_schema,
                training=training,
            ),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "another request created it at the same time")
        body = CreateModelOut(
            job_id=training.job_id,
            status=VersionStatus.PENDING,
            model_id=model_id,
            model_name=model_name,
            model_version=version_label(1),
            name=data.name or model_name,
            intent=data.intent,
            provider="auto",
            upload_id=training.upload_id,
            dataset_id=training.upload_id,
            target=training.target,
            target_reason=training.target_reason,
            created_at=event.occurred_at,
        )
        return command_response(body, outcome, f"/models/{model_name}/{version_label(1)}/status")

    @patch("/{model_name:str}", summary="Rename, describe or tag a model")
    async def update(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[UpdateModelIn],
    ) -> Response[ModelUpdatedOut]:
        """Change the display name, description or tags (fields left out stay)."""
        principal = request.user
        model = await find_model(platform, principal.account_id, model_name)
        outcome = await platform.submit(
            make_event(
                ModelUpdated(
                    model_id=model.model_id,
                    name=data.name,
                    description=data.description,
                    tags=data.tags,
                ),
                account_id=principal.account_id,
                model_name=model_name,
                actor=principal.key_id,
            )
        )
        check_verdict(outcome, "it was deleted meanwhile")
        row = await _current(platform, principal.account_id, model_name, model)
        body = ModelUpdatedOut(
            model_name=model_name,
            model_version=version_label(row.latest_version),
            name=_after(outcome.applied, data.name, row.name),
            description=_after(outcome.applied, data.description, row.description),
            tags=_after(outcome.applied, data.tags, row.tags),
            updated_at=row.updated_at if outcome.applied else utcnow(),
        )
        return command_response(body, outcome, f"/models/{model_name}", done_status=200)

    @delete("/{model_name:str}", status_code=200, summary="Delete a model and its deployments")
    async def delete_model(
        self, request: Req, platform: PlatformDep, model_name: FromPath[str]
    ) -> Response[ModelDeletedOut]:
        """Inference stops at once; the history stays in the log; the name is free again."""
        principal = request.user
        model = await find_model(platform, principal.account_id, model_name)
        event = make_event(
            ModelDeleted(model_id=model.model_id),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "it was already deleted")
        body = ModelDeletedOut(
            model_name=model_name,
            model_version=version_label(model.latest_version),
            status="DELETED" if outcome.applied else "DELETING",
            deleted_at=event.occurred_at,
        )
        return command_response(body, outcome, f"/models/{model_name}", done_status=200)


def _after(applied: bool, given: Any, stored: Any) -> Any:
    """A field as the update leaves it: the read model's once applied, else the value given
    (an empty description or tag list is a value too), else the stored one."""
    return stored if applied or given is None else given


async def _current(
    platform: Platform, account_id: str, model_name: str, fallback: ModelRecord
) -> ModelRecord:
    model = await model_by_name(platform.pool, account_id, model_name)
    return model if model is not None else fallback
