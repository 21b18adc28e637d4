"""``/servers/{id}/metadata``: a server's key/value pairs, as Nova's server_metadata API.

Reading is allowed in any state; changing needs a server that is not building, deleting or
in error and has no task (Nova's check_instance_state: 409 otherwise). A server holds at
most its project's ``metadata_items`` quota of pairs (403, Nova's MetadataLimitExceeded).
The guest sees the pairs it booted with (the config drive's meta_data.json), as with
Nova's config drive, which is not rewritten later."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request, Response
from sqlalchemy.orm import Session

from db.models.compute import Instance, InstanceMetadata
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.metadata_quota import check_count
from services.compute.schemas.base import validated
from services.compute.schemas.metadata import MetadataBody, MetaItemBody
from services.compute.server_api import visible_instance

router = common_router()

# Nova's vm_states in which metadata may change (bootflow's servers reach only "active"
# and "stopped" of them).
_CHANGEABLE: Final = ("active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded")


def as_dict(instance: Instance) -> dict[str, str]:
    return {m.key: m.value for m in instance.metadata_items}


def _changeable(session: Session, server_id: str, ctx: ApiContext, action: str) -> Instance:
    instance = visible_instance(session, server_id, ctx)
    if instance.vm_state not in _CHANGEABLE:
        state = ("vm_state", instance.vm_state)
    elif instance.task_state is not None:
        state = ("task_state", instance.task_state)
    else:
        return instance
    raise ApiError(
        409, f"Cannot '{action}' instance {server_id} while it is in {state[0]} {state[1]}"
    )


def _store(session: Session, instance: Instance, items: dict[str, str]) -> dict[str, str]:
    """Make ``items`` the server's whole metadata (rows changed in place, kept, or gone)."""
    check_count(session, instance.project_id, items)
    rows = {m.key: m for m in instance.metadata_items}
    for key, row in rows.items():
        if key not in items:
            instance.metadata_items.remove(row)
    for key, value in items.items():
        if key in rows:
            rows[key].value = value
        else:
            instance.metadata_items.append(InstanceMetadata(key=key, value=value))
    session.flush()
    return items


@router.get("/v2.1/servers/{server_id}/metadata")
def list_metadata(server_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    return {"metadata": as_dict(visible_instance(session, server_id, ctx))}


@router.put("/v2.1/servers/{server_id}/metadata")
@router.post("/v2.1/servers/{server_id}/metadata")
def write_metadata(
    server_id: str, ctx: Ctx, session: DbSession, request: Request, body: Any = JSON_BODY
) -> dict[str, Any]:
    """PUT replaces the whole metadata, POST merges into it (Nova's update_all, create)."""
    items = validated(MetadataBody, body).metadata
    instance = _changeable(session, server_id, ctx, "update metadata")
    if request.method == "POST":
        items = as_dict(instance) | items
    return {"metadata": _store(session, instance, items)}


@router.get("/v2.1/servers/{server_id}/metadata/{key}")
def show_metadata_item(server_id: str, key: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    items = as_dict(visible_instance(session, server_id, ctx))
    if key not in items:
        raise ApiError(404, "Metadata item was not found")
    return {"meta": {key: items[key]}}


@router.put("/v2.1/servers/{server_id}/metadata/{key}")
def set_metadata_item(
    server_id: str, key: str, ctx: Ctx, session: DbSession, body: Any = JSON_BODY
) -> dict[str, Any]:
    meta = validated(MetaItemBody, body).meta
    if key not in meta:
        raise ApiError(400, "Request body and URI mismatch")
    instance = _changeable(session, server_id, ctx, "update metadata")
    _store(session, instance, as_dict(instance) | meta)
    return {"meta": meta}


@router.delete("/v2.1/servers/{server_id}/metadata/{key}", status_code=204)
def delete_metadata_item(server_id: str, key: str, ctx: Ctx, session: DbSession) -> Response:
    instance = visible_instance(session, server_id, ctx)
    items = as_dict(instance)
    if key not in items:
        raise ApiError(404, "Metadata item was not found")
    instance = _changeable(session, server_id, ctx, "delete metadata")
    del items[key]
    _store(session, instance, items)
    return Response(status_code=204)
