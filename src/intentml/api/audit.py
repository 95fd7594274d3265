"""`GET /models/{model_name}/events`: a model's audit timeline from the events archive."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from intentml.api.lookups import Req, check_name, model_not_found
from intentml.api.pagination import page_params, pagination
from intentml.api.platform import PlatformDep
from intentml.api.schemas import Pagination
from intentml.domain.audit import AuditEntry
from projections.read_models.audit import stream_events_page

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class AuditTimeline(msgspec.Struct, frozen=True):
    model_name: str
    events: list[AuditEntry]
    pagination: Pagination


class AuditController(Controller):
    path = "/models/{model_name:str}"
    tags = ["audit"]

    @get("/events", summary="A model's audit timeline: every event, oldest first, paginated")
    async def model_events(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        limit: FromQuery[int] = DEFAULT_LIMIT,
        offset: FromQuery[int] = 0,
    ) -> AuditTimeline:
        """Every event of the model name in log order, with time, type, the actor's key
        id and a summary, including commands the log rejected and why, and events of
        earlier, deleted models of the same name (the history stays)."""
        check_name(model_name)
        page_params(limit, offset, MAX_LIMIT)
        events, total = await stream_events_page(
            platform.pool, request.user.account_id, model_name, limit, offset
        )
        if total == 0:
            # no event in this account: the same 404 as a name that exists nowhere
            raise model_not_found(model_name)
        return AuditTimeline(model_name, events, pagination(total, limit, offset, len(events)))
