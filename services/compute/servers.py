"""``/servers``: create (one BootInstance per server), list, show, delete (DeleteInstance)
and actions (the console log; forceDelete, a delete; restore, never possible here; the
others in ``actions``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from db.models.compute import ComputeNode, Instance
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession, Sessions
from services.compute import actions, rebuild, views
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.create import parse_create, unsupported
from services.compute.listing import ServerQuery
from services.compute.schemas.base import validated
from services.compute.schemas.servers import GetConsoleOutput
from services.compute.server_api import Api, ServerApi, visible

router = common_router()

# Nova's server actions bootflow does not carry out.
_NOT_OFFERED = frozenset(
    (
        "resize", "confirmResize", "revertResize", "createImage", "createBackup",
        "migrate", "os-migrateLive", "evacuate", "pause", "unpause", "suspend", "resume",
        "shelve", "shelveOffload", "unshelve", "rescue", "unrescue", "changePassword",
        "addSecurityGroup", "removeSecurityGroup", "os-resetState", "trigger_crash_dump",
        "injectNetworkInfo", "resetNetwork", "addFixedIp", "removeFixedIp", "addFloatingIp",
        "removeFloatingIp", "os-getVNCConsole", "os-getSPICEConsole", "os-getRDPConsole",
        "os-getSerialConsole",
    )
)  # fmt: skip


@router.post("/v2.1/servers", status_code=202)
async def create_server(ctx: Ctx, api: Api, body: Any = JSON_BODY) -> Any:
    plan = parse_create(ctx, body)
    accepted = await api.create(ctx, plan)
    if plan.return_reservation_id:
        return JSONResponse({"reservation_id": accepted.reservation_id}, status_code=202)
    view = views.created_server(ctx, accepted.boots[0].instance_uuid)
    return JSONResponse(
        {"server": view}, status_code=202, headers={"Location": view["links"][0]["href"]}
    )


@router.get("/v2.1/servers")
@router.get("/v2.1/servers/detail")
def list_servers(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    detail = request.url.path.endswith("/detail")
    page, more = ServerQuery(ctx, request.query_params, detail).run(session)
    last = page[-1].uuid if more and page else None
    return views.listed(ctx, "servers", _docs(ctx, session, page, detail), request, last)


def _docs(ctx: ApiContext, session: Session, page: list[Instance], detail: bool) -> list[Any]:
    if not detail:
        return [views.server_brief(ctx, i) for i in page]
    extras = views.ServerExtras.load(session, ctx, page, groups=False)
    return [views.server_detail(ctx, i, extras, show_groups=False) for i in page]


# What GET /servers/{id} shows of a server in one statement: its row, its host's node (one
# node a host), its volumes and metadata (a few rows each; faults only the rare ERROR server
# shows, read then). Built once: building it costs about as much as running it.
_SHOWN = (
    select(Instance, ComputeNode)
    .outerjoin(ComputeNode, ComputeNode.host == Instance.host)
    .where(Instance.uuid == bindparam("uuid"), Instance.deleted.is_(False))
    .options(joinedload(Instance.block_devices), joinedload(Instance.metadata_items))
)


@router.get("/v2.1/servers/{server_id}")
def show_server(server_id: str, ctx: Ctx, sessions: Sessions) -> dict[str, Any]:
    # A read, so its transaction ends here, in the handler's thread: DbSession would end it
    # in a thread of its own, a second hand-off per request.
    with sessions.begin() as session:
        row = session.execute(_SHOWN, {"uuid": server_id}).unique().one_or_none()
        instance = visible(row[0] if row else None, server_id, ctx)
        node = row[1] if row else None
        extras = views.ServerExtras.of_one(session, ctx, instance, node, groups=True)
        # Nova's document only; what undo steps left is GET /os-leftovers?instance_uuid=
        return {"server": views.server_detail(ctx, instance, extras, show_groups=True)}


@router.delete("/v2.1/servers/{server_id}", status_code=204)
async def delete_server(server_id: str, ctx: Ctx, api: Api) -> Response:
    """Nova's delete: 204 once the delete is under way (a building server's boot is
    cancelled and undone first); the server is gone when GET says 404."""
    # 404 if not the caller's; 409 if locked and the caller no admin
    await asyncio.to_thread(actions.refuse_if_locked, api, ctx, server_id)
    await api.delete(ctx, server_id)
    return Response(status_code=204)


@router.post("/v2.1/servers/{server_id}/action")
async def server_action(server_id: str, ctx: Ctx, api: Api, body: Any = JSON_BODY) -> Any:
    """Server actions: os-getConsoleOutput (``openstack console log show``), rebuild
    (services/compute/rebuild.py), and those of services/compute/actions.py (stop, start,
    reboot, lock, unlock)."""
    if not isinstance(body, dict) or len(body) != 1:
        raise ApiError(400, "A server action request names exactly one action.")
    ((action, args),) = body.items()
    if action in actions.ACTIONS:
        return await actions.server_action(api, ctx, server_id, action, args)
    if action == "rebuild":
        return await rebuild.rebuild_server(api, ctx, server_id, args)
    if action in ("forceDelete", "restore"):
        await _deferred_delete(api, ctx, server_id, action)  # a 4xx unless forceDelete
        return Response(status_code=202)
    if action in _NOT_OFFERED:
        # Nova knows it, so looks the server up first: 404 for none or another project's.
        await asyncio.to_thread(api.placement, ctx, server_id)
        raise unsupported(f"The action {action}", "see the README for the actions offered.")
    if action != "os-getConsoleOutput":
        # As Nova's router: an action it does not know is a 400 before any lookup.
        raise ApiError(400, f"There is no such action: {action}")
    length = validated(GetConsoleOutput, args if isinstance(args, dict) else {}).length
    host = (await asyncio.to_thread(api.placement, ctx, server_id)).host
    if host is None:
        raise ApiError(409, f"Instance {server_id} is not ready: it is on no host yet.")
    output = await api.workflows.console_output(server_id, host, length)
    return JSONResponse({"output": output})


async def _deferred_delete(api: ServerApi, ctx: ApiContext, server_id: str, action: str) -> None:
    """forceDelete (a delete) or restore (never possible); as Nova, the server is looked up
    first (404 for none or another project's)."""
    vm_state = (await asyncio.to_thread(api.placement, ctx, server_id)).vm_state
    if action == "forceDelete":
        await delete_server(server_id, ctx, api)
        return
    # Deletes here are never deferred (Nova's reclaim_instance_interval = 0), so no server
    # is ever soft-deleted and restorable.
    raise ApiError(409, f"Cannot 'restore' instance {server_id} while it is in vm_state {vm_state}")
