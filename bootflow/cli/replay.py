"""``bootflow history export`` and ``bootflow replay``: debug a boot from its history.

Replay runs the recorded history through the current workflow code with Temporal's
Replayer: it either reproduces every command the history holds (deterministic) or says at
which event and why the code now does something else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any

import click
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from bootflow.cli.context import CliContext, CliError, pass_context
from core.temporal import connect, data_converter


@functools.cache
def _quiet_runtime() -> Runtime:
    """A runtime whose SDK core logs nothing: a divergence is reported once, by us, not also
    as core's WARN line ("Failing workflow task ...") on stderr."""
    return Runtime(telemetry=TelemetryConfig(logging=None))


def replayer(codec: PayloadCodec | None) -> Replayer:
    from workers.control import WORKFLOWS

    converter = dataclasses.replace(DataConverter.default, payload_codec=codec)
    return Replayer(workflows=WORKFLOWS, data_converter=converter, runtime=_quiet_runtime())


# The message inside core's ``Failure { failure: Some(Failure { message: "..." ...`` text.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_MAX_MESSAGE = 300


def failure_message(failure: Exception) -> str:
    """The one line that says why a replay failed, e.g. ``[TMPRL1100] Nondeterminism
    error: Activity type of scheduled event 'x' does not match ... 'y'``."""
    text = str(failure)
    found = _CORE_MESSAGE.search(text)
    if found:
        text = found.group(1).replace('\\"', '"').replace("\\\\", "\\")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


async def _fails(replaying: Replayer, found: WorkflowHistory, count: int) -> bool:
    prefix = WorkflowHistory(found.workflow_id, found.events[:count])
    result = await replaying.replay_workflow(prefix, raise_on_replay_failure=False)
    return result.replay_failure is not None


async def divergence_index(replaying: Replayer, found: WorkflowHistory) -> int:
    """The index of the first event the code no longer matches, for a history that fails to
    replay: the shortest failing prefix, found by bisection (a prefix that the code matches
    replays cleanly, since the commands after it are simply not in history yet)."""
    # A prefix of the started event alone never finishes replaying: start after the first
    # workflow task is scheduled (no command can come earlier).
    low, high = min(2, len(found.events)), len(found.events)
    while low < high:
        middle = (low + high) // 2
        if await _fails(replaying, found, middle):
            high = middle
        else:
            low = middle + 1
    return high - 1


def _event_name(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower().replace("_", " ")


async def _fetch(obj: CliContext, workflow_id: str) -> WorkflowHistory:
    client = await connect(obj.settings)
    return await client.get_workflow_handle(workflow_id).fetch_history()


@click.group()
def history() -> None:
    """Workflow histories."""


@history.command("export")
@click.argument("workflow_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="File to write the history to (JSON, payloads still encrypted).",
)
@pass_context
def export(obj: CliContext, workflow_id: str, output: Path) -> None:
    """Write a workflow's history to a file (e.g. boot-<server id>)."""
    found = asyncio.run(_fetch(obj, workflow_id))
    output.write_text(json.dumps(found.to_json_dict(), indent=1) + "\n")
    click.echo(f"wrote {len(found.events)} events of {workflow_id} to {output}")


def _ending(found: WorkflowHistory, converter: DataConverter) -> str:
    last = found.events[-1]
    kind = EventType.Name(last.event_type).removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_")
    if last.HasField("workflow_execution_completed_event_attributes"):
        payloads = last.workflow_execution_completed_event_attributes.result.payloads
        values: list[Any] = asyncio.run(converter.decode(payloads)) if payloads else []
        return f"completed: {json.dumps(values[0]) if values else 'no result'}"
    if last.HasField("workflow_execution_failed_event_attributes"):
        failure = last.workflow_execution_failed_event_attributes.failure
        return f"failed: {failure.message or '(message encrypted)'}"
    return kind.lower().replace("_", " ")


@click.command()
@click.argument("workflow_id", required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, path_type=Path),
    help="Replay an exported history instead of fetching one.",
)
@pass_context
def replay(obj: CliContext, workflow_id: str | None, path: Path | None) -> None:
    """Replay a workflow's history against the current workflow code."""
    if (workflow_id is None) == (path is None):
        raise click.UsageError("give a workflow id or --file, one of them")
    if path is not None:
        found = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    else:
        assert workflow_id is not None
        found = asyncio.run(_fetch(obj, workflow_id))
    if not found.events:
        raise CliError(f"the history of {found.workflow_id} has no events")
    converter = data_converter(obj.settings)
    replaying = replayer(converter.payload_codec)
    result = asyncio.run(replaying.replay_workflow(found, raise_on_replay_failure=False))
    if result.replay_failure is not None:
        event = found.events[asyncio.run(divergence_index(replaying, found))]
        what = "diverged" if isinstance(result.replay_failure, NondeterminismError) else "failed"
        raise CliError(
            f"replay of {found.workflow_id} {what} at event {event.event_id} "
            f"({_event_name(event.event_type)}) of {len(found.events)}: "
            f"{failure_message(result.replay_failure)}"
        )
    click.echo(
        f"replayed {len(found.events)} events, deterministic, ended in {_ending(found, converter)}"
    )
