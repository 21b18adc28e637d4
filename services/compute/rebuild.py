"""``rebuild``: the body checked as Nova's API checks it (schema, lock and state, the
metadata quota, the key pair, a volume-backed server), then the RebuildServer workflow
started (workflows/rebuild_server.py), whose first step checks the image and changes the
record; Nova's 202 with the server as it is then (status REBUILD), at the microversion."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import JSONResponse

from core.messages import KeyPairSpec, RebuildChanges, RebuildRequest
from core.rebuild import volume_backed_refusal
from core.server_actions import REBUILD
from db.models.compute import Instance
from services.common.app import ApiError
from services.compute import microversions as mv
from services.compute import views
from services.compute.actions import ActionWorkflow, check, start_action_workflow
from services.compute.context import ApiContext
from services.compute.create import unsupported
from services.compute.keypairs import boot_key
from services.compute.metadata_quota import check_count
from services.compute.schemas.base import validated
from services.compute.schemas.rebuild import RebuildV21, rebuild_schema
from services.compute.server_api import ServerApi, visible_instance
from services.compute.server_update import update_view
from workflows.rebuild_server import RebuildServer

# Body keys and the record's fields they change (``given`` in RebuildChanges).
_FIELDS = {
    "name": "name",
    "metadata": "metadata",
    "description": "description",
    "accessIPv4": "access_ip_v4",
    "accessIPv6": "access_ip_v6",
    "key_name": "key_name",
    "hostname": "hostname",
    "user_data": "user_data",
}


async def rebuild_server(api: ServerApi, ctx: ApiContext, server_id: str, args: Any) -> Any:
    body = validated(rebuild_schema(ctx.version), args)
    _unsupported(body)
    instance, key = await asyncio.to_thread(_checked, api, ctx, server_id, body)
    changes = _changes(body, key)
    request = RebuildRequest(
        instance.uuid, body.imageRef, ctx.caller.token, ctx.request_id, changes
    )
    started = ActionWorkflow(RebuildServer.run, request, RebuildServer.accepted)
    await start_action_workflow(api, ctx, REBUILD, instance, started)
    view = await asyncio.to_thread(_view, api, ctx, server_id)
    return JSONResponse({"server": view}, status_code=202)


def _unsupported(body: RebuildV21) -> None:
    if body.personality:
        raise unsupported("Personality files", "rebuild without them.")
    if body.disk_config == "AUTO":
        raise unsupported("OS-DCF:diskConfig AUTO", "bootflow's guests are MANUAL.")
    if getattr(body, "trusted_image_certificates", None):
        raise unsupported("trusted_image_certificates", "rebuild without them.")


def _checked(
    api: ServerApi, ctx: ApiContext, server_id: str, body: RebuildV21
) -> tuple[Instance, KeyPairSpec | None]:
    """The caller's server if a rebuild may begin on it (Nova's 404, 409), within the
    metadata quota (403), with the caller's key pair if one is named (400), and not
    volume-backed (400); the workflow's first step checks state and image again."""
    instance = check(api, ctx, server_id, REBUILD)
    refused = volume_backed_refusal(instance.image_ref, body.imageRef)
    if refused is not None:
        raise ApiError(400, refused)
    key = None
    with api.sessions.begin() as session:
        if body.metadata is not None:
            check_count(session, instance.project_id, body.metadata)
        key_name = getattr(body, "key_name", None)
        if key_name is not None:
            key = boot_key(session, ctx.caller.user_id, key_name)
    return instance, key


def _changes(body: RebuildV21, key: KeyPairSpec | None) -> RebuildChanges:
    given = [field for name, field in _FIELDS.items() if name in body.model_fields_set]
    return RebuildChanges(
        given=given,
        name=body.name,
        metadata=dict(body.metadata or {}),
        description=getattr(body, "description", None),
        access_ip_v4=body.accessIPv4,
        access_ip_v6=body.accessIPv6,
        key=key,
        hostname=getattr(body, "hostname", None),
        user_data=getattr(body, "user_data", None),
    )


def _view(api: ServerApi, ctx: ApiContext, server_id: str) -> dict[str, Any]:
    """Nova's rebuild answer: before 2.75 the update's view (no extensions) with the key
    name from 2.54; from 2.75 the whole show; the user_data from 2.57."""
    with api.sessions.begin() as session:
        instance = visible_instance(session, server_id, ctx)
        extras = views.ServerExtras.load(session, ctx, [instance], groups=True)
        view = views.server_detail(ctx, instance, extras, show_groups=True)
        out = update_view(ctx, view)
        # Nova's rebuild view leaves its user_data to the "user_data" key below.
        out.pop("OS-EXT-SRV-ATTR:user_data", None)
        if ctx.at_least(mv.REBUILD_KEY_NAME):
            out["key_name"] = instance.key_name
        if ctx.at_least(mv.NO_PERSONALITY):
            out["user_data"] = instance.user_data
        return out
