"""The work behind the server routes: a create checked against quotas, zones, groups and
ports, then one ``BootInstance`` per server started and accepted; a delete started as
``DeleteInstance``. Handlers get the one ``ServerApi`` of the app through ``Api``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, WorkflowIDConflictPolicy

from clients.errors import ClientError, NotFound
from clients.network import NetworkClient
from clients.service_account import service_session
from core import search_attributes as sa
from core import task_queues
from core.config import ComputeApiOptions, ComputeQuotaOptions, ServiceAccountOptions
from core.messages import BootRequest, DeleteRequest, KeyPairSpec, NetworkRequest
from core.states import TaskState, VmState
from core.workflow_ids import boot_workflow_id, delete_workflow_id
from db import quotas
from db.models.compute import ComputeNode, Flavor, Instance, ServerGroup, ServerGroupMember
from db.session import SessionFactory
from services.common.app import ApiError, unavailable
from services.compute import views
from services.compute.compute_quotas import limit_of, over
from services.compute.context import ApiContext
from services.compute.create import CreatePlan
from services.compute.keypairs import boot_key
from services.compute.metadata_quota import check_count
from services.compute.temporal_calls import Workflows, instance_attributes
from workflows.boot_instance import BootInstance
from workflows.delete_instance import DeleteInstance

log = logging.getLogger(__name__)


@dataclass
class CreateResult:
    """The boots a create request started (each accepted) and its reservation id."""

    boots: list[BootRequest]
    reservation_id: str


# Built once: building a statement costs about as much as running it.
_INSTANCE = (
    select(Instance)
    .where(Instance.uuid == bindparam("uuid"))
    .options(selectinload(Instance.faults), selectinload(Instance.block_devices))
)
_LIVE_INSTANCE = _INSTANCE.where(Instance.deleted.is_(False))


def visible_instance(
    session: Session, server_id: str, ctx: ApiContext, *, deleted: bool = False
) -> Instance:
    """The caller's server (any server for an admin), or Nova's 404."""
    query = _INSTANCE if deleted else _LIVE_INSTANCE
    return visible(session.scalar(query, {"uuid": server_id}), server_id, ctx)


def visible(instance: Instance | None, server_id: str, ctx: ApiContext) -> Instance:
    """``instance`` (server ``server_id`` as read) if the caller may see it, or Nova's 404."""
    if instance is None or (not ctx.is_admin and instance.project_id != ctx.caller.project_id):
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return instance


def _nic_text(nic: NetworkRequest) -> str:
    return f"port {nic.port_id} on {nic.network_id}" if nic.port_id else nic.network_id


def quota_defaults(settings: ComputeQuotaOptions) -> dict[str, int]:
    """A project's quotas where none is set for it, by resource (db.quotas.RESOURCES)."""
    return dict(
        instances=settings.quota_instances,
        cores=settings.quota_cores,
        ram=settings.quota_ram_mb,
        disk=settings.quota_disk_gb,
    )


@dataclass(frozen=True)
class Placement:
    vm_state: str
    host: str | None


