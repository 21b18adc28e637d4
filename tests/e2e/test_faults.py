"""Retries, compensation and faults that never leak a resource (the walking skeleton's
failure paths, end to end): steps that run twice, delete while building, leftovers, events."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from clients.compute import ComputeClient
from clients.errors import HttpError
from clients.image import ImageClient
from clients.network import NetworkClient
from core.temporal import connect
from db.models.compute import Instance, InstanceAction, InstanceActionEvent
from tests.e2e.conftest import demo_project
from tests.support.stack import TINY_SERVER, RunningStack, wait_until

pytestmark = pytest.mark.e2e

HOST_STEPS = ("allocate_port", "create_volume", "attach_volume", "fetch_image", "spawn")


def boot(stack: RunningStack, name: str, *extra: str) -> dict[str, object]:
    result = stack.cli(
        "server",
        "create",
        name,
        *TINY_SERVER,
        "--volume-size",
        "1",
        *extra,
        "-f",
        "json",
    )
    assert result.out, result.err
    body: dict[str, object] = result.json()
    return body


def events(stack: RunningStack, uuid: str, action: str) -> list[dict[str, object]]:
    listed = stack.cli("server", "event", "list", uuid, "-f", "json").json()
    (request_id,) = [a["Request ID"] for a in listed if a["Action"] == action]
    admin_view = stack.cli("server", "event", "show", uuid, request_id, "-f", "json")
    assert admin_view.code == 0, admin_view.err
    shown: list[dict[str, object]] = (
        __import__("clients.compute", fromlist=["ComputeClient"])
        .ComputeClient(stack.admin())
        .get_action(uuid, request_id)["events"]
    )
    return shown


def test_every_step_runs_twice_without_making_anything_twice(stack: RunningStack) -> None:
    project = demo_project(stack)
    before = stack.quota_usage(project).get("instances", 0)
    server = boot(stack, "f-twice", "--wait")
    assert server["status"] == "ACTIVE"
    uuid = str(server["id"])
    record = stack.instance(uuid)
    assert record is not None and record.host
    assert len(stack.ports_of(uuid)) == 1
    (volume,) = stack.volumes_of(uuid, project)
    assert volume["status"] == "in-use" and len(volume["attachments"]) == 1
    assert len(stack.claims(uuid)) == 1
    assert stack.quota_usage(project)["instances"] == before + 1
    assert [d.uuid for d in stack.domains(record.host).domains].count(uuid) == 1

    # Each step's event list shows the failed attempt, then the one that succeeded.
    seen = events(stack, uuid, "create")
    for step in (*HOST_STEPS, "schedule_and_claim", "mark_active"):
        results = [e["result"] for e in seen if e["event"] == step]
        assert results == ["Error", "Success"], (step, results)
    spawns = [e for e in seen if e["event"] == "spawn"]
    assert {e["host"] for e in spawns} == {record.host}
    assert "lost the answer of spawn" in str(spawns[0]["traceback"])

    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    assert stack.ports_of(uuid) == [] and stack.volumes_of(uuid, project) == []
    assert stack.quota_usage(project)["instances"] == before


def test_a_record_whose_step_then_fails_for_good_goes_with_the_rejection(
    stack: RunningStack,
) -> None:
    """create_instance_record commits, then its attempt fails past retrying: the request is
    rejected, so its record is removed (as any rejected request leaves none) and its quota
    released, instead of a server stuck in building/scheduling."""
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    result = stack.cli(
        "server",
        "create",
        "f-recordlost",
        *TINY_SERVER,
    )
    assert result.code == 1, result.out
    assert "injected: lost the answer of create_instance_record" in result.err
    with stack.sessions.begin() as s:
        actions = list(
            s.scalars(
                select(InstanceAction).where(
                    InstanceAction.action == "create",
                    InstanceAction.message.like("The request was not accepted%"),
                )
            )
        )
        left = list(s.scalars(select(Instance).where(Instance.name == "f-recordlost")))
    assert left == []
    (action,) = actions  # the record was written (the request's action says what became of it)
    uuid = action.instance_uuid
    assert stack.instance(uuid) is None
    assert stack.reservations(uuid) == 0 and stack.claims(uuid) == []
    assert stack.quota_usage(project) == usage
    # Not the request's fault: the compute API answers 500, as Nova does for an unexpected
    # error, not a 400 that would send the user to change a request that was fine.
    demo = stack.demo()
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    with pytest.raises(HttpError) as refused:
        ComputeClient(demo).create_server("api-recordlost", "1", image, [network])
    assert refused.value.status == 500, refused.value
    assert "lost the answer of create_instance_record" in refused.value.message


def test_host_steps_are_scheduled_with_heartbeat_timeouts(stack: RunningStack) -> None:
    """Each host step has a heartbeat timeout, so a compute worker killed mid-step is noticed
    in seconds, not at the step's start-to-close timeout."""
    server = boot(stack, "f-heartbeats", "--wait")
    assert server["status"] == "ACTIVE", server
    uuid = str(server["id"])
    assert stack.cli("server", "delete", uuid, "--wait").code == 0

    async def heartbeat_timeouts(workflow_id: str) -> dict[str, float]:
        client = await connect(stack.settings)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        out = {}
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                timeout = scheduled.heartbeat_timeout.ToTimedelta().total_seconds()
                out[scheduled.activity_type.name] = timeout
        return out

    boot_steps = asyncio.run(heartbeat_timeouts(f"boot-{uuid}"))
    assert all(boot_steps[step] > 0 for step in HOST_STEPS), boot_steps
    delete_steps = asyncio.run(heartbeat_timeouts(f"delete-{uuid}"))
    assert delete_steps["destroy_guest"] > 0, delete_steps


