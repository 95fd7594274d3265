"""A model's deployments: deploy a READY version, list the live ones, undeploy."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from intentml.api.errors import ApiError
from intentml.api.lookups import (
    Req,
    base_url,
    check_verdict,
    command_response,
    find_model,
    find_version,
)
from intentml.api.platform import Platform, PlatformDep
from intentml.api.schemas import DeployIn, DeploymentList, DeploymentOut, UndeployOut
from intentml.domain.names import version_label
from intentml.domain.statuses import DeploymentStatus
from intentml.events.envelope import make_event, new_id
from intentml.events.types import DeploymentRequested, UndeployRequested
from projections.read_models.deployments import (
    DeploymentRecord,
    account_deployment,
    live_deployments,
)


def deployment_out(row: DeploymentRecord, base: str) -> DeploymentOut:
    """A deployment row as the API shows it."""
    return DeploymentOut(
        deployment_id=row.deployment_id,
        model_name=row.model_name,
        model_version=version_label(row.version),
        version_id=row.version_id,
        version=row.version,
        status=row.status,
        endpoint=f"{base}/predict/{row.deployment_id}",
        environment=row.environment,
        replicas=row.replicas,
        auto_scale=row.auto_scale,
        created_at=row.created_at,
        updated_at=row.updated_at,
        error=row.error_message,
    )


async def find_deployment(
    platform: Platform, account_id: str, model_name: str, deployment_id: str, live: bool
) -> DeploymentRecord:
    """The deployment of this model a path names (only a live one if `live`), or 404."""
    model = await find_model(platform, account_id, model_name)
    row = await account_deployment(platform.pool, account_id, deployment_id)
    if row is None or row.model_id != model.model_id or (live and row.ended_at is not None):
        which = "live deployment" if live else "deployment"
        raise ApiError(
            404,
            f"model '{model_name}' has no {which} '{deployment_id}'; "
            f"GET /models/{model_name}/deployments lists the live ones",
        )
    return row


class DeploymentController(Controller):
    path = "/models/{model_name:str}"
    tags = ["deployments"]

    @post("/deploy", status_code=202, summary="Deploy a READY version behind /predict")
    async def deploy(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[DeployIn | None] = None,
    ) -> Response[DeploymentOut]:
        """DEPLOYING, then ACTIVE once the deployer served a sample through it; it replaces
        the ACTIVE deployment of the same environment. A version that is not READY → 409
        (the fold's pre-check).
        Every field has a default, so the body is optional."""
        data = data or DeployIn()
        principal = request.user
        version = await find_version(
            platform, principal.account_id, model_name, data.model_version or "latest"
        )
        deployment_id = "dep_" + new_id()
        event = make_event(
            DeploymentRequested(
                model_id=version.model_id,
                deployment_id=deployment_id,
                version=version.version,
                environment=data.environment,
                replicas=data.replicas,
                auto_scale=data.auto_scale,
            ),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "check the model and version and retry")
        base = base_url(request)
        row = (
            await account_deployment(platform.pool, principal.account_id, deployment_id)
            if outcome.applied
            else None
        )
        body = (
            deployment_out(row, base)
            if row is not None
            else DeploymentOut(
                deployment_id=deployment_id,
                model_name=model_name,
                model_version=version_label(version.version),
                version_id=version.version_id,
                version=version.version,
                status=DeploymentStatus.DEPLOYING,
                endpoint=f"{base}/predict/{deployment_id}",
                environment=data.environment,
                replicas=data.replicas,
                auto_scale=data.auto_scale,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
            )
        )
        return command_response(body, outcome, f"/models/{model_name}/deployments")

    @get("/deployments", summary="A model's live deployments")
    async def list_deployments(
        self, request: Req, platform: PlatformDep, model_name: FromPath[str]
    ) -> DeploymentList:
        """DEPLOYING, ACTIVE and UNDEPLOYING deployments, newest first."""
        model = await find_model(platform, request.user.account_id, model_name)
        deployments = await live_deployments(platform.pool, model.model_id)
        base = base_url(request)
        return DeploymentList(
            model_name=model_name,
            model_version=version_label(model.latest_version),
            deployments=[deployment_out(d, base) for d in deployments],
        )

    @get("/deployments/{deployment_id:str}", summary="One deployment, live or ended")
    async def get_deployment(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        deployment_id: FromPath[str],
    ) -> DeploymentOut:
        """Its status (DEPLOYING, ACTIVE, UNDEPLOYING, or REPLACED, FAILED with `error`,
        STOPPED) and endpoint."""
        row = await find_deployment(
            platform, request.user.account_id, model_name, deployment_id, live=False
        )
        return deployment_out(row, base_url(request))

    @delete("/deployments/{deployment_id:str}", status_code=202, summary="Undeploy a deployment")
    async def undeploy(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        deployment_id: FromPath[str],
    ) -> Response[UndeployOut]:
        """The deployment stops serving at once (UNDEPLOYING), then leaves the list."""
        principal = request.user
        row = await find_deployment(
            platform, principal.account_id, model_name, deployment_id, live=True
        )
        event = make_event(
            UndeployRequested(deployment_id=deployment_id),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "it was undeployed meanwhile")
        body = UndeployOut(
            model_name=model_name,
            model_version=version_label(row.version),
            deployment_id=deployment_id,
            status=DeploymentStatus.UNDEPLOYING,
            undeployed_at=event.occurred_at,
        )
        return command_response(body, outcome, f"/models/{model_name}/deployments")
