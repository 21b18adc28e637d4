"""Per-project quotas on networks, subnets, ports and routers, counted from the rows
themselves; a project's limits are the service's defaults or what an admin set through
Neutron's quota API (``quota_api.py``).

As Neutron's quota driver counts resources (no usage table that could drift from them), a
create inserts its row, then counts the project's rows of that kind and refuses (409
``OverQuota``, the request's transaction rolled back) if there are more than the limit.

Race-free: the count runs under a lock of that (resource, project) held until commit. On
PostgreSQL it is a transaction-level advisory lock; the count is a new statement, so under
READ COMMITTED it sees every create that held the lock before. SQLite's transactions are
serialized (``BEGIN IMMEDIATE``). The lock is taken last, after every row lock the request
takes, and its holder then only counts and commits: it never waits while holding it, so it
cannot deadlock with the requests queued behind it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from fastapi import Depends, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import NetworkQuotaOptions
from db.models.network import Network, NetworkQuota, Port, Router, Subnet
from services.common.app import ApiError

Resource = Literal["network", "subnet", "port", "router"]
RESOURCES: Final[tuple[Resource, ...]] = ("network", "subnet", "port", "router")
# Each resource's owner column: a project's rows are what its quota counts.
_OWNER: Final = {
    "network": Network.project_id,
    "subnet": Subnet.project_id,
    "port": Port.project_id,
    "router": Router.project_id,
}


@dataclass(frozen=True)
class Limits:
    """A project's limits (Neutron's [quotas] quota_network, quota_subnet, quota_port,
    quota_router);
    negative means unlimited, as in Neutron."""

    network: int
    subnet: int
    port: int
    router: int

    @classmethod
    def from_settings(cls, settings: NetworkQuotaOptions) -> Limits:
        return cls(
            network=settings.quota_network,
            subnet=settings.quota_subnet,
            port=settings.quota_port,
            router=settings.quota_router,
        )

    def of(self, resource: Resource) -> int:
        limit: int = getattr(self, resource)
        return limit


def over_quota(resource: Resource) -> ApiError:
    return ApiError(409, f"Quota exceeded for resources: ['{resource}'].", "OverQuota")


def used(session: Session, resource: Resource, project_id: str) -> int:
    owner = _OWNER[resource]
    return int(session.scalar(select(func.count(owner)).where(owner == project_id)) or 0)


def _lock(session: Session, resource: Resource, project_id: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    name = f"network-quota:{resource}:{project_id}".encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
    session.execute(select(func.pg_advisory_xact_lock(key)))


def project_limits(session: Session, defaults: Limits, project_id: str) -> dict[Resource, int]:
    """The project's limits: what the quota API set for it, else the service's default."""
    rows = session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id))
    given = {row.resource: row.limit for row in rows}
    return {resource: given.get(resource, defaults.of(resource)) for resource in RESOURCES}


def check(session: Session, limits: Limits, resource: Resource, project_id: str) -> None:
    """After the new row is flushed: 409 OverQuota if the project now holds more than its
    limit (the request then rolls back, the new row with it)."""
    limit = project_limits(session, limits, project_id)[resource]
    if limit < 0:
        return
    _lock(session, resource, project_id)
    if used(session, resource, project_id) > limit:
        raise over_quota(resource)


async def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.quota_limits
    return limits


# FastAPI dependency: the service's quota limits.
Quotas = Annotated[Limits, Depends(_limits)]