def test_delete_while_building_cancels_the_boot_and_leaves_nothing(stack: RunningStack) -> None:
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    server = boot(stack, "f-delete-held")  # held a minute before spawning: time to delete it
    uuid = str(server["id"])
    wait_until(lambda: stack.progress(uuid).stage == "spawn", timeout=60)
    started = time.monotonic()
    deleted = stack.cli("server", "delete", uuid, "--wait")
    assert deleted.code == 0, deleted.err
    assert time.monotonic() - started < 45  # the held step was cancelled, not waited out
    gone = stack.instance(uuid)
    assert gone is not None and gone.deleted and gone.vm_state == "deleted"
    assert gone.task_state is None
    assert stack.ports_of(uuid) == [] and stack.volumes_of(uuid, project) == []
    assert stack.claims(uuid) == [] and stack.reservations(uuid) == 0
    for host in ("node1", "node2"):
        assert uuid not in {d.uuid for d in stack.domains(host).domains}
    assert stack.quota_usage(project) == usage

    async def boot_status() -> WorkflowExecutionStatus | None:
        client = await connect(stack.settings)
        return (await client.get_workflow_handle(f"boot-{uuid}").describe()).status

    assert asyncio.run(boot_status()) == WorkflowExecutionStatus.CANCELED
    actions = stack.cli("server", "event", "list", uuid, "-f", "json").json()
    assert sorted(a["Action"] for a in actions) == ["create", "delete"]


def test_an_undo_that_fails_is_kept_as_a_leftover_not_dropped(stack: RunningStack) -> None:
    server = boot(stack, "f-leftover", "--wait")
    uuid = str(server["id"])
    assert server["status"] == "ERROR"
    assert server["leftovers"] == [
        "deallocate_ports: injected: the network service refused to delete"
    ]
    assert len(stack.ports_of(uuid)) == 1  # the port really is still there
    listed = stack.cli("leftovers", "-f", "json").json()
    assert [(x["Server ID"], x["Step"]) for x in listed] == [(uuid, "deallocate_ports")]
    admin_view = ComputeClient(stack.admin()).get_server(uuid)
    assert "not undone: deallocate_ports" in admin_view["fault"]["details"]
    # Everything else was undone; the errored server holds its quota until deleted.
    assert stack.claims(uuid) == [] and stack.reservations(uuid) == 1
    # Deleting the server later removes the port the undo left, and the leftover with it.
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    assert stack.ports_of(uuid) == [] and stack.reservations(uuid) == 0
    assert stack.cli("leftovers", "-f", "json").json() == []


def test_a_guest_an_undo_left_is_destroyed_by_the_delete(stack: RunningStack) -> None:
    """The undo could not destroy the guest, and released the claim (the record names no
    host now): the delete still destroys the guest where the leftover says it is, and only
    then calls the leftover resolved."""
    server = boot(stack, "f-guestleft", "--wait")
    uuid = str(server["id"])
    assert server["status"] == "ERROR"
    assert server["leftovers"] == [
        "destroy_guest: injected: the hypervisor refused to destroy the guest"
    ]
    record = stack.instance(uuid)
    assert record is not None and record.host is None
    (running_on,) = [
        h for h in ("node1", "node2") if uuid in {d.uuid for d in stack.domains(h).domains}
    ]
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    assert uuid not in {d.uuid for d in stack.domains(running_on).domains}
    assert stack.cli("leftovers", "-f", "json").json() == []


