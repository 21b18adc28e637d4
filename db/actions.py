"""Instance actions and their events, as Nova's ``server event list`` shows them.

An action is one request (create, delete, reschedule) carried out by one workflow; each
activity attempt of that workflow on the instance is an event, with its host, start and
finish, and whether it succeeded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.conductor import StepEvent
from db.base import UTCDateTime, utcnow
from db.instances import instance_name
from db.models.compute import InstanceAction, InstanceActionEvent
from db.session import SessionFactory, engine_of


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
    """The workflow's action on the instance, created once (a retry finds it). A server
    action's workflow id (``stop-<uuid>``) is used again by the next such action, which
    gets an action of its own: only an unfinished one is found."""
    found = session.scalar(
        select(InstanceAction).where(
            InstanceAction.workflow_id == workflow_id,
            InstanceAction.instance_uuid == instance_uuid,
            InstanceAction.finish_time.is_(None),
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


# Built once: every attempt of every step writes these rows, and building the statements
# each time (with their cache keys) cost more than running them.
_START_EVENT = (
    insert(InstanceActionEvent)
    .from_select(
        ["action_id", "event", "host", "attempt", "start_time", "finish_time", "result", "details"],
        select(
            InstanceAction.id,
            bindparam("event", type_=String()),
            bindparam("host", type_=String()),
            bindparam("attempt", type_=Integer()),
            bindparam("start_time", type_=UTCDateTime()),
            bindparam("finish_time", type_=UTCDateTime()),
            bindparam("result", type_=String()),
            bindparam("details", type_=Text()),
        )
        .where(
            InstanceAction.workflow_id == bindparam("workflow_id"),
            InstanceAction.instance_uuid == bindparam("instance_uuid"),
        )
        # The newest: a server action's workflow id names every stop (start, ...) of it.
        .order_by(InstanceAction.id.desc())
        .limit(1),
    )
    .returning(InstanceActionEvent.id)
)
_FINISH_EVENT = (
    update(InstanceActionEvent)
    .where(InstanceActionEvent.id == bindparam("event_id"))
    .values(
        finish_time=bindparam("finish_time"),
        result=bindparam("result"),
        details=bindparam("details"),
    )
)


def start_event(
    sessions: SessionFactory,
    workflow_id: str,
    instance_uuid: str,
    event: str,
    host: str | None,
    attempt: int,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    error: str | None = None,
) -> int | None:
    """Record that an activity attempt began (and, given ``finished_at``, that it ended);
    its id, or None when the instance's action does not exist (yet): steps before the
    record is written belong to no action.

    One INSERT ... SELECT on a plain connection, not ORM objects: every step of every boot
    writes one (docs/performance.md)."""
    with engine_of(sessions).begin() as connection:
        return connection.execute(
            _START_EVENT,
            {
                "event": event,
                "host": host,
                "attempt": attempt,
                "start_time": started_at or utcnow(),
                "finish_time": finished_at,
                "result": _result(error) if finished_at else None,
                "details": error if finished_at else None,
                "workflow_id": workflow_id,
                "instance_uuid": instance_uuid,
            },
        ).scalar()


def finish_event(sessions: SessionFactory, event_id: int, error: str | None) -> None:
    with engine_of(sessions).begin() as connection:
        connection.execute(
            _FINISH_EVENT,
            {
                "event_id": event_id,
                "finish_time": utcnow(),
                "result": _result(error),
                "details": error,
            },
        )


def _result(error: str | None) -> str:
    return "Error" if error else "Success"


def list_actions(session: Session, instance_uuid: str, action: str) -> list[InstanceAction]:
    return list(
        session.scalars(
            select(InstanceAction).where(
                InstanceAction.instance_uuid == instance_uuid, InstanceAction.action == action
            )
        )
    )


class EventLog:
    """The events written straight to the database (activities.hooks.EventRecorder): the
    control worker's, which is the control plane. A compute host records through the
    conductor API instead."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def start_event(self, step: StepEvent) -> int | None:
        return start_event(
            self.sessions,
            step.workflow_id,
            step.instance_uuid,
            step.event,
            step.host,
            step.attempt,
            step.started_at,
            step.finished_at,
            step.error,
        )

    def finish_event(self, event_id: int, error: str | None) -> None:
        finish_event(self.sessions, event_id, error)

    def instance_name(self, instance_uuid: str) -> str | None:
        return instance_name(self.sessions, instance_uuid)
