"""The compute API: the Nova v2.1 subset the bootflow and openstack CLIs use.

It is the seed's nova-api (steps 3-8): a create request starts ``BootInstance`` with
update-with-start and answers 202 once the workflow has authenticated, validated, counted
quota and written the record, or Nova's 4xx with the reason. Reads come from the database.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError

from bootflow import search_attributes as sa
from bootflow import task_queues
from bootflow.config import Settings
from bootflow.errors import HTTP_STATUS
from bootflow.messages import BootRequest, ConsoleOutputInput, DeleteRequest, NetworkRequest
from bootflow.states import VmState
from bootflow.temporal import connect
from db.models import Flavor, Instance, InstanceAction, Leftover
from db.session import SessionFactory
from services.common import app as common
from services.common.app import ApiError, nova_error
from services.common.auth import Auth, AuthContext, TokenValidator
from services.common.db import DbSession
from services.compute import views
from workflows.boot_instance import BootInstance
from workflows.console_output import ConsoleOutputWorkflow
from workflows.delete_instance import DeleteInstance

log = logging.getLogger(__name__)

MIN_VERSION = "2.1"
MAX_VERSION = "2.1"
# How long a create or delete waits for the workflow to accept it before answering 503.
ACCEPT_TIMEOUT = 60.0


class NetworkEntry(BaseModel):
    uuid: str | None = None
    port: str | None = None
    fixed_ip: str | None = None


class BlockDevice(BaseModel):
    source_type: str
    destination_type: str = "local"
    volume_size: int | None = Field(default=None, ge=1)
    uuid: str | None = None
    boot_index: int | str | None = None
    delete_on_termination: bool = False


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    flavorRef: str
    imageRef: str = ""
    networks: list[NetworkEntry] | Literal["auto", "none"] | None = None
    block_device_mapping_v2: list[BlockDevice] | None = None
    availability_zone: str | None = None
    min_count: int = Field(default=1, ge=1)
    max_count: int = Field(default=1, ge=1)


class ServerCreateRequest(BaseModel):
    server: ServerCreate


def _ref(value: str) -> str:
    """A reference may be an id or a URL ending in one, as Nova accepts."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def _visible(session: Session, server_id: str, caller: AuthContext) -> Instance:
    instance = session.scalar(
        select(Instance)
        .where(Instance.uuid == server_id, Instance.deleted.is_(False))
        .options(selectinload(Instance.faults), selectinload(Instance.block_devices))
    )
    if instance is None or (not caller.is_admin and instance.project_id != caller.project_id):
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return instance


