"""Instance actions and their events (what `server event list` shows), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from db import actions
from db.models.compute import InstanceActionEvent
from db.session import SessionFactory, make_engine, make_session_factory


def _with_a_boot_action(database_url: str) -> SessionFactory:
    """A database where instance i-1 has its boot's action (workflow boot-i-1)."""
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as s:
        actions.start_action(
            s,
            instance_uuid="i-1",
            action="create",
            request_id="req-1",
            user_id="u",
            project_id="p",
            workflow_id="boot-i-1",
        )
    return sessions


def test_events_belong_to_the_workflows_action_and_record_their_outcome(
    database_url: str,
) -> None:
    sessions = _with_a_boot_action(database_url)
    started = datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC)
    ok = actions.start_event(sessions, "boot-i-1", "i-1", "spawn", "node2", 1, started)
    failed = actions.start_event(sessions, "boot-i-1", "i-1", "allocate_port", None, 3)
    # A step before the record exists, or another workflow's, belongs to no action.
    assert actions.start_event(sessions, "boot-i-2", "i-2", "authenticate", None, 1) is None
    assert actions.start_event(sessions, "delete-i-1", "i-1", "spawn", None, 1) is None
    assert ok is not None and failed is not None and ok != failed
    actions.finish_event(sessions, ok, None)
    actions.finish_event(sessions, failed, "PortLimitExceeded: no more ports")

    with sessions.begin() as s:
        rows = {e.id: e for e in s.scalars(select(InstanceActionEvent))}
        assert set(rows) == {ok, failed}
        spawn, port = rows[ok], rows[failed]
        assert (spawn.event, spawn.host, spawn.attempt, spawn.result) == (
            "spawn",
            "node2",
            1,
            "Success",
        )
        assert spawn.start_time == started
        assert spawn.finish_time is not None and spawn.finish_time >= started
        assert (port.event, port.host, port.attempt, port.result) == (
            "allocate_port",
            None,
            3,
            "Error",
        )
        assert port.details == "PortLimitExceeded: no more ports"
        assert spawn.action_id == port.action_id


def test_a_step_that_ended_before_its_start_was_recorded_is_recorded_whole(
    database_url: str,
) -> None:
    sessions = _with_a_boot_action(database_url)
    started = datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC)
    ended = datetime(2026, 11, 24, 9, 0, 0, 4000, tzinfo=UTC)
    ok = actions.start_event(sessions, "boot-i-1", "i-1", "fetch_image", "n1", 1, started, ended)
    failed = actions.start_event(
        sessions, "boot-i-1", "i-1", "set_task_state", None, 1, started, ended, "OperationalError"
    )
    with sessions.begin() as s:
        rows = {e.id: e for e in s.scalars(select(InstanceActionEvent))}
    assert ok is not None and failed is not None
    assert (rows[ok].start_time, rows[ok].finish_time, rows[ok].result) == (
        started,
        ended,
        "Success",
    )
    assert rows[ok].details is None
    assert (rows[failed].result, rows[failed].details) == ("Error", "OperationalError")
