"""``PUT /volumes/{id}`` (name, description, metadata) and the ``os-set_bootable`` action,
as Cinder's volume API changes a volume's own facts (never its data or status)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Body, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.volume import Volume
from services.common.app import bad_request
from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import views
from services.volume.context import RequestScope, Scope
from services.volume.errors import invalid_input, volume_not_found
from services.volume.schemas import VolumeUpdateRequest

router = common_router()

# oslo's bool_from_string(strict=True) spellings, which Cinder's boolean parameters take.
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})
# Actions of ``POST /volumes/{id}/action`` this service has.
_ACTIONS: Final = ("os-set_bootable",)


def _volume(session: Session, scope: RequestScope, volume_id: str) -> Volume:
    query = select(Volume).where(Volume.id == volume_id)
    if scope.visible_project is not None:
        query = query.where(Volume.project_id == scope.visible_project)
    volume = session.scalar(query.with_for_update())
    if volume is None:
        raise volume_not_found(volume_id)
    return volume


@router.put("/volumes/{volume_id}")
def update_volume(
    volume_id: str, body: VolumeUpdateRequest, scope: Scope, session: DbSession
) -> dict[str, Any]:
    changes = body.volume
    volume = _volume(session, scope, volume_id)
    # As Cinder, name/description win over their display_ spellings; null clears.
    for field, column in (("name", "name"), ("description", "description")):
        for key in (field, f"display_{field}"):
            if key in changes.model_fields_set:
                setattr(volume, column, getattr(changes, key))
                break
    if "metadata" in changes.model_fields_set:
        # A new dict (the ORM sees the JSON column change); Cinder replaces it whole.
        volume.metadata_ = dict(changes.metadata or {})
    session.flush()
    view = views.volume_detail(scope.view, volume)
    # Cinder adds the image's metadata to show and list only, not to an update's answer.
    view.pop("volume_image_metadata", None)
    return {"volume": view}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise invalid_input(f"{value!r} is not a valid boolean for 'bootable'.")


def _action(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or len(body) != 1:
        raise bad_request("Malformed request body")
    ((name, argument),) = body.items()
    if name not in _ACTIONS:
        raise bad_request(f"There is no such action: {name}")
    return name, argument


@router.post("/volumes/{volume_id}/action")
def volume_action(
    volume_id: str, body: Annotated[Any, Body()], scope: Scope, session: DbSession
) -> Response:
    _name, argument = _action(body)
    if not isinstance(argument, dict) or "bootable" not in argument:
        raise invalid_input("'bootable' is a required property of os-set_bootable.")
    _volume(session, scope, volume_id).bootable = _boolean(argument["bootable"])
    return Response(status_code=200)
