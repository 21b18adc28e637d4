"""A compute host's ``compute_nodes`` row, as the conductor API writes it for the host's
worker (Nova's resource tracker, through nova-conductor): its capacity on start, its
heartbeat every few seconds. Usage is the claims' (``scheduler.claims.sync_usage``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.conductor import HostCapacity
from db.base import utcnow
from db.models.compute import Claim, ComputeNode


def report(session: Session, host: str, capacity: HostCapacity) -> None:
    """Write the host's capacity and zone (a new row for a new host), and a heartbeat."""
    values = dataclasses.asdict(capacity) | {"heartbeat_at": utcnow()}
    node = session.scalar(select(ComputeNode).where(ComputeNode.host == host))
    if node is None:
        session.add(ComputeNode(host=host, **values))
        return
    for key, value in values.items():
        setattr(node, key, value)


def heartbeat(session: Session, hosts: Collection[str]) -> list[str]:
    """Mark ``hosts`` alive now, in one statement; those with no row (never reported), sorted."""
    beaten = session.scalars(
        update(ComputeNode)
        .where(ComputeNode.host.in_(set(hosts)))
        .values(heartbeat_at=utcnow())
        .returning(ComputeNode.host)
        .execution_options(synchronize_session=False)
    )
    return sorted(set(hosts) - set(beaten))


def usage_drifted(session: Session, hosts: Collection[str]) -> list[str]:
    """Those of ``hosts`` whose usage is not the sum of their claims, sorted: one read, so
    a heartbeat syncs only them (a claim and a release change both in one transaction, so
    usage drifts only when something bypassed them)."""
    names = set(hosts)
    totals = (
        select(
            Claim.host,
            func.sum(Claim.vcpus).label("vcpus"),
            func.sum(Claim.memory_mb).label("memory_mb"),
            func.sum(Claim.disk_gb).label("disk_gb"),
            func.count().label("vms"),
        )
        .where(Claim.host.in_(names))
        .group_by(Claim.host)
        .subquery()
    )
    drifted = session.scalars(
        select(ComputeNode.host)
        .outerjoin(totals, totals.c.host == ComputeNode.host)
        .where(ComputeNode.host.in_(names))
        .where(
            or_(
                ComputeNode.vcpus_used != func.coalesce(totals.c.vcpus, 0),
                ComputeNode.memory_mb_used != func.coalesce(totals.c.memory_mb, 0),
                ComputeNode.local_gb_used != func.coalesce(totals.c.disk_gb, 0),
                ComputeNode.running_vms != func.coalesce(totals.c.vms, 0),
            )
        )
    )
    return sorted(drifted)
