"""Reads and writes of instance records shared by activities and the compute API."""

from __future__ import annotations

from sqlalchemy import select, update

from bootflow.messages import InstanceRecord
from bootflow.states import VmState
from db.models import Instance
from db.session import SessionFactory


def record_of(instance: Instance) -> InstanceRecord:
    return InstanceRecord(
        uuid=instance.uuid,
        name=instance.name,
        project_id=instance.project_id,
        vm_state=instance.vm_state,
        task_state=instance.task_state,
        host=instance.host,
    )


def set_task_state(sessions: SessionFactory, instance_uuid: str, task_state: str | None) -> None:
    """Move a building instance to ``task_state`` (as Nova's compute manager saves it)."""
    with sessions.begin() as session:
        session.execute(
            update(Instance)
            .where(Instance.uuid == instance_uuid, Instance.vm_state == VmState.BUILDING)
            .values(task_state=task_state)
        )


def instance_name(sessions: SessionFactory, instance_uuid: str) -> str | None:
    with sessions.begin() as session:
        return session.scalar(select(Instance.name).where(Instance.uuid == instance_uuid))