def test_a_host_failure_reschedules_to_an_alternate(stack: RunningStack) -> None:
    project = demo_project(stack)
    # A recent failed build on node2 makes node1 the first choice (BuildFailureWeigher);
    # node1's spawn fails (the fault plan), so the boot moves to node2, its alternate.
    stack.set_failed_builds("node2", 1)
    server = boot(stack, "f-reschedule", "--wait")
    assert server["status"] == "ACTIVE", server
    uuid = str(server["id"])
    record = stack.instance(uuid)
    failed_on = "node1"
    assert record is not None and record.host == "node2"
    assert stack.failed_builds() == {"node1": 1, "node2": 0}  # a success resets the count
    stack.set_failed_builds("node1", 0)

    actions = stack.cli("server", "event", "list", uuid, "-f", "json").json()
    (reschedule,) = [a for a in actions if a["Action"] == "reschedule"]
    assert reschedule["Message"].startswith(f"from {failed_on}: ")
    assert "injected: the host's hypervisor failed" in reschedule["Message"]
    spawns = [
        (e["host"], e["result"]) for e in events(stack, uuid, "create") if e["event"] == "spawn"
    ]
    assert spawns == [(failed_on, "Error"), (record.host, "Success")]

    # The failed host's part was undone there; the server holds one of each, on the new host.
    assert uuid not in {d.uuid for d in stack.domains(failed_on).domains}
    (port,) = stack.ports_of(uuid)
    assert port["binding:host_id"] == record.host
    (claim,) = stack.claims(uuid)
    assert claim.host == record.host
    (volume,) = stack.volumes_of(uuid, project)
    assert volume["status"] == "in-use"
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_a_guest_that_never_starts_exhausts_the_alternates(stack: RunningStack) -> None:
    server = boot(stack, "f-always-failspawn", "--wait")
    assert server["status"] == "ERROR"
    message = str(server["fault"]["message"])  # type: ignore[index]
    assert message.startswith("Exceeded maximum number of retries. Exhausted all hosts")
    assert "Hosts tried: node" in message and ", node" in message  # both hosts
    assert "injected: the domain failed to start" in message
    uuid = str(server["id"])
    assert stack.claims(uuid) == [] and stack.ports_of(uuid) == []
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_no_valid_host_says_which_filter_removed_the_hosts(stack: RunningStack) -> None:
    result = stack.cli(
        "server",
        "create",
        "f-too-big",
        "--flavor",
        "m1.medium",
        "--image",
        "cirros",
        "--network",
        "private",
        "--wait",
        "-f",
        "json",
    )
    assert result.code == 1
    server = result.json()
    assert server["status"] == "ERROR"
    assert server["fault"]["message"] == ("No valid host was found. 2 hosts; RamFilter removed 2.")
    assert stack.cli("server", "delete", str(server["id"]), "--wait").code == 0


def _started(stack: RunningStack, uuid: str, step: str) -> bool:
    """Whether the instance's ``step`` has begun (its event is written as it starts)."""
    with stack.sessions.begin() as s:
        found = s.scalar(
            select(InstanceActionEvent.id)
            .join(InstanceAction)
            .where(InstanceAction.instance_uuid == uuid, InstanceActionEvent.event == step)
        )
    return found is not None


def _boot_workflow(stack: RunningStack, uuid: str) -> WorkflowExecutionStatus | None:
    async def status() -> WorkflowExecutionStatus | None:
        client = await connect(stack.settings)
        return (await client.get_workflow_handle(f"boot-{uuid}").describe()).status

    return asyncio.run(status())


def _cancel_in_temporal(stack: RunningStack, workflow_id: str) -> None:
    """What the Web UI's Cancel and ``temporal workflow cancel`` do."""

    async def cancel() -> None:
        client = await connect(stack.settings)
        await client.get_workflow_handle(workflow_id).cancel(reason="operator: wrong flavor")

    asyncio.run(cancel())


