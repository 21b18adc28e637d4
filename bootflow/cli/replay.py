"""``bootflow history export`` and ``bootflow replay``: debug a boot from its history.

Replay runs the recorded history through the current workflow code with Temporal's
Replayer: it either reproduces every command the history holds (deterministic) or says at
which event and why the code now does something else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.worker import Replayer

from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.temporal import connect, data_converter


def replayer(codec: PayloadCodec | None) -> Replayer:
    from workers.control import WORKFLOWS

    converter = dataclasses.replace(DataConverter.default, payload_codec=codec)
    return Replayer(workflows=WORKFLOWS, data_converter=converter)


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
    converter = data_converter(obj.settings)
    result = asyncio.run(
        replayer(converter.payload_codec).replay_workflow(found, raise_on_replay_failure=False)
    )
    if result.replay_failure is not None:
        raise CliError(
            f"replay of {found.workflow_id} diverged after {len(found.events)} "
            f"events: {result.replay_failure}"
        )
    click.echo(
        f"replayed {len(found.events)} events, deterministic, ended in {_ending(found, converter)}"
    )
