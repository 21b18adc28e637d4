"""The operator's view of boots: search attributes, the progress query, history export and
replay through the CLI (issue: CLI, Web UI, replay, secrets)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from bootflow.seed import stored_secret
from clients.compute import ComputeClient
from core.messages import BootProgress
from core.temporal import connect, data_converter
from tests.histories import LOCAL_ACTIVITY_MARKER
from tests.support.history import assert_sealed, input_token
from tests.support.stack import TINY_SERVER, RunningStack, wait_until

pytestmark = pytest.mark.e2e


def boot(stack: RunningStack, name: str, *extra: str) -> str:
    result = stack.cli(
        "server",
        "create",
        name,
        *TINY_SERVER,
        *extra,
        "-f",
        "json",
    )
    assert result.code in (0, 1), result.err
    return str(result.json()["id"])


def visible(stack: RunningStack, query: str) -> list[str]:
    async def ask() -> list[str]:
        client = await connect(stack.settings)
        return [w.id async for w in client.list_workflows(query)]

    return asyncio.run(ask())


def indexed_upserts(stack: RunningStack, workflow_id: str) -> list[dict[str, bytes]]:
    """The search attributes the history's start set, then those each
    UpsertWorkflowSearchAttributes event set."""

    async def fetch() -> list[dict[str, bytes]]:
        client = await connect(stack.settings)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        start = history.events[0].workflow_execution_started_event_attributes
        indexed = [start.search_attributes] + [
            event.upsert_workflow_search_attributes_event_attributes.search_attributes
            for event in history.events
            if event.HasField("upsert_workflow_search_attributes_event_attributes")
        ]
        return [{k: p.data for k, p in u.indexed_fields.items()} for u in indexed]

    return asyncio.run(fetch())


def test_search_attributes_find_boots_by_state_host_and_name(stack: RunningStack) -> None:
    ok = boot(stack, "op-indexed", "--wait")
    failed = boot(stack, "op-failspawn", "--wait")
    host = stack.instance(ok).host  # type: ignore[union-attr]
    # Visibility lags a little behind the history: poll.
    found = wait_until(
        lambda: visible(
            stack, f'VmState="active" AND InstanceUUID="{ok}" AND ComputeHost="{host}"'
        ),
        timeout=20,
    )
    assert found == [f"boot-{ok}"]
    assert wait_until(
        lambda: visible(stack, 'VmState="error" AND InstanceName="op-failspawn"'), timeout=20
    ) == [f"boot-{failed}"]
    assert visible(stack, f'VmState="error" AND InstanceUUID="{ok}"') == []
    # Each upsert changes something, starting from what the start indexed: an unchanged
    # state costs no event or visibility write. The SDK upserts TemporalChangeVersion once
    # per patch a run takes: the patches since the baseline, local-control-steps,
    # claim-moves-task-state-on, then fetch-image-beside-ports (each upsert carries every
    # patch taken so far).
    started, *upserts = indexed_upserts(stack, f"boot-{ok}")
    assert [json.loads(started[k]) for k in ("VmState", "TaskState")] == ["building", "scheduling"]
    versions = [
        json.loads(u["TemporalChangeVersion"]) for u in upserts if "TemporalChangeVersion" in u
    ]
    local, claim, beside = (
        "local-control-steps",
        "claim-moves-task-state-on",
        "fetch-image-beside-ports",
    )
    assert versions == [[local], [claim, local], [claim, beside, local]]
    indexed = dict(started)
    for fields in (u for u in upserts if "TemporalChangeVersion" not in u):
        assert any(indexed.get(k) != v for k, v in fields.items()), (fields, indexed)
        indexed |= fields
    assert [json.loads(indexed[k]) for k in ("VmState", "TaskState")] == ["active", "none"]
    for uuid in (ok, failed):
        assert stack.cli("server", "delete", uuid, "--wait").code == 0
    deleted = wait_until(
        lambda: visible(stack, f'VmState="deleted" AND InstanceUUID="{ok}"'), timeout=20
    )
    assert deleted == [f"delete-{ok}"]


def test_progress_query_and_server_show_agree(stack: RunningStack) -> None:
    uuid = boot(stack, "op-slowspawn")  # spawn takes 4 s (the fault plan's delay)
    wait_until(
        lambda: (r := stack.instance(uuid)) is not None and r.task_state == "spawning", timeout=60
    )

    async def query() -> BootProgress:
        client: Client = await connect(stack.settings)
        handle = client.get_workflow_handle(f"boot-{uuid}")
        return await handle.query("progress", result_type=BootProgress)

    progress = asyncio.run(query())
    shown = ComputeClient(stack.demo()).get_server(uuid)
    assert progress.stage in ("fetch image", "spawn")
    assert progress.task_state == shown["OS-EXT-STS:task_state"] == "spawning"
    assert progress.vm_state == shown["OS-EXT-STS:vm_state"] == "building"
    assert [d.stage for d in progress.done][:5] == [
        "authenticate",
        "validate",
        "create record",
        "schedule",
        "allocate port",
    ]
    assert all(d.seconds >= 0 for d in progress.done)

    wait_until(lambda: stack.instance(uuid).vm_state == "active", timeout=60)  # type: ignore[union-attr]
    final = asyncio.run(query())
    assert (final.stage, final.vm_state, final.task_state) == ("active", "active", None)
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_the_timeline_reads_like_the_boot(stack: RunningStack) -> None:
    """The Web UI's view: the workflow's summary and details, each activity's summary (the
    timeline, local activities' markers included) naming its stage and host, and where the
    boot was placed among how many."""
    uuid = boot(stack, "op-timeline", "--wait")
    host = stack.instance(uuid).host  # type: ignore[union-attr]

    async def read() -> tuple[str | None, str | None, list[str], str]:
        client = await connect(stack.settings)
        handle = client.get_workflow_handle(f"boot-{uuid}")
        described = await handle.describe()
        summaries = []
        async for event in handle.fetch_history_events():
            # A regular step's scheduled event, or a local step's marker: both say it.
            marker = event.marker_recorded_event_attributes.marker_name
            if event.HasField("activity_task_scheduled_event_attributes") or (
                marker == LOCAL_ACTIVITY_MARKER
            ):
                assert event.HasField("user_metadata"), event
                [text] = await client.data_converter.decode([event.user_metadata.summary], [str])
                summaries.append(text)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        return (
            await described.static_summary(),
            await described.static_details(),
            summaries,
            metadata.current_details,
        )

    summary, details, summaries, current = asyncio.run(read())
    assert summary == "boot op-timeline"
    assert details is not None and f"**op-timeline** ({uuid})" in details
    placed = next(s for s in summaries if s.startswith("schedule: "))
    found = re.fullmatch(
        rf"schedule: {host} of (\d+) candidates; allocate port on private for {host}", placed
    )
    assert found is not None and 1 <= int(found[1]) <= 2, placed
    assert summaries == [
        "authenticate",
        "validate and reserve",
        "create instance record",
        # The claim moves the record on to networking; spawning takes a step of its own.
        "schedule m1.tiny: choose and claim a host",
        placed,
        # The image is fetched while the port is allocated, as Nova prepares the disks
        # while it allocates the network.
        f"fetch image cirros into {host}'s cache",
        "task_state spawning",
        f"spawn on {host}",
        f"mark active on {host}",
    ]
    assert current == f"active on {host}"
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_flavor_network_and_volume_lists(stack: RunningStack) -> None:
    flavors = stack.cli("flavor", "list", "-f", "json")
    assert flavors.code == 0, flavors.err
    tiny = next(f for f in flavors.json() if f["Name"] == "m1.tiny")
    assert tiny == {
        "ID": tiny["ID"],
        "Name": "m1.tiny",
        "RAM": 512,
        "Disk": 1,
        "VCPUs": 1,
        "Is Public": True,
    }
    assert {"m1.tiny", "m1.small", "m1.medium"} <= {f["Name"] for f in flavors.json()}
    table = stack.cli("flavor", "list")
    assert table.code == 0 and "m1.small" in table.out
    assert all(h in table.out.splitlines()[1] for h in ("ID", "Name", "RAM", "VCPUs"))

    networks = stack.cli("network", "list", "-f", "json")
    assert networks.code == 0, networks.err
    private = next(n for n in networks.json() if n["Name"] == "private")
    assert set(private) == {"ID", "Name", "Subnets"} and private["Subnets"]
    named = stack.cli("network", "list", "-f", "value", "-c", "Name")
    assert "private" in named.out.split()

    uuid = boot(stack, "op-volumes", "--wait", "--volume-size", "1")
    volumes = stack.cli("volume", "list", "-f", "json")
    assert volumes.code == 0, volumes.err
    [attached] = [v for v in volumes.json() if v["Attached to"] == [uuid]]
    assert (attached["Name"], attached["Status"], attached["Size"]) == (
        f"{uuid}-blank-vol",
        "in-use",
        1,
    )
    listed = stack.cli("volume", "list", "-c", "ID", "-c", "Status", "-f", "value")
    assert f"{attached['ID']} in-use" in listed.out.splitlines()
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    after = stack.cli("volume", "list", "-f", "value", "-c", "ID")
    assert attached["ID"] not in after.out


def test_history_export_and_replay_through_the_cli(stack: RunningStack, tmp_path: Path) -> None:
    uuid = boot(stack, "op-replay", "--wait", "--volume-size", "1")
    exported = tmp_path / "boot.json"
    result = stack.cli("history", "export", f"boot-{uuid}", "-o", str(exported))
    assert result.code == 0, result.err
    text = exported.read_text()
    # The file holds the user's token sealed (in the workflow input) and never readable:
    # every payload is encrypted, and neither the token nor the password is in any
    # payload's decoded bytes or anywhere else in an event.
    codec = data_converter(stack.settings).payload_codec
    assert codec is not None
    token = asyncio.run(input_token(exported, codec))
    password = stored_secret(stack.settings, "demo_password")
    assert_sealed(exported, [token, password])
    assert token not in text and password not in text
    events = len(json.loads(text)["events"])

    for args in (("replay", "--file", str(exported)), ("replay", f"boot-{uuid}")):
        replayed = stack.cli(*args)
        assert replayed.code == 0, replayed.err
        assert replayed.out.startswith(
            f"replayed {events} events, deterministic, ended in completed: "
        )
        assert f'"instance_uuid": "{uuid}", "vm_state": "active"' in replayed.out

    # A history the code no longer matches: one line naming the event where it diverged and
    # core's nondeterminism message, no core WARN lines; exit 1.
    raw = json.loads(text)
    fetch = next(
        e
        for e in raw["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "fetch_image"
    )
    fetch["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "fetch_image_v0"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(raw))
    diverged = stack.cli("replay", "--file", str(tampered))
    assert diverged.code == 1
    assert diverged.err.count("\n") == 1, diverged.err
    assert diverged.err.startswith(
        f"Error: replay of tampered diverged at event {fetch['eventId']} "
        f"(activity task scheduled) of {events}: [TMPRL1100] Nondeterminism error: "
    ), diverged.err
    assert "'fetch_image_v0'" in diverged.err and "Failure {" not in diverged.err
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_replay_needs_a_workflow_or_a_file(stack: RunningStack) -> None:
    result = stack.cli("replay")
    assert result.code == 2 and "workflow id or --file" in result.err


def test_image_create_uploads_the_file_and_reports_its_checksums(
    stack: RunningStack, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    result = stack.cli(
        "image",
        "create",
        "op-image",
        "--file",
        str(path),
        "--disk-format",
        "raw",
        "--property",
        "hw_architecture=x86_64",
        "-f",
        "json",
    )
    assert result.code == 0, result.err
    image = result.json()
    assert image["status"] == "active" and image["visibility"] == "private"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    listed = stack.cli("image", "list", "-f", "value", "-c", "Name")
    assert "op-image" in listed.out.split()
    bad = stack.cli("image", "create", "x", "--file", str(path), "--property", "novalue")
    assert bad.code == 2 and "KEY=VALUE" in bad.err
    stack.image_client().delete_image(image["id"])