def test_a_cancel_from_temporal_undoes_the_hosts_part_and_keeps_the_server_in_error(
    stack: RunningStack,
) -> None:
    """Cancelled mid-spawn from Temporal (no delete): the guest, port, volume and claim go,
    the server stays in ERROR saying so, and holds its quota until it is deleted."""
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    uuid = str(boot(stack, "f-cancel-held")["id"])  # held a minute before spawning
    wait_until(lambda: stack.progress(uuid).stage == "spawn", timeout=60)
    _cancel_in_temporal(stack, f"boot-{uuid}")
    wait_until(lambda: _boot_workflow(stack, uuid) != WorkflowExecutionStatus.RUNNING, timeout=90)
    assert _boot_workflow(stack, uuid) == WorkflowExecutionStatus.CANCELED

    assert stack.ports_of(uuid) == [] and stack.volumes_of(uuid, project) == []
    assert stack.claims(uuid) == []
    for host in ("node1", "node2"):
        assert uuid not in {d.uuid for d in stack.domains(host).domains}
    server = ComputeClient(stack.demo()).get_server(uuid)
    assert server["status"] == "ERROR" and server["OS-EXT-STS:task_state"] is None
    assert "cancelled in Temporal (operator: wrong flavor)" in server["fault"]["message"]
    # An ERROR server counts against the quota until deleted, as in Nova.
    assert stack.quota_usage(project)["instances"] == usage["instances"] + 1
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    assert stack.quota_usage(project) == usage


def test_a_delete_right_after_create_stops_the_boot_where_it_is(stack: RunningStack) -> None:
    """The delete's cancel arrives while scheduling runs; scheduling finishes anyway (a
    control step does not hear of it), and the boot stops there: no port, volume or guest
    is made, the boot ends cancelled, not active."""
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    uuid = str(boot(stack, "f-delete-slowclaim")["id"])
    wait_until(lambda: _started(stack, uuid, "schedule_and_claim"), timeout=30)
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    assert _boot_workflow(stack, uuid) == WorkflowExecutionStatus.CANCELED
    steps = {e["event"] for e in events(stack, uuid, "create")}
    assert not steps & set(HOST_STEPS), steps
    assert stack.ports_of(uuid) == [] and stack.volumes_of(uuid, project) == []
    assert stack.claims(uuid) == [] and stack.quota_usage(project) == usage


def test_a_volume_over_the_volume_quota_fails_where_it_is_without_rescheduling(
    stack: RunningStack,
) -> None:
    """Cinder refuses a 5,000 GiB volume (the project may have 1,000 GiB): every host would
    be refused alike, so the boot fails on its first host, tries no other and marks none."""
    before = stack.failed_builds()
    result = stack.cli(
        "server", "create", "f-hugevolume", *TINY_SERVER, "--volume-size", "5000", "--wait"
    )
    assert result.code == 1
    server = stack.cli("server", "show", "f-hugevolume", "-f", "json").json()
    assert server["status"] == "ERROR"
    message = str(server["fault"]["message"])
    assert "VolumeSizeExceedsAvailableQuota" in message
    assert "Exceeded maximum number of retries" not in message
    uuid = str(server["id"])
    actions = stack.cli("server", "event", "list", uuid, "-f", "json").json()
    assert [a["Action"] for a in actions] == ["create"]  # no reschedule
    assert stack.failed_builds() == before
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def _boots_named(stack: RunningStack, name: str) -> list[tuple[str, WorkflowExecutionStatus]]:
    async def listed() -> list[tuple[str, WorkflowExecutionStatus]]:
        client = await connect(stack.settings)
        return [
            (w.id, w.status)
            async for w in client.list_workflows(f'InstanceName="{name}"')
            if w.status is not None
        ]

    return asyncio.run(listed())


def test_a_create_no_worker_accepts_in_time_is_withdrawn_and_builds_nothing(
    stack: RunningStack,
) -> None:
    """The control worker is stalled (SIGSTOP) past the API's accept timeout: the create
    answers 503 saying nothing will be created, and once the worker runs again the boot
    ends without a record, a port or any quota: a client that retries gets no duplicate."""
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    demo = stack.demo()
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    control = stack.child("control")
    control.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(HttpError) as refused:
            ComputeClient(demo).create_server("f-stalled", "1", image, [network])
    finally:
        control.send_signal(signal.SIGCONT)
    assert refused.value.status == 503, refused.value
    assert "withdrawn and nothing will be created" in refused.value.message

    ((workflow_id, _),) = wait_until(lambda: _boots_named(stack, "f-stalled"), timeout=30)
    wait_until(
        lambda: _boots_named(stack, "f-stalled")[0][1] != WorkflowExecutionStatus.RUNNING,
        timeout=90,
    )
    assert _boots_named(stack, "f-stalled") == [(workflow_id, WorkflowExecutionStatus.CANCELED)]
    uuid = workflow_id.removeprefix("boot-")
    with stack.sessions.begin() as s:
        assert s.scalars(select(Instance).where(Instance.name == "f-stalled")).all() == []
    assert stack.ports_of(uuid) == [] and stack.reservations(uuid) == 0
    assert stack.quota_usage(project) == usage