class Workflows:
    """The Temporal client, connected on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client


def _rejection(exc: WorkflowUpdateFailedError) -> ApiError:
    cause: BaseException | None = exc.cause
    while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return ApiError(HTTP_STATUS.get(cause.type or "", 400), cause.message)
    return ApiError(500, "The request failed before it was accepted.")


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = common.create_app("compute", nova_error)
    app.state.sessions = sessions
    app.state.token_validator = validator
    workflows = Workflows(settings)

    @app.middleware("http")
    async def microversion(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["OpenStack-API-Version"] = f"compute {MIN_VERSION}"
        response.headers["X-OpenStack-Nova-API-Version"] = MIN_VERSION
        response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response

    @app.get("/")
    def versions(request: Request) -> dict[str, Any]:
        return {"versions": [_version_doc(_base(request))]}

    @app.get("/v2.1")
    @app.get("/v2.1/")
    def version(request: Request) -> dict[str, Any]:
        return {"version": _version_doc(_base(request))}

    async def _accept(operation: WithStartWorkflowOperation[Any, Any], update: Any) -> None:
        client = await workflows.client()
        try:
            await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    update, start_workflow_operation=operation
                ),
                ACCEPT_TIMEOUT,
            )
        except WorkflowUpdateFailedError as exc:
            raise _rejection(exc) from exc
        except TimeoutError as exc:
            raise ApiError(
                503,
                "The compute service did not accept the request in time; it may still be "
                "processed. Check the server list before retrying.",
            ) from exc
        except RPCError as exc:
            log.error("Temporal refused a request: %s", exc.message)
            raise ApiError(
                503, f"The compute service could not start the request: {exc.message}"
            ) from exc

    @app.post("/v2.1/servers", status_code=202)
    async def create_server(body: ServerCreateRequest, caller: Auth, request: Request) -> Any:
        server = body.server
        if server.min_count != 1 or server.max_count != 1:
            raise ApiError(
                400,
                "Creating several servers in one request is not supported yet; "
                "send one request per server.",
            )
        volume_size = None
        for bdm in server.block_device_mapping_v2 or []:
            if bdm.source_type == "blank" and bdm.destination_type == "volume" and bdm.volume_size:
                volume_size = bdm.volume_size
            elif bdm.source_type != "image":
                raise ApiError(
                    400,
                    "Only a new blank volume (source_type blank, destination_type "
                    "volume, volume_size) is supported in block_device_mapping_v2.",
                )
        networks = await asyncio.to_thread(_networks, server.networks)
        instance_uuid = str(uuid.uuid4())
        boot = BootRequest(
            instance_uuid=instance_uuid,
            name=server.name,
            flavor_ref=_ref(server.flavorRef),
            image_ref=_ref(server.imageRef),
            networks=networks,
            auth_token=caller.token,
            request_id=f"req-{uuid.uuid4()}",
            volume_size_gb=volume_size,
            availability_zone=server.availability_zone,
        )
        volume = f", a new {volume_size} GiB volume" if volume_size else ""
        operation = WithStartWorkflowOperation(
            BootInstance.run,
            boot,
            id=f"boot-{instance_uuid}",
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            task_queue=task_queues.CONTROL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.INSTANCE_UUID, instance_uuid),
                    SearchAttributePair(sa.INSTANCE_NAME, server.name),
                    SearchAttributePair(sa.PROJECT_ID, caller.project_id),
                    SearchAttributePair(sa.VM_STATE, VmState.BUILDING),
                    SearchAttributePair(sa.TASK_STATE, sa.NONE),
                ]
            ),
            static_summary=f"boot {server.name}",
            static_details=(
                f"Server **{server.name}** ({instance_uuid}) for {caller.user_name} in "
                f"project {caller.project_name}: flavor {boot.flavor_ref}, image "
                f"{boot.image_ref}, networks {', '.join(n.network_id for n in networks) or 'none'}"
                f"{volume}. Request {boot.request_id}."
            ),
        )
        await _accept(operation, BootInstance.accepted)
        base = _base(request)
        return JSONResponse(
            {
                "server": {
                    "id": instance_uuid,
                    "links": views._link(base, "servers", instance_uuid),
                    "OS-DCF:diskConfig": "MANUAL",
                    "security_groups": [{"name": "default"}],
                }
            },
            status_code=202,
            headers={"Location": f"{base}/v2.1/servers/{instance_uuid}"},
        )

    def _networks(requested: list[NetworkEntry] | str | None) -> list[NetworkRequest]:
        if requested == "none":
            return []
        if requested is None or requested == "auto":
            raise ApiError(
                400,
                'Name the network to boot on (networks: [{"uuid": ...}]); '
                "automatic allocation is not supported.",
            )
        assert isinstance(requested, list)
        out = []
        for entry in requested:
            if entry.port or not entry.uuid:
                raise ApiError(
                    400,
                    "Each network must be given by its uuid; booting on an "
                    "existing port is not supported.",
                )
            out.append(NetworkRequest(entry.uuid))
        return out

    def _servers(
        session: Session, caller: AuthContext, all_tenants: str | None, name: str | None
    ) -> list[Instance]:
        query = (
            select(Instance)
            .where(Instance.deleted.is_(False))
            .options(selectinload(Instance.faults), selectinload(Instance.block_devices))
            .order_by(Instance.created_at.desc(), Instance.uuid)
        )
        if not (caller.is_admin and all_tenants not in (None, "0", "false", "False")):
            query = query.where(Instance.project_id == caller.project_id)
        if name:
            query = query.where(Instance.name == name)
        return list(session.scalars(query))

    @app.get("/v2.1/servers")
    def list_servers(
        caller: Auth,
        session: DbSession,
        request: Request,
        all_tenants: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        base = _base(request)
        return {
            "servers": [
                views.server_brief(base, i) for i in _servers(session, caller, all_tenants, name)
            ]
        }

    @app.get("/v2.1/servers/detail")
    def list_servers_detail(
        caller: Auth,
        session: DbSession,
        request: Request,
        all_tenants: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        base = _base(request)
        return {
            "servers": [
                views.server_detail(base, i, caller.is_admin)
                for i in _servers(session, caller, all_tenants, name)
            ]
        }

    @app.get("/v2.1/servers/{server_id}")
    def show_server(
        server_id: str, caller: Auth, session: DbSession, request: Request
    ) -> dict[str, Any]:
        instance = _visible(session, server_id, caller)
        view = views.server_detail(_base(request), instance, caller.is_admin)
        leftovers = _leftovers(session, [instance.uuid], None)
        if leftovers:
            view["bootflow:leftovers"] = [views.leftover_view(x) for x in leftovers]
        return {"server": view}

    @app.delete("/v2.1/servers/{server_id}", status_code=204)
    async def delete_server(server_id: str, caller: Auth) -> Response:
        operation = WithStartWorkflowOperation(
            DeleteInstance.run,
            DeleteRequest(server_id, caller.token, f"req-{uuid.uuid4()}"),
            id=f"delete-{server_id}",
            static_summary=f"delete server {server_id}",
            # A delete already running for this server is the one to wait on.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=task_queues.CONTROL,
        )
        await _accept(operation, DeleteInstance.accepted)
        return Response(status_code=204)

    @app.post("/v2.1/servers/{server_id}/action")
    async def server_action(server_id: str, body: dict[str, Any], caller: Auth) -> Any:
        """Server actions; os-getConsoleOutput (``openstack console log show``) so far."""
        if len(body) != 1:
            raise ApiError(400, "A server action request names exactly one action.")
        ((action, args),) = body.items()
        if action != "os-getConsoleOutput":
            raise ApiError(400, f"There is no such action: {action}")
        length = _console_length((args or {}).get("length") if isinstance(args, dict) else None)

        def instance_host() -> str | None:
            with sessions.begin() as session:
                return _visible(session, server_id, caller).host

        host = await asyncio.to_thread(instance_host)
        if host is None:
            raise ApiError(409, f"Instance {server_id} is not ready: it is on no host yet.")
        return JSONResponse({"output": await _console_output(server_id, host, length)})

    async def _console_output(server_id: str, host: str, length: int | None) -> str:
        client = await workflows.client()
        try:
            result = await asyncio.wait_for(
                client.execute_workflow(
                    ConsoleOutputWorkflow.run,
                    ConsoleOutputInput(server_id, host, length),
                    id=f"console-{server_id}-{uuid.uuid4()}",
                    task_queue=task_queues.CONTROL,
                ),
                CONSOLE_TIMEOUT,
            )
        except WorkflowFailureError as exc:
            cause: BaseException | None = exc.cause
            while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError):
                cause = cause.cause
            if isinstance(cause, ApplicationError) and cause.type in HTTP_STATUS:
                raise ApiError(HTTP_STATUS[cause.type], cause.message) from exc
            raise ApiError(409, f"The console of instance {server_id} is not available.") from exc
        except (TimeoutError, RPCError) as exc:
            raise ApiError(503, f"Host {host} did not answer for the console in time.") from exc
        # As Nova: control characters other than tab and newline are removed.
        return _CONSOLE_CONTROL_CHARS.sub("", result.output)

    def _instance_for_actions(session: Session, server_id: str, caller: AuthContext) -> Instance:
        """Actions stay visible after a delete, as Nova's (deleted servers included)."""
        instance = session.get(Instance, server_id)
        if instance is None or (not caller.is_admin and instance.project_id != caller.project_id):
            raise ApiError(404, f"Instance {server_id} could not be found.")
        return instance

    @app.get("/v2.1/servers/{server_id}/os-instance-actions")
    def list_actions(server_id: str, caller: Auth, session: DbSession) -> dict[str, Any]:
        _instance_for_actions(session, server_id, caller)
        found = session.scalars(
            select(InstanceAction)
            .where(InstanceAction.instance_uuid == server_id)
            .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
        )
        return {"instanceActions": [views.action_view(a) for a in found]}

    @app.get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
    def show_action(
        server_id: str, request_id: str, caller: Auth, session: DbSession
    ) -> dict[str, Any]:
        _instance_for_actions(session, server_id, caller)
        action = session.scalar(
            select(InstanceAction)
            .where(
                InstanceAction.instance_uuid == server_id, InstanceAction.request_id == request_id
            )
            .options(selectinload(InstanceAction.events))
        )
        if action is None:
            raise ApiError(
                404, f"Action for request_id {request_id} on instance {server_id} not found"
            )
        view = views.action_view(action)
        view["events"] = [views.event_view(e, caller.is_admin) for e in action.events]
        return {"instanceAction": view}

    @app.get("/v2.1/os-leftovers")
    def list_leftovers(caller: Auth, session: DbSession) -> dict[str, Any]:
        """What undo steps could not remove (bootflow's own; Nova has no such list)."""
        project = None if caller.is_admin else caller.project_id
        return {"leftovers": [views.leftover_view(x) for x in _leftovers(session, None, project)]}

    @app.get("/v2.1/flavors")
    def list_flavors(_caller: Auth, session: DbSession, request: Request) -> dict[str, Any]:
        base = _base(request)
        return {"flavors": [views.flavor_view(base, f, detail=False) for f in _flavors(session)]}

    @app.get("/v2.1/flavors/detail")
    def list_flavors_detail(_caller: Auth, session: DbSession, request: Request) -> dict[str, Any]:
        base = _base(request)
        return {"flavors": [views.flavor_view(base, f, detail=True) for f in _flavors(session)]}

    @app.get("/v2.1/flavors/{flavor_id}")
    def show_flavor(
        flavor_id: str, _caller: Auth, session: DbSession, request: Request
    ) -> dict[str, Any]:
        flavor = session.scalar(select(Flavor).where(Flavor.flavorid == flavor_id))
        if flavor is None:
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        return {"flavor": views.flavor_view(_base(request), flavor, detail=True)}

    return app


