"""``/attachments`` (3.27+): reserve, connect, complete, list, show and delete attachments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.volume import Volume, VolumeAttachment
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import attaching, views
from services.volume import microversions as mv
from services.volume.context import (
    AttachmentApi,
    Manager,
    RequestScope,
    Scope,
    all_projects,
    page_size,
)
from services.volume.errors import resource_not_found
from services.volume.schemas import AttachmentCreateRequest, AttachmentUpdateRequest

router = common_router(prefix="/attachments", dependencies=[AttachmentApi])


@router.post("")
def create_attachment(
    body: AttachmentCreateRequest, scope: Scope, session: DbSession, manager: Manager
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
    volume = attaching.locked_volume(session, new.volume_uuid, scope.visible_project)
    attachment = attaching.reserve(volume, new.instance_uuid, new.mode)
    session.flush()
    if new.connector is not None:
        attaching.connect(manager.backend, volume, attachment, new.connector)
    return {"attachment": views.attachment_detail(attachment)}


def _list(request: Request, scope: RequestScope, session: Session) -> list[VolumeAttachment]:
    query = select(VolumeAttachment)
    if not all_projects(request, scope):
        query = query.join(Volume).where(Volume.project_id == scope.project_id)
    params = request.query_params
    if "volume_id" in params:
        query = query.where(VolumeAttachment.volume_id == params["volume_id"])
    if "instance_id" in params:
        query = query.where(VolumeAttachment.instance_uuid == params["instance_id"])
    status = params.get("status", params.get("attach_status"))
    if status is not None:
        query = query.where(VolumeAttachment.attach_status == status)
    size = page_size(request)
    query = query.order_by(VolumeAttachment.created_at.desc(), VolumeAttachment.id.desc())
    return list(session.scalars(query.limit(size)))


@router.get("")
def list_attachments(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
    return views.attachment_list(_list(request, scope, session), detail=False)


@router.get("/detail")
def list_attachments_detail(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
    return views.attachment_list(_list(request, scope, session), detail=True)


@router.get("/{attachment_id}")
def show_attachment(attachment_id: str, scope: Scope, session: DbSession) -> dict[str, Any]:
    attachment = attaching.find(session, attachment_id, scope.visible_project)
    return {"attachment": views.attachment_detail(attachment)}


@router.put("/{attachment_id}")
def update_attachment(
    attachment_id: str,
    body: AttachmentUpdateRequest,
    scope: Scope,
    session: DbSession,
    manager: Manager,
) -> dict[str, Any]:
    connector = body.attachment.connector
    if not connector.model_dump(exclude_unset=True):
        raise ApiError(
            400,
            "Invalid input for field/attribute connector: it must name at least one property.",
        )
    volume, attachment = attaching.locked(session, attachment_id, scope.visible_project)
    attaching.connect(manager.backend, volume, attachment, connector)
    return {"attachment": views.attachment_detail(attachment)}


@router.delete("/{attachment_id}")
def delete_attachment(attachment_id: str, scope: Scope, session: DbSession) -> dict[str, Any]:
    volume, attachment = attaching.locked(session, attachment_id, scope.visible_project)
    remaining = attaching.delete(session, volume, attachment)
    return views.attachment_list(remaining, detail=False)


@router.post("/{attachment_id}/action", status_code=204)
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
    volume, attachment = attaching.locked(session, attachment_id, scope.visible_project)
    attaching.complete(volume, attachment)
    return Response(status_code=204)
