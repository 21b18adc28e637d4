"""Instance actions and their events, as Nova's ``server event list`` shows them.

An action is one request (create, delete, reschedule) carried out by one workflow; each
activity attempt of that workflow on the instance is an event, with its host, start and
finish, and whether it succeeded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, insert, literal, select, update
from sqlalchemy.orm import Session

from db.base import UTCDateTime, utcnow
from db.models import InstanceAction, InstanceActionEvent
from db.session import SessionFactory


def start_action(
    session: Session,
    *,
    instance_uuid: str,
    action: str,
    request_id: str,
    user_id: str,
    project_id: str,
    workflow_id: str,
) -> InstanceAction:
    """The workflow's action on the instance, created once (a retry finds it)."""
    found = session.scalar(
        select(InstanceAction).where(
            InstanceAction.workflow_id == workflow_id,
            InstanceAction.instance_uuid == instance_uuid,
        )
    )
    if found is None:
        found = InstanceAction(
            instance_uuid=instance_uuid,
            action=action,
            request_id=request_id,
            user_id=user_id,
            project_id=project_id,
            workflow_id=workflow_id,
        )
        session.add(found)
        session.flush()
    return found


def finish_action(session: Session, workflow_id: str, message: str | None = None) -> None:
    session.execute(
        update(InstanceAction)
        .where(InstanceAction.workflow_id == workflow_id, InstanceAction.finish_time.is_(None))
        .values(finish_time=utcnow(), message=message)
    )


def start_event(
    sessions: SessionFactory,
    workflow_id: str,
    instance_uuid: str,
    event: str,
    host: str | None,
    attempt: int,
    started_at: datetime | None = None,
) -> int | None:
    """Record that an activity attempt began; its id, or None when the instance's action
    does not exist (yet): steps before the record is written belong to no action.

    One INSERT ... SELECT, not ORM objects: every step of every boot writes one (a host
    worker spent a quarter of its CPU on these rows through the ORM; docs/performance.md)."""
    action = select(
        InstanceAction.id,
        literal(event, String()),
        literal(host, String()),
        literal(attempt, Integer()),
        literal(started_at or utcnow(), UTCDateTime()),
    ).where(
        InstanceAction.workflow_id == workflow_id,
        InstanceAction.instance_uuid == instance_uuid,
    )
    insert_event = (
        insert(InstanceActionEvent)
        .from_select(["action_id", "event", "host", "attempt", "start_time"], action)
        .returning(InstanceActionEvent.id)
    )
    with sessions.begin() as session:
        return session.connection().execute(insert_event).scalar()


def finish_event(sessions: SessionFactory, event_id: int, error: str | None) -> None:
    with sessions.begin() as session:
        session.connection().execute(
            update(InstanceActionEvent)
            .where(InstanceActionEvent.id == event_id)
            .values(finish_time=utcnow(), result="Error" if error else "Success", details=error)
        )


def list_actions(session: Session, instance_uuid: str, action: str) -> list[InstanceAction]:
    return list(
        session.scalars(
            select(InstanceAction).where(
                InstanceAction.instance_uuid == instance_uuid, InstanceAction.action == action
            )
        )
    )
