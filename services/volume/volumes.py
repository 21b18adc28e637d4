"""``/volumes``: create, list (summary and detail, paged), show and delete volumes."""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models.volume import Volume
from db.session import transaction
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import filtering, sorting, views
from services.volume.context import (
    Manager,
    RequestScope,
    Scope,
    all_projects,
    page_size,
)
from services.volume.errors import invalid_input, volume_not_found
from services.volume.manager import VolumeManager, VolumeSpec
from services.volume.schemas import NewVolume, VolumeCreateRequest

router = common_router()


@router.post("/volumes", status_code=202)
def create_volume(
    body: VolumeCreateRequest, scope: Scope, tasks: BackgroundTasks, manager: Manager
) -> dict[str, Any]:
    spec = _volume_spec(manager, scope, body.volume)
    with transaction(manager.sessions) as session:
        volume = manager.record(session, spec)
        view = views.volume_detail(scope.view, volume)
    tasks.add_task(manager.build, volume.id, volume.size, spec.image)
    return {"volume": view}


def _refuse_unsupported(new: NewVolume) -> None:
    """Refuse, as Cinder's API does, what this cloud cannot create."""
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


def _volume_spec(manager: VolumeManager, scope: RequestScope, new: NewVolume) -> VolumeSpec:
    """Check a create request as Cinder's API does; looks the image up (no DB work yet)."""
    _refuse_unsupported(new)
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


def _list(request: Request, scope: RequestScope, session: Session) -> list[Volume]:
    query = select(Volume).options(selectinload(Volume.attachments))
    if not all_projects(request, scope):
        query = query.where(Volume.project_id == scope.project_id)
    params = request.query_params
    size = page_size(request)
    order = sorting.parse_sort(params)
    marker_id = params.get("marker")
    if marker_id:
        # Found whatever its status or name now: a page boundary must not vanish.
        marker = session.scalar(query.where(Volume.id == marker_id))
        if marker is None:
            raise volume_not_found(marker_id)
        query = query.where(sorting.after(marker, order))
    if "name" in params:
        query = query.where(Volume.name == params["name"])
    if "status" in params:
        query = query.where(Volume.status == params["status"])
    dialect = session.get_bind().dialect.name
    query = query.where(*filtering.conditions(params, scope.view.version, dialect))
    query = query.order_by(*sorting.order_by(order))
    return list(session.scalars(query.limit(size)))


def _page(
    request: Request, scope: RequestScope, collection: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {"volumes": items}
    # Cinder's rule: a next link whenever the page is as long as it was allowed to be.
    if items and len(items) >= page_size(request):
        params = dict(request.query_params)
        body["volumes_links"] = views.next_link(scope.view, collection, params, items[-1]["id"])
    return body


@router.get("/volumes")
def list_volumes(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
    items = [views.volume_summary(scope.view, v) for v in _list(request, scope, session)]
    return _page(request, scope, "volumes", items)


@router.get("/volumes/detail")
def list_volumes_detail(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
    items = [views.volume_detail(scope.view, v) for v in _list(request, scope, session)]
    return _page(request, scope, "volumes/detail", items)


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
def delete_volume(volume_id: str, scope: Scope, manager: Manager) -> Response:
    manager.delete(volume_id, scope.visible_project)
    return Response(status_code=202)
