"""Reads and writes of instance records shared by activities and the compute API."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, select, update

from core.conductor import ABSENT, InstanceOnHost
from core.messages import InstanceRecord
from core.states import REBUILD_TASK_STATES, VmState
from db.base import utcnow
from db.models.compute import Instance, Leftover
from db.session import SessionFactory, engine_of


def record_of(instance: Instance) -> InstanceRecord:
    return InstanceRecord(
        uuid=instance.uuid,
        name=instance.name,
        project_id=instance.project_id,
        vm_state=instance.vm_state,
        task_state=instance.task_state,
        host=instance.host,
    )


# Built once, run on a plain connection: host steps write it on every boot (db.session.engine_of).
_SET_TASK_STATE = (
    update(Instance)
    .where(Instance.uuid == bindparam("instance_uuid"), Instance.vm_state == VmState.BUILDING)
    .values(task_state=bindparam("task_state"))
)


def set_task_state(sessions: SessionFactory, instance_uuid: str, task_state: str | None) -> None:
    """Move a building instance to ``task_state`` (as Nova's compute manager saves it)."""
    with engine_of(sessions).begin() as connection:
        write_task_state(connection, instance_uuid, task_state)


def write_task_state(connection: Connection, instance_uuid: str, task_state: str | None) -> None:
    """As ``set_task_state``, in the caller's transaction."""
    connection.execute(_SET_TASK_STATE, {"instance_uuid": instance_uuid, "task_state": task_state})


def instance_name(sessions: SessionFactory, instance_uuid: str) -> str | None:
    with sessions.begin() as session:
        return session.scalar(select(Instance.name).where(Instance.uuid == instance_uuid))


def placements(
    sessions: SessionFactory, instance_uuids: Iterable[str], host: str
) -> dict[str, InstanceOnHost]:
    """What ``host`` may hold of each of ``instance_uuids`` (ABSENT for one with no record)."""
    wanted = set(instance_uuids)
    with sessions.begin() as session:
        rows = session.execute(
            select(
                Instance.uuid,
                Instance.deleted,
                Instance.host,
                Instance.vm_state,
                Instance.task_state,
                Instance.addresses,
                Instance.preserved_ports,
            ).where(Instance.uuid.in_(wanted))
        ).all()
    out = dict.fromkeys(wanted, ABSENT)
    for uuid, deleted, placed, vm_state, task_state, addresses, preserved in rows:
        macs = None
        if vm_state == VmState.ACTIVE:
            macs = frozenset(
                str(ip.get("OS-EXT-IPS-MAC:mac_addr"))
                for ips in (addresses or {}).values()
                for ip in ips
            )
        out[uuid] = InstanceOnHost(
            # A failed server's guest goes, unless a rebuild is making it again.
            here=not deleted
            and placed == host
            and (vm_state != VmState.ERROR or task_state in REBUILD_TASK_STATES),
            macs=macs,
            preserved=frozenset(preserved or []),
        )
    return out


def resolve_leftovers(sessions: SessionFactory, instance_uuid: str, host: str) -> int:
    """Mark the instance's leftovers on ``host`` resolved (what they named is gone now)."""
    with sessions.begin() as session:
        result = session.execute(
            update(Leftover)
            .where(
                Leftover.instance_uuid == instance_uuid,
                Leftover.host == host,
                Leftover.resolved_at.is_(None),
            )
            .values(resolved_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def active_instances(sessions: SessionFactory, host: str) -> list[str]:
    """Uuids of the instances ``host`` should be running."""
    with sessions.begin() as session:
        return list(
            session.scalars(
                select(Instance.uuid).where(
                    Instance.host == host,
                    Instance.vm_state == VmState.ACTIVE,
                    Instance.deleted.is_(False),
                )
            )
        )
