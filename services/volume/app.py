"""The volume service: Cinder v3's volume, attachment and quota API subset.

Routes live under ``/v3/{project_id}`` and, as Cinder allows since microversion 3.67, under
``/v3`` alone meaning the token's project. A non-admin naming another project in the URL
finds nothing there (404); an admin may act in any project's URL, which is how the bootflow
service account creates volumes for a user's project.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, BackgroundTasks, Body, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.config import Settings
from db.models.volume import Volume, VolumeAttachment
from db.session import SessionFactory, transaction
from services.common.app import ApiError
from services.common.app import create_app as create_base_app
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext, TokenValidator
from services.common.db import DbSession
from services.volume import attachments, quotas, views
from services.volume import microversions as mv
from services.volume.backend import FileBackend
from services.volume.errors import cinder_error, invalid_input, resource_not_found, volume_not_found
from services.volume.images import ImageService
from services.volume.microversions import MicroversionMiddleware, Version
from services.volume.quotas import Limits, QuotaExceeded
from services.volume.schemas import (
    AttachmentCreateRequest,
    AttachmentUpdateRequest,
    VolumeCreateRequest,
)
from services.volume.views import ViewContext
from services.volume.volumes import VolumeManager, VolumeSpec

log = logging.getLogger(__name__)

# Cinder's osapi_max_limit: the most items one list answer holds.
MAX_LIMIT: Final = 1000
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})


@dataclass(frozen=True)
class RequestScope:
    """The project a request acts in and what its answers may show."""

    project_id: str
    caller: AuthContext
    view: ViewContext

    @property
    def visible_project(self) -> str | None:
        """The project lookups by id are limited to; None for admins, who see every project."""
        return None if self.caller.is_admin else self.project_id


async def _scope(request: Request, caller: Auth, version: Version) -> RequestScope:
    url_project: str | None = request.path_params.get("project_id")
    if url_project is not None and url_project != caller.project_id and not caller.is_admin:
        raise resource_not_found()
    project_id = url_project or caller.project_id
    view = ViewContext(
        base_url=str(request.base_url).rstrip("/"),
        url_project=url_project,
        is_admin=caller.is_admin,
        is_service="service" in caller.roles,
        version=version,
    )
    return RequestScope(project_id, caller, view)


Scope = Annotated[RequestScope, Depends(_scope)]


async def _attachment_api(version: Version) -> None:
    """Attachments exist from 3.27; below, Cinder answers as for any unknown resource."""
    if not version.at_least(mv.NEW_ATTACH):
        raise resource_not_found()


AttachmentApi = Depends(_attachment_api)


def _bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ApiError(400, f"Invalid value '{value}' for parameter {name}: expected a boolean.")


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "limit param must be an integer") from None
    if limit < 0:
        raise ApiError(400, "limit param must be positive")
    return min(limit, MAX_LIMIT)


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    images = ImageService(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        images.close()

    app = create_base_app("volume", cinder_error)
    app.router.lifespan_context = lifespan
    app.add_middleware(MicroversionMiddleware, formatter=cinder_error)
    app.state.sessions = sessions
    app.state.token_validator = validator
    manager = VolumeManager(
        sessions, FileBackend(settings.volumes_dir), images, Limits.from_settings(settings)
    )
    manager.recover()

    @app.exception_handler(QuotaExceeded)
    async def _over_quota(_request: Request, exc: QuotaExceeded) -> JSONResponse:
        body = cinder_error(exc.status, exc.message, None)
        body["overLimit"]["retryAfter"] = "0"
        return JSONResponse(body, status_code=exc.status, headers={"Retry-After": "0"})

    @app.get("/")
    def versions(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"versions": [views.version_entry(base)]}, status_code=300)

    @app.get("/v3")
    @app.get("/v3/")
    def version(request: Request) -> dict[str, Any]:
        return {"versions": [views.version_entry(str(request.base_url).rstrip("/"))]}

    router = _router(manager)
    # Cinder's URLs with the project id, and (3.67+) without; neither shadows the other, as
    # the segment after /v3 is a project id in one and a collection name in the other.
    app.include_router(router, prefix="/v3/{project_id}")
    app.include_router(router, prefix="/v3")
    return app


def _router(manager: VolumeManager) -> APIRouter:
    router = common_router()
    backend = manager.backend

    # -- volumes --------------------------------------------------------------------------

    @router.post("/volumes", status_code=202)
    def create_volume(
        body: VolumeCreateRequest, scope: Scope, tasks: BackgroundTasks
    ) -> dict[str, Any]:
        spec = _volume_spec(manager, scope, body)
        with transaction(manager.sessions) as session:
            volume = manager.record(session, spec)
            view = views.volume_detail(scope.view, volume)
        tasks.add_task(manager.build, volume.id, volume.size, spec.image)
        return {"volume": view}

    def _list(request: Request, scope: RequestScope, session: Session) -> list[Volume]:
        query = select(Volume).options(selectinload(Volume.attachments))
        if not (scope.caller.is_admin and _bool_param(request, "all_tenants")):
            query = query.where(Volume.project_id == scope.project_id)
        params = request.query_params
        limit = _limit(request)
        marker_id = params.get("marker")
        if marker_id:
            # Found whatever its status or name now: a page boundary must not vanish.
            marker = session.scalar(query.where(Volume.id == marker_id))
            if marker is None:
                raise volume_not_found(marker_id)
            query = query.where(
                (Volume.created_at < marker.created_at)
                | ((Volume.created_at == marker.created_at) & (Volume.id < marker.id))
            )
        if "name" in params:
            query = query.where(Volume.name == params["name"])
        if "status" in params:
            query = query.where(Volume.status == params["status"])
        query = query.order_by(Volume.created_at.desc(), Volume.id.desc())
        return list(session.scalars(query.limit(MAX_LIMIT if limit is None else limit)))

    def _page(
        request: Request,
        scope: RequestScope,
        collection: str,
        items: list[dict[str, Any]],
        limit: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"volumes": items}
        # Cinder's rule: a next link whenever the page is as long as it was allowed to be.
        if items and len(items) >= (MAX_LIMIT if limit is None else limit):
            params = dict(request.query_params)
            body["volumes_links"] = views.next_link(scope.view, collection, params, items[-1]["id"])
        return body

    @router.get("/volumes")
    def list_volumes(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
        found = _list(request, scope, session)
        items = [views.volume_summary(scope.view, v) for v in found]
        return _page(request, scope, "volumes", items, _limit(request))

    @router.get("/volumes/detail")
    def list_volumes_detail(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
        found = _list(request, scope, session)
        items = [views.volume_detail(scope.view, v) for v in found]
        return _page(request, scope, "volumes/detail", items, _limit(request))

    @router.get("/volumes/{volume_id}")
    def show_volume(volume_id: str, scope: Scope, session: DbSession) -> dict[str, Any]:
        query = select(Volume).where(Volume.id == volume_id)
        if scope.visible_project is not None:
            query = query.where(Volume.project_id == scope.visible_project)
        volume = session.scalar(query)
        if volume is None:
            raise volume_not_found(volume_id)
        return {"volume": views.volume_detail(scope.view, volume)}

    @router.delete("/volumes/{volume_id}", status_code=202)
    def delete_volume(volume_id: str, scope: Scope) -> Response:
        manager.delete(volume_id, scope.visible_project)
        return Response(status_code=202)

    # -- attachments (3.27+) ------------------------------------------------------------

    @router.post("/attachments", dependencies=[AttachmentApi])
    def create_attachment(
        body: AttachmentCreateRequest, scope: Scope, session: DbSession
    ) -> dict[str, Any]:
        new = body.attachment
        if "mode" in new.model_fields_set and not scope.view.version.at_least(
            mv.ATTACHMENT_CREATE_MODE_ARG
        ):
            raise ApiError(
                400,
                "Invalid input for field/attribute attachment: Additional "
                "properties are not allowed ('mode' was unexpected); "
                "it needs microversion 3.54.",
            )
        volume = attachments.locked_volume(session, new.volume_uuid, scope.visible_project)
        attachment = attachments.reserve(volume, new.instance_uuid, new.mode)
        session.flush()
        if new.connector is not None:
            attachments.connect(backend, volume, attachment, new.connector)
        return {"attachment": views.attachment_detail(attachment)}

    def _list_attachments(
        request: Request, scope: RequestScope, session: Session
    ) -> list[VolumeAttachment]:
        query = select(VolumeAttachment)
        if not (scope.caller.is_admin and _bool_param(request, "all_tenants")):
            query = query.join(Volume).where(Volume.project_id == scope.project_id)
        params = request.query_params
        if "volume_id" in params:
            query = query.where(VolumeAttachment.volume_id == params["volume_id"])
        if "instance_id" in params:
            query = query.where(VolumeAttachment.instance_uuid == params["instance_id"])
        status = params.get("status", params.get("attach_status"))
        if status is not None:
            query = query.where(VolumeAttachment.attach_status == status)
        limit = _limit(request)
        query = query.order_by(VolumeAttachment.created_at.desc(), VolumeAttachment.id.desc())
        return list(session.scalars(query.limit(MAX_LIMIT if limit is None else limit)))

    @router.get("/attachments", dependencies=[AttachmentApi])
    def list_attachments(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
        return views.attachment_list(_list_attachments(request, scope, session), detail=False)

    @router.get("/attachments/detail", dependencies=[AttachmentApi])
    def list_attachments_detail(
        request: Request, scope: Scope, session: DbSession
    ) -> dict[str, Any]:
        return views.attachment_list(_list_attachments(request, scope, session), detail=True)

    @router.get("/attachments/{attachment_id}", dependencies=[AttachmentApi])
    def show_attachment(attachment_id: str, scope: Scope, session: DbSession) -> dict[str, Any]:
        attachment = attachments.find(session, attachment_id, scope.visible_project)
        return {"attachment": views.attachment_detail(attachment)}

    @router.put("/attachments/{attachment_id}", dependencies=[AttachmentApi])
    def update_attachment(
        attachment_id: str, body: AttachmentUpdateRequest, scope: Scope, session: DbSession
    ) -> dict[str, Any]:
        connector = body.attachment.connector
        if not connector.model_dump(exclude_unset=True):
            raise ApiError(
                400,
                "Invalid input for field/attribute connector: it must name at least one property.",
            )
        volume, attachment = attachments.locked(session, attachment_id, scope.visible_project)
        attachments.connect(backend, volume, attachment, connector)
        return {"attachment": views.attachment_detail(attachment)}

    @router.delete("/attachments/{attachment_id}", dependencies=[AttachmentApi])
    def delete_attachment(attachment_id: str, scope: Scope, session: DbSession) -> dict[str, Any]:
        volume, attachment = attachments.locked(session, attachment_id, scope.visible_project)
        remaining = attachments.delete(session, volume, attachment)
        return views.attachment_list(remaining, detail=False)

    @router.post(
        "/attachments/{attachment_id}/action", status_code=204, dependencies=[AttachmentApi]
    )
    def attachment_action(
        attachment_id: str, scope: Scope, session: DbSession, body: Annotated[Any, Body()] = None
    ) -> Response:
        if not isinstance(body, dict) or len(body) != 1:
            raise ApiError(
                400,
                "Malformed request body: an action body names exactly one "
                'action, such as {"os-complete": null}.',
            )
        (action,) = body
        if action != "os-complete":
            raise ApiError(400, f"There is no such action: {action}")
        if not scope.view.version.at_least(mv.NEW_ATTACH_COMPLETION):
            raise resource_not_found()
        volume, attachment = attachments.locked(session, attachment_id, scope.visible_project)
        attachments.complete(volume, attachment)
        return Response(status_code=204)

    # -- quotas -----------------------------------------------------------------------------

    @router.get("/os-quota-sets/{target_project_id}")
    def show_quota_set(
        target_project_id: str, request: Request, scope: Scope, session: DbSession
    ) -> dict[str, Any]:
        if not scope.caller.is_admin and target_project_id != scope.project_id:
            raise ApiError(404, f"Quota for project {target_project_id} could not be found.")
        with_usage = _bool_param(request, "usage")
        return {
            "quota_set": quotas.quota_set(session, target_project_id, manager.limits, with_usage)
        }

    @router.get("/limits")
    def show_limits(scope: Scope, session: DbSession) -> dict[str, Any]:
        """Cinder's absolute limits and usage of the caller's project (`openstack limits
        show --absolute` asks for them); snapshots and backups do not exist here: 0."""
        return {
            "limits": {
                "rate": [],
                "absolute": quotas.absolute_limits(session, scope.project_id, manager.limits),
            }
        }

    return router


def _volume_spec(
    manager: VolumeManager, scope: RequestScope, body: VolumeCreateRequest
) -> VolumeSpec:
    """Check a create request as Cinder's API does; looks the image up (no DB work yet)."""
    new = body.volume
    if new.multiattach:
        raise ApiError(
            400,
            "multiattach parameter has been removed. The default behavior is to "
            "use multiattach enabled volume types. Contact your administrator "
            "to create a multiattach enabled volume type and use it to create "
            "multiattach volumes.",
        )
    if new.availability_zone not in (None, views.AVAILABILITY_ZONE):
        raise invalid_input(f"Availability zone '{new.availability_zone}' is invalid.")
    if new.volume_type not in (None, views.VOLUME_TYPE, views.VOLUME_TYPE_ID):
        raise ApiError(404, f"Volume type with name {new.volume_type} could not be found.")
    if new.snapshot_id is not None:
        raise ApiError(404, f"Snapshot {new.snapshot_id} could not be found.")
    if new.backup_id:
        raise ApiError(404, f"Backup {new.backup_id} could not be found.")
    if new.source_volid is not None or new.consistencygroup_id is not None:
        raise invalid_input(
            "this cloud creates volumes empty or from an image only (source_volid and "
            "consistencygroup_id are not supported)."
        )
    image = None
    if new.image:
        image = manager.images.usable_image(new.image, scope.project_id, new.size)
    name, description = new.display
    return VolumeSpec(
        project_id=scope.project_id,
        user_id=scope.caller.user_id,
        size=new.size,
        name=name,
        description=description,
        volume_type=views.VOLUME_TYPE,
        metadata=dict(new.metadata or {}),
        image=image,
    )
