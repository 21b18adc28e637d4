"""Atomic claims: a host's usage grows only by a conditional UPDATE that re-checks capacity.

``UPDATE compute_nodes SET used = used + n WHERE host = h AND used + n <= total * ratio``
is atomic on both databases (PostgreSQL re-evaluates the WHERE on the locked row; SQLite
serializes writers), so concurrent claims can never overcommit a host. The claim row, keyed
by instance uuid, makes a retried claim find the first one instead of claiming twice.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, delete, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models.compute import Claim, ComputeNode, Instance
from scheduler.host_state import RequestSpec, resources_fit
from scheduler.manager import group_allows

node = ComputeNode


def claim(
    session: Session,
    spec: RequestSpec,
    host: str,
    only_if: ColumnElement[bool] | None = None,
) -> bool:
    """Hold the request's resources on ``host``; False if they no longer fit there, its
    server group's policy no longer allows it, or its row fails ``only_if`` (a further
    condition checked in the same UPDATE, such as ``filters.up_and_enabled``).

    Three statements when it succeeds: the node's UPDATE, the claim's INSERT (which finds a
    claim the instance already holds: then that one answers) and the instance's host."""
    if not group_allows(session, spec, host):
        return _held_on(session.connection(), spec.instance_uuid) == host
    conn = session.connection()
    if not _take(conn, spec, host, only_if):
        return _held_on(conn, spec.instance_uuid) == host
    inserted = conn.execute(
        _insert_claim(conn)
        .values(
            instance_uuid=spec.instance_uuid,
            host=host,
            vcpus=spec.vcpus,
            memory_mb=spec.memory_mb,
            disk_gb=spec.root_gb,
        )
        .on_conflict_do_nothing(index_elements=[Claim.instance_uuid])
        .returning(Claim.instance_uuid)
    ).first()
    if inserted is None:  # a claim made before (a retry): give this one back
        _give_back(conn, host, spec.vcpus, spec.memory_mb, spec.root_gb)
        return _held_on(conn, spec.instance_uuid) == host
    conn.execute(update(Instance).where(Instance.uuid == spec.instance_uuid).values(host=host))
    return True


def _insert_claim(conn: Connection) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(Claim)
    return sqlite.insert(Claim)


def _held_on(conn: Connection, instance_uuid: str) -> str | None:
    """The host of the claim the instance holds, if any."""
    return conn.scalar(select(Claim.host).where(Claim.instance_uuid == instance_uuid))


def _take(
    conn: Connection, spec: RequestSpec, host: str, only_if: ColumnElement[bool] | None
) -> bool:
    """The conditional UPDATE: the host's usage grows only if the request still fits."""
    result = conn.execute(
        update(node)
        .where(node.host == host, true() if only_if is None else only_if, resources_fit(spec))
        .values(
            vcpus_used=node.vcpus_used + spec.vcpus,
            memory_mb_used=node.memory_mb_used + spec.memory_mb,
            local_gb_used=node.local_gb_used + spec.root_gb,
            running_vms=node.running_vms + 1,
        )
    )
    return result.rowcount == 1


def _give_back(conn: Connection, host: str, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    conn.execute(
        update(node)
        .where(node.host == host)
        .values(
            vcpus_used=node.vcpus_used - vcpus,
            memory_mb_used=node.memory_mb_used - memory_mb,
            local_gb_used=node.local_gb_used - disk_gb,
            running_vms=node.running_vms - 1,
        )
    )


def release(session: Session, instance_uuid: str) -> bool:
    """Give a claim's resources back; False if there was no claim (already released).

    The claim is deleted first and the amounts taken from what the DELETE returns: of two
    releases that overlap, only the one whose DELETE removed the row gives back (the other
    waits on the row's lock, then finds it gone)."""
    conn = session.connection()
    held = conn.execute(
        delete(Claim)
        .where(Claim.instance_uuid == instance_uuid)
        .returning(Claim.host, Claim.vcpus, Claim.memory_mb, Claim.disk_gb)
    ).first()
    if held is None:
        return False
    _give_back(conn, held.host, held.vcpus, held.memory_mb, held.disk_gb)
    conn.execute(
        update(Instance)
        .where(Instance.uuid == instance_uuid, Instance.host == held.host)
        .values(host=None)
    )
    return True


def sync_usage(session: Session, host: str) -> None:
    """Set a host's usage to the sum of its claims (Nova's update_available_resource).

    The node row is locked first, so claims in flight have committed before the sum is read.
    """
    node = session.scalar(select(ComputeNode).where(ComputeNode.host == host).with_for_update())
    if node is None:
        return
    claims = list(session.scalars(select(Claim).where(Claim.host == host)))
    node.vcpus_used = sum(c.vcpus for c in claims)
    node.memory_mb_used = sum(c.memory_mb for c in claims)
    node.local_gb_used = sum(c.disk_gb for c in claims)
    node.running_vms = len(claims)