# os-getConsoleOutput: how long the API waits for the host, and what it strips (as Nova).
CONSOLE_TIMEOUT = 45.0
_CONSOLE_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f]")


def _console_length(value: Any) -> int | None:
    """Nova's ``length``: lines from the end, an integer (or its string) of -1 or more;
    -1 or null for the whole log."""
    if value is None:
        return None
    try:
        length = int(value)
    except (TypeError, ValueError):
        length = -2
    if isinstance(value, bool) or length < -1:
        raise ApiError(400, f"Invalid input for field/attribute length. Value: {value}.")
    return None if length == -1 else length


def _leftovers(
    session: Session, instance_uuids: list[str] | None, project_id: str | None
) -> list[Leftover]:
    query = select(Leftover).where(Leftover.resolved_at.is_(None)).order_by(Leftover.created_at)
    if instance_uuids is not None:
        query = query.where(Leftover.instance_uuid.in_(instance_uuids))
    if project_id is not None:
        query = query.where(Leftover.project_id == project_id)
    return list(session.scalars(query))


def _flavors(session: Session) -> list[Flavor]:
    return list(
        session.scalars(
            select(Flavor)
            .where(Flavor.disabled.is_(False), Flavor.is_public.is_(True))
            .order_by(Flavor.memory_mb, Flavor.flavorid)
        )
    )
