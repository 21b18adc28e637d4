"""What the operator's APIs share about hosts: each bootflow host is one nova-compute
service with one hypervisor (compute node), both read from the ``compute_nodes`` row its
compute worker keeps.

Before 2.53 both are named by the row's integer id; from 2.53 by uuids derived from the
host name (stable across restarts). A service is up while its heartbeat is younger than
``service_down_seconds``. The APIs: ``hypervisors`` (os-hypervisors), ``compute_services``
(os-services), ``zones`` (os-availability-zone and the os-aggregates zones imply).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.compute import ComputeNode, Instance
from services.common.app import ApiError
from services.compute import microversions as mv
from services.compute.context import ApiContext
from services.compute.views import service_is_up

COMPUTE_BINARY: Final = "nova-compute"
# Fixed namespaces: a host's hypervisor and service uuids are the same on every start.
_HYPERVISOR_NS: Final = uuid.UUID("6a1d6f2e-3f3c-4b7e-9a55-9d2f0c1b7a10")
_SERVICE_NS: Final = uuid.UUID("0e8f4f52-6f7b-4d0c-8f1e-2a4c3b5d6e71")
DEFAULT_ZONE: Final = "nova"


def hypervisor_uuid(host: str) -> str:
    return str(uuid.uuid5(_HYPERVISOR_NS, host))


def service_uuid(host: str) -> str:
    return str(uuid.uuid5(_SERVICE_NS, host))


def require_admin(ctx: ApiContext, rule: str) -> None:
    if not ctx.is_admin:
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def nodes(session: Session) -> list[ComputeNode]:
    return list(session.scalars(select(ComputeNode).order_by(ComputeNode.id)))


def hypervisor_id(ctx: ApiContext, node: ComputeNode) -> int | str:
    return hypervisor_uuid(node.host) if ctx.at_least(mv.SERVICE_UUIDS) else node.id


def service_id(ctx: ApiContext, node: ComputeNode) -> int | str:
    return service_uuid(node.host) if ctx.at_least(mv.SERVICE_UUIDS) else node.id


def state(ctx: ApiContext, node: ComputeNode) -> str:
    """Nova's service state: up while the heartbeat is recent."""
    return "up" if service_is_up(node, ctx.service_down_seconds) else "down"


def status(node: ComputeNode) -> str:
    return "disabled" if node.disabled else "enabled"


def servers_on(session: Session, host: str) -> list[Instance]:
    return list(
        session.scalars(
            select(Instance)
            .where(Instance.host == host, Instance.deleted.is_(False))
            .order_by(Instance.created_at)
        )
    )


async def _host_ip(request: Request) -> str:
    host: str = request.app.state.settings.bind_host
    return host


# FastAPI dependency: the address the hosts' hypervisors report (bootflow's bind host).
HostIp = Annotated[str, Depends(_host_ip)]
