"""A step's event (what `server event list` shows) costs the step at most one write or
conductor call: a quick step is recorded whole when it ends, a longer one's start is
recorded while it runs and its finish when it ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from activities import hooks
from activities.hooks import ActivityHooks, _Event
from core.conductor import MAX_EVENT_DETAILS, StepEvent
from core.faults import FaultPlan


@dataclass
class Recorder:
    """The event store, as the hooks see it; counts its calls."""

    started: list[StepEvent] = field(default_factory=list)
    finished: list[tuple[int, str | None]] = field(default_factory=list)

    def start_event(self, step: StepEvent) -> int | None:
        self.started.append(step)
        return len(self.started)

    def finish_event(self, event_id: int, error: str | None) -> None:
        self.finished.append((event_id, error))

    def instance_name(self, instance_uuid: str) -> str | None:
        return None


def _event(recorder: Recorder) -> _Event:
    return _Event(ActivityHooks(recorder, "node1", FaultPlan()), "boot-i-1", "i-1", "spawn", 2)


async def test_a_quick_step_is_recorded_whole_in_one_call() -> None:
    recorder = Recorder()
    await _event(recorder).finish(None)
    (step,) = recorder.started
    assert (step.event, step.host, step.attempt) == ("spawn", "node1", 2)
    assert step.finished_at is not None and step.finished_at >= step.started_at
    assert step.error is None
    assert recorder.finished == []


async def test_a_longer_step_shows_as_started_while_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hooks, "RECORD_START_AFTER_SECONDS", 0.01)
    recorder = Recorder()
    event = _event(recorder)
    await asyncio.sleep(0.2)
    (step,) = recorder.started
    assert step.finished_at is None  # running, as `server event list` shows it now
    await event.finish("BuildAbortException: " + "x" * 100_000)
    ((event_id, error),) = recorder.finished
    assert event_id == 1 and error is not None
    assert error.startswith("BuildAbortException: x") and len(error) == MAX_EVENT_DETAILS


async def test_a_quick_steps_error_is_cut_to_what_an_event_holds() -> None:
    recorder = Recorder()
    await _event(recorder).finish("ImageVerificationError: " + "y" * 100_000)
    (step,) = recorder.started
    assert step.error is not None and len(step.error) == MAX_EVENT_DETAILS


async def test_a_step_of_no_instance_records_nothing() -> None:
    recorder = Recorder()
    await _Event(ActivityHooks(recorder, None, FaultPlan()), None, None, "noop", 1).finish(None)
    assert recorder.started == [] and recorder.finished == []


async def test_an_event_the_store_would_refuse_never_fails_the_step() -> None:
    recorder = Recorder()
    longer_than_a_uuid = "floor-6fc6a292-58c4-4d1c-8f60-6b0398b5d821"
    event = _Event(ActivityHooks(recorder, "node1", FaultPlan()), "w", longer_than_a_uuid, "x", 1)
    await event.finish(None)
    assert recorder.started == []
