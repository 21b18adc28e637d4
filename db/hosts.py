"""A compute host's ``compute_nodes`` row, as the conductor API writes it for the host's
worker (Nova's resource tracker, through nova-conductor): its capacity on start, its
heartbeat every few seconds. Usage is the claims' (``scheduler.claims.sync_usage``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.conductor import HostCapacity
from db.base import utcnow
from db.models.compute import ComputeNode


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