class ServerApi:
    """The server routes' shared state: settings, database, Temporal, an HTTP pool."""

    def __init__(
        self,
        options: ComputeApiOptions,
        quota: ComputeQuotaOptions,
        account: ServiceAccountOptions,
        sessions: SessionFactory,
        workflows: Workflows,
    ) -> None:
        self.options = options
        self.quota = quota
        self.sessions = sessions
        self.workflows = workflows
        self.http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        # Finds the endpoints for requests made with a user's own token (acting_as).
        self.service = service_session(account, self.http)

    # -- create ---------------------------------------------------------------------------

    def count_to_boot(self, ctx: ApiContext, plan: CreatePlan) -> int:
        """How many servers to boot: max_count, fewer if the quota or the per-request bound
        holds fewer (never under min_count: that is Nova's 403 naming the quota, or a 400),
        decided before a single boot is built; and the request's own checks of the zone
        and the server group."""
        with self.sessions.begin() as session:
            if plan.availability_zone is not None:
                zones = set(
                    session.scalars(
                        select(ComputeNode.availability_zone).where(ComputeNode.disabled.is_(False))
                    )
                )
                if plan.availability_zone not in zones:
                    raise ApiError(
                        400,
                        "The requested availability zone is not available "
                        f"(available: {', '.join(sorted(zones)) or 'none'}).",
                    )
            check_count(session, ctx.caller.project_id, plan.metadata)
            count = plan.max_count
            if plan.max_count > 1:
                count = self._fit_in_quota(session, ctx, plan)
                count = self._fit_in_request(plan, count)
            for group_id in plan.scheduler_hints.get("group", []):
                self._check_group(session, ctx, group_id, count)
            return count

    def _fit_in_quota(self, session: Session, ctx: ApiContext, plan: CreatePlan) -> int:
        """max_count, or as many as the project's quota holds (403 below min_count)."""
        flavor = session.scalar(
            select(Flavor).where(Flavor.flavorid == plan.flavor_ref, Flavor.disabled.is_(False))
        )
        project = ctx.caller.project_id
        limit = quotas.limits(session, project, quota_defaults(self.quota))
        used = quotas.usage(session, project)
        # An unknown flavor is the boot's to refuse (naming the flavors there are); the
        # instances quota bounds the request all the same.
        deltas = {"instances": 1}
        if flavor is not None:
            # A server booted from a volume has no local root disk (Nova's is_bfv).
            disk = 0 if plan.boot_volume else flavor.root_gb
            deltas |= {"cores": flavor.vcpus, "ram": flavor.memory_mb, "disk": disk}
        count = plan.max_count
        for resource in quotas.RESOURCES:
            if limit[resource] < 0 or deltas.get(resource, 0) <= 0:
                continue
            room = max(limit[resource] - used[resource], 0) // deltas[resource]
            if room < plan.min_count:
                raise ApiError(
                    403,
                    str(
                        quotas.QuotaExceeded(
                            resource,
                            plan.min_count * deltas[resource],
                            used[resource],
                            limit[resource],
                        )
                    ),
                )
            count = min(count, room)
        return count

    def _fit_in_request(self, plan: CreatePlan, count: int) -> int:
        """``count``, or the most one request boots (400 when min_count asks for more)."""
        most = self.options.max_servers_per_request
        if plan.min_count > most:
            raise ApiError(
                400,
                f"min_count {plan.min_count} is more than the {most} servers one request may "
                "boot (BOOTFLOW_MAX_SERVERS_PER_REQUEST); send several requests.",
            )
        return min(count, most)

    def _check_group(self, session: Session, ctx: ApiContext, group_id: str, count: int) -> None:
        group = session.get(ServerGroup, group_id)
        if (
            group is None
            or group.deleted
            or (not ctx.is_admin and group.project_id != ctx.caller.project_id)
        ):
            raise ApiError(400, f"Instance group {group_id} could not be found.")
        members = session.scalar(
            select(func.count())
            .select_from(ServerGroupMember)
            .join(Instance, Instance.uuid == ServerGroupMember.instance_uuid)
            .where(ServerGroupMember.group_uuid == group_id, Instance.deleted.is_(False))
        )
        allowed = limit_of(session, ctx.caller.project_id, "server_group_members")
        if over(allowed, int(members or 0) + count):
            raise ApiError(
                403,
                "Quota exceeded, too many servers in group: "
                f"{group_id} has {members} of at most {allowed}.",
            )

    def networks_for(self, ctx: ApiContext, plan: CreatePlan) -> list[NetworkRequest]:
        """The NICs: the networks named, none, or (``auto``, or nothing said before 2.37) the
        project's only network, found as Nova finds it (its own, then shared; never
        external) with the user's own token."""
        if plan.networks == "none":
            return []
        if isinstance(plan.networks, list):
            return [self._nic(ctx, n, plan.networks[:i]) for i, n in enumerate(plan.networks)]
        try:
            found = NetworkClient(self.service.acting_as(ctx.caller.token)).list_networks()
        except ClientError as exc:
            raise unavailable(f"Could not list the project's networks: {exc}") from exc
        usable = [
            n
            for n in found
            if not n.get("router:external")
            and (n.get("shared") or n.get("project_id") == ctx.caller.project_id)
        ]
        if len(usable) > 1:
            names = ", ".join(f"{n.get('name') or n['id']} ({n['id']})" for n in usable)
            raise ApiError(
                409,
                "Multiple possible networks found, use a Network ID to be more specific. "
                f"Networks: {names}.",
            )
        if usable:
            return [NetworkRequest(usable[0]["id"])]
        if plan.networks == "auto":
            raise ApiError(
                400,
                f"Unable to automatically allocate a network for project "
                f"{ctx.caller.project_id}: it has no network, and bootflow does not create "
                'one. Create a network, or boot with networks "none".',
            )
        return []

    def _nic(
        self, ctx: ApiContext, nic: NetworkRequest, before: list[NetworkRequest]
    ) -> NetworkRequest:
        """A NIC as the boot carries it; a user's port is checked as Nova's validate_networks
        checks it (it exists for the user, is the caller's project's unless the caller is
        admin, and is bound to no device), and stands for its network."""
        port_id = nic.port_id
        if not port_id:
            return NetworkRequest(nic.network_id)
        if any(b.port_id == port_id for b in before):
            raise ApiError(409, f"Port {port_id} is still in use.")
        try:
            # With the user's own token: a port the user cannot see is not found.
            port = NetworkClient(self.service.acting_as(ctx.caller.token)).get_port(port_id)
        except NotFound as exc:
            raise ApiError(400, f"Port id {port_id} could not be found.") from exc
        except ClientError as exc:
            raise unavailable(f"Could not show port {port_id}: {exc}") from exc
        owner = port.get("project_id") or port.get("tenant_id")
        if owner != ctx.caller.project_id and not ctx.is_admin:
            raise ApiError(
                400,
                f"Port {port_id} not usable for instance: it belongs to project {owner}, not "
                f"to {ctx.caller.project_id}.",
            )
        if port.get("device_id"):
            raise ApiError(409, f"Port {port_id} is still in use.")
        if not port.get("fixed_ips"):
            raise ApiError(400, f"Port {port_id} requires a FixedIP in order to be used.")
        return NetworkRequest(network_id=str(port["network_id"]), port_id=port_id)

    async def create(self, ctx: ApiContext, plan: CreatePlan) -> CreateResult:
        count = await asyncio.to_thread(self.count_to_boot, ctx, plan)
        networks = await asyncio.to_thread(self.networks_for, ctx, plan)
        key = await asyncio.to_thread(self._boot_key, ctx, plan.key_name)
        request_id = ctx.request_id
        # As Nova's multi_instance_display_name_template: name-1 .. name-N.
        names = [plan.name] if count == 1 else [f"{plan.name}-{i}" for i in range(1, count + 1)]
        boots = [
            BootRequest(
                instance_uuid=str(uuid.uuid4()),
                name=name,
                flavor_ref=plan.flavor_ref,
                image_ref=plan.image_ref,
                networks=list(networks),
                auth_token=ctx.caller.token,
                request_id=request_id,
                volume_size_gb=plan.volume_size_gb,
                boot_volume=plan.boot_volume,
                availability_zone=plan.availability_zone,
                scheduler_hints={k: list(v) for k, v in plan.scheduler_hints.items()},
                key=key,
                metadata=dict(plan.metadata),
                description=plan.description,
                access_ip_v4=plan.access_ip_v4,
                access_ip_v6=plan.access_ip_v6,
                hostname=plan.hostname,
            )
            for name in names
        ]
        # The first alone: a request every boot would refuse is refused once.
        await self._start(ctx, boots[0])
        results = await asyncio.gather(
            *(self._start(ctx, boot) for boot in boots[1:]), return_exceptions=True
        )
        accepted = [boots[0]]
        refused: list[BaseException] = []
        for boot, result in zip(boots[1:], results, strict=True):
            if isinstance(result, BaseException):
                refused.append(result)
            else:
                accepted.append(boot)
        if refused and len(accepted) < plan.min_count:
            # Fewer than min_count: none is kept, as Nova fails the whole request.
            await asyncio.gather(
                *(self.delete(ctx, b.instance_uuid, f"req-{uuid.uuid4()}") for b in accepted),
                return_exceptions=True,
            )
            raise refused[0]
        for error in refused:
            log.warning("one server of a multi-create was refused: %s", error)
        return CreateResult(accepted, views.reservation_id(request_id))

    def _boot_key(self, ctx: ApiContext, name: str | None) -> KeyPairSpec | None:
        if name is None:
            return None
        with self.sessions.begin() as session:
            return boot_key(session, ctx.caller.user_id, name)

    async def _start(self, ctx: ApiContext, boot: BootRequest) -> None:
        volume = f", a new {boot.volume_size_gb} GiB volume" if boot.volume_size_gb else ""
        root = boot.boot_volume
        image = f"image {boot.image_ref}"
        if root is not None:
            image = f"root volume {'from image ' if root.source_type == 'image' else ''}{root.uuid}"
        hints = f", hints {boot.scheduler_hints}" if boot.scheduler_hints else ""
        workflow_id = boot_workflow_id(boot.instance_uuid)
        operation = WithStartWorkflowOperation(
            BootInstance.run,
            boot,
            id=workflow_id,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            task_queue=task_queues.CONTROL,
            search_attributes=instance_attributes(
                boot.instance_uuid,
                boot.name,
                ctx.caller.project_id,
                # As Nova's API creates the instance: building, scheduling. The boot then
                # upserts nothing until a host is chosen (each upsert is a visibility
                # write; docs/performance.md).
                SearchAttributePair(sa.VM_STATE, VmState.BUILDING),
                SearchAttributePair(sa.TASK_STATE, TaskState.SCHEDULING),
            ),
            static_summary=f"boot {boot.name}",
            static_details=(
                f"Server **{boot.name}** ({boot.instance_uuid}) for {ctx.caller.user_name} in "
                f"project {ctx.caller.project_name}: flavor {boot.flavor_ref}, {image}, networks "
                f"{', '.join(_nic_text(n) for n in boot.networks) or 'none'}{volume}{hints}. "
                f"Request {boot.request_id}."
            ),
        )
        await self.workflows.accept(operation, BootInstance.accepted, workflow_id, withdraw=True)

    async def delete(self, ctx: ApiContext, server_id: str, request_id: str | None = None) -> None:
        workflow_id = delete_workflow_id(server_id)
        operation = WithStartWorkflowOperation(
            DeleteInstance.run,
            DeleteRequest(server_id, ctx.caller.token, request_id or ctx.request_id),
            id=workflow_id,
            static_summary=f"delete server {server_id}",
            # A delete already running for this server is the one to wait on.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=task_queues.CONTROL,
        )
        await self.workflows.accept(operation, DeleteInstance.accepted, workflow_id, withdraw=False)

    # -- reads ----------------------------------------------------------------------------

    def placement(self, ctx: ApiContext, server_id: str) -> Placement:
        """Where the caller's server is and in what state (404 if it may not see it)."""
        with self.sessions.begin() as session:
            instance = visible_instance(session, server_id, ctx)
            return Placement(instance.vm_state, instance.host)


async def _server_api(request: Request) -> ServerApi:
    api: ServerApi = request.app.state.server_api
    return api


# FastAPI dependency: the app's ServerApi.
Api = Annotated[ServerApi, Depends(_server_api)]
