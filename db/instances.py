"""Reads and writes of instance records shared by activities and the compute API."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from bootflow.messages import InstanceRecord
from bootflow.states import VmState
from db.base import utcnow
from db.models import Instance, Leftover
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
        connection.execute(
            _SET_TASK_STATE, {"instance_uuid": instance_uuid, "task_state": task_state}
        )


def instance_name(sessions: SessionFactory, instance_uuid: str) -> str | None:
    with sessions.begin() as session:
        return session.scalar(select(Instance.name).where(Instance.uuid == instance_uuid))


def belongs_on(sessions: SessionFactory, instance_uuid: str, host: str) -> bool:
    """Whether ``host`` should be running the instance (it exists, is not deleted, and is
    placed there)."""
    with sessions.begin() as session:
        instance = session.get(Instance, instance_uuid)
        return instance is not None and not instance.deleted and instance.host == host


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
