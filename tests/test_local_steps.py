"""Short control steps run as local activities (``ActivityDef.local``, patch
``local-control-steps``): a boot's history records each as one marker instead of a task
through the server, and a failure or cancel during one is handled as before: the request
is rejected or the instance left in error with its fault, and what was done is undone.

The boots here run BootInstance on a dev server with stand-in steps that record their calls
(no services); the recorded histories compare real boots before and after the patch.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from core import activity_defs as act
from core import search_attributes, task_queues
from core.activity_defs import ActivityDef
from core.errors import ErrorType, request_error
from core.messages import (
    BootRequest,
    CachedImage,
    FlavorSpec,
    ImageSpec,
    InstanceRecord,
    NetworkRequest,
    NetworkSpec,
    Placement,
    PortSpec,
    RequestContext,
    SpawnResult,
    ValidatedRequest,
)
from tests.histories import local_steps_of, steps_of
from tests.support.devserver import dev_server
from workflows.boot_instance import BootInstance
from workflows.calls import LOCAL_STEPS_PATCH

HOST = "node1"
HISTORIES = Path(__file__).parent / "histories"
LOCAL = frozenset(d.name for d in act.ALL if d.local)
# Stand-in results, by step; any other step returns True.
CONTEXT = RequestContext("u1", "demo", "p1", "demo", ["member"], "2099-01-01T00:00:00Z")
VALID = ValidatedRequest(
    FlavorSpec("1", "m1.tiny", 1, 512, 1),
    ImageSpec("i1", "cirros", 1, "qcow2", None),
    [NetworkSpec("n1", "private")],
)
RECORD = InstanceRecord("x", "x", "p1", "building", None, None)
RESULTS: dict[str, object] = {
    act.AUTHENTICATE.name: CONTEXT,
    act.VALIDATE_AND_RESERVE.name: VALID,
    act.CREATE_INSTANCE_RECORD.name: RECORD,
    act.SCHEDULE_AND_CLAIM.name: Placement(HOST, 1),
    act.MARK_ACTIVE.name: RECORD,
    act.RECORD_FAULT.name: RECORD,
    act.RECORD_LEFTOVERS.name: 0,
    act.DEALLOCATE_PORTS.name: 1,
    act.ALLOCATE_PORT.name: PortSpec("port1", "n1", "private", "fa:16:3e:00:00:01", []),
    act.FETCH_IMAGE.name: CachedImage("i1", "/cache/i1", 1),
    act.SPAWN.name: SpawnResult(f"instance-{HOST}", 1),
}


class Steps:
    """Stand-ins for every step a boot runs: each records its call (name and input), and
    can be made to fail, or to hold until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.finished: list[str] = []
        # Every step's start and end, in order.
        self.log: list[tuple[str, str]] = []
        self.failures: dict[str, BaseException] = {}
        self.held: dict[str, threading.Event] = {}
        self.reached: dict[str, threading.Event] = {}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def hold(self, name: str) -> Callable[[], None]:
        """Hold ``name`` when it runs; the function that lets it go on."""
        self.held[name], self.reached[name] = threading.Event(), threading.Event()
        return self.held[name].set

    def _run(self, name: str, arg: Any) -> Any:
        self.calls.append((name, arg))
        self.log.append(("start", name))
        if name in self.held:
            self.reached[name].set()
            # Polled: a cancel the SDK raises in this thread lands here, as it would in a
            # real step's transaction.
            while not self.held[name].wait(0.05):
                pass
        self.log.append(("end", name))
        if name in self.failures:
            raise self.failures[name]
        self.finished.append(name)
        return RESULTS.get(name, True)

    def activities(self, defs: list[ActivityDef[Any, Any]]) -> list[Callable[..., Any]]:
        def make(name: str) -> Callable[..., Any]:
            def step(arg: Any) -> Any:
                return self._run(name, arg)

            return activity.defn(name=name)(step)

        return [make(d.name) for d in defs]


async def _connect(address: str) -> Client:
    """A client once the server's frontend says it is healthy (it listens sooner)."""
    for _ in range(100):
        try:
            return await Client.connect(address)
        except RuntimeError:
            await asyncio.sleep(0.2)
    return await Client.connect(address)


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    with dev_server(tmp_path_factory.mktemp("temporal") / "server.log") as port:
        client = await _connect(f"127.0.0.1:{port}")
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="default",
                search_attributes={
                    k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for k in search_attributes.ALL
                },
            )
        )
        yield client


@asynccontextmanager
async def workers(client: Client, steps: Steps) -> AsyncIterator[None]:
    """The control worker (the workflow and its control steps, local ones included) and
    one host's worker, as bootflow runs them."""
    control = [d for d in act.ALL if not d.on_host]
    on_host = [d for d in act.ALL if d.on_host]
    with ThreadPoolExecutor(8) as pool:
        async with (
            Worker(
                client,
                task_queue=task_queues.CONTROL,
                workflows=[BootInstance],
                activities=steps.activities(control),
                activity_executor=pool,
            ),
            Worker(
                client,
                task_queue=task_queues.compute(HOST),
                activities=steps.activities(on_host),
                activity_executor=pool,
            ),
        ):
            yield


def _request() -> BootRequest:
    instance = str(uuid.uuid4())
    return BootRequest(instance, "vm", "1", "i1", [NetworkRequest("n1")], "token", "req-1")


async def _start(client: Client) -> WorkflowHandle[Any, Any]:
    request = _request()
    return await client.start_workflow(
        BootInstance.run,
        request,
        id=f"boot-{request.instance_uuid}",
        task_queue=task_queues.CONTROL,
    )


async def _failure(handle: WorkflowHandle[Any, Any]) -> BaseException | None:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    return failed.value.cause


def _patched(history: WorkflowHistory) -> bool:
    return any(
        e.marker_recorded_event_attributes.marker_name == "core_patch"
        and LOCAL_STEPS_PATCH.encode()
        in e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
    )


async def test_a_boots_short_steps_are_markers_not_tasks(client: Client) -> None:
    steps = Steps()
    async with workers(client, steps):
        handle = await _start(client)
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.vm_state == "active"
    assert _patched(history)
    # Only the long or host steps went through the server's task queues.
    assert steps_of(history) == ["schedule_and_claim", "allocate_port", "fetch_image", "spawn"]
    assert local_steps_of(history) == [
        "authenticate",
        "validate_and_reserve",
        "create_instance_record",
        "set_task_state",  # spawning: the claim wrote networking
        "mark_active",
    ]
    assert [n for n in steps.names() if n in LOCAL] == local_steps_of(history)


def _load(name: str) -> WorkflowHistory:
    path = HISTORIES / name
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


@pytest.mark.parametrize("kind", ["boot-active", "boot-active-novolume", "delete"])
def test_a_recorded_boot_takes_fewer_events_than_before(kind: str) -> None:
    """The same boot (or delete) of the real stack, before and after the patch."""
    before, after = _load(f"baseline-{kind}.json"), _load(f"localsteps-{kind}.json")
    assert not _patched(before) and _patched(after)
    assert not set(steps_of(after)) & LOCAL
    assert sorted(local_steps_of(after)) == sorted(s for s in steps_of(before) if s in LOCAL)
    assert len(after.events) < len(before.events) * 0.75, (len(before.events), len(after.events))


@pytest.mark.parametrize(
    ("step", "error_type"),
    [
        (act.AUTHENTICATE.name, ErrorType.UNAUTHORIZED),
        (act.VALIDATE_AND_RESERVE.name, ErrorType.QUOTA_EXCEEDED),
        (act.CREATE_INSTANCE_RECORD.name, ErrorType.INVALID_REQUEST),
    ],
)
async def test_a_request_refused_in_a_local_step_is_rejected_and_undone(
    client: Client, step: str, error_type: str
) -> None:
    steps = Steps()
    steps.failures[step] = request_error(error_type, f"refused by {step}")
    async with workers(client, steps):
        handle = await _start(client)
        cause = await _failure(handle)
    assert isinstance(cause, ApplicationError) and cause.type == error_type, cause
    assert cause.message == f"refused by {step}"
    done = steps.names()
    # What the steps may have made (the record, the quota) is undone, newest first, and the
    # boot went no further.
    assert done[done.index(step) + 1 :] == ["delete_instance_record", "release_quota"]
    assert act.SCHEDULE_AND_CLAIM.name not in done


async def test_a_local_step_failing_after_acceptance_leaves_the_instance_in_error(
    client: Client,
) -> None:
    steps = Steps()
    steps.failures[act.MARK_ACTIVE.name] = request_error(
        ErrorType.INSTANCE_INVALID_STATE, "the instance is no longer building"
    )
    async with workers(client, steps):
        handle = await _start(client)
        cause = await _failure(handle)
    assert isinstance(cause, ApplicationError)
    assert cause.type == ErrorType.INSTANCE_INVALID_STATE
    done = steps.names()
    after = done[done.index("mark_active") + 1 :]
    assert after == [
        "destroy_guest",
        "deallocate_ports",
        "release_claim",
        "record_fault",
    ]
    fault = dict(steps.calls)["record_fault"]["fault"]
    assert fault["message"] == "the instance is no longer building"
    assert fault["details"] == f"{ErrorType.INSTANCE_INVALID_STATE} during finish"


# What a boot held at a step and cancelled then undoes (after the held step), and the
# cancel's reason when it left the instance in error (else it leaves no record).
UNDO_AFTER_ACCEPTED = ["release_claim", "record_fault"]
UNDO_ON_HOST = ["destroy_guest", "deallocate_ports", *UNDO_AFTER_ACCEPTED]
UNDO_REJECTED = ["delete_instance_record", "release_quota"]


@pytest.mark.parametrize(
    ("held", "seconds", "undone"),
    [
        # Heard with the next workflow task: the one the local steps run in ends as the
        # boot is accepted and its scheduling starts (that step ends too, then is undone).
        (act.CREATE_INSTANCE_RECORD.name, 0.5, ["schedule_and_claim", *UNDO_AFTER_ACCEPTED]),
        # Heard while the step runs: held past the workflow task's timeout, the worker
        # heartbeats that task and the next one brings the cancel. The step is shielded.
        (act.CREATE_INSTANCE_RECORD.name, 3.0, UNDO_REJECTED),
        (act.SPAWN.name, 0.5, UNDO_ON_HOST),
    ],
    ids=["local-step", "long-local-step", "host-step"],
)
async def test_a_cancel_during_a_boot_lets_the_step_end_then_undoes(
    client: Client, held: str, seconds: float, undone: list[str]
) -> None:
    """A cancel while a step runs: the step is not cut short (a local step would be, in its
    thread, were it not shielded), and the boot then undoes all it did."""
    steps = Steps()
    release = steps.hold(held)
    async with workers(client, steps):
        request = _request()
        handle = await client.start_workflow(
            BootInstance.run,
            request,
            id=f"boot-{request.instance_uuid}",
            task_queue=task_queues.CONTROL,
            task_timeout=timedelta(seconds=2),
        )
        await asyncio.to_thread(steps.reached[held].wait, 30)
        await handle.cancel(reason="operator: test")
        await asyncio.sleep(seconds)
        release()
        cause = await _failure(handle)
    assert isinstance(cause, CancelledError), cause
    assert held in steps.finished
    done = steps.names()
    assert done[done.index(held) + 1 :] == undone
    if "record_fault" in undone:
        fault = dict(steps.calls)["record_fault"]["fault"]
        assert fault["message"].endswith("was cancelled in Temporal (operator: test).")


# --- the image is fetched beside the ports (patch fetch-image-beside-ports) ----------------


async def test_the_image_is_fetched_while_the_port_is_allocated(client: Client) -> None:
    """As Nova allocates the network while it prepares the disks: the fetch does not wait
    for the port, and the spawn waits for both."""
    steps = Steps()
    release = steps.hold(act.ALLOCATE_PORT.name)
    async with workers(client, steps):
        handle = await _start(client)
        await asyncio.to_thread(steps.reached[act.ALLOCATE_PORT.name].wait, 30)
        for _ in range(200):
            if act.FETCH_IMAGE.name in steps.finished:
                break
            await asyncio.sleep(0.05)
        fetched_first = act.FETCH_IMAGE.name in steps.finished
        release()
        result = await handle.result()
    assert fetched_first
    assert result.vm_state == "active"
    assert steps.finished.index("allocate_port") < steps.finished.index("spawn")


@pytest.mark.parametrize(
    ("failing", "stage"),
    [(act.ALLOCATE_PORT.name, "allocate port"), (act.FETCH_IMAGE.name, "fetch image")],
)
async def test_a_step_failing_beside_the_other_waits_for_it_then_undoes(
    client: Client, failing: str, stage: str
) -> None:
    """The port or the image fails for good while the other still runs: that one is let
    end before the undo begins (so nothing of this host's part runs on), and the fault
    names the step that failed."""
    steps = Steps()
    other = ({act.ALLOCATE_PORT.name, act.FETCH_IMAGE.name} - {failing}).pop()
    release = steps.hold(other)
    steps.failures[failing] = request_error(ErrorType.INVALID_REQUEST, f"{failing} refused")
    async with workers(client, steps):
        handle = await _start(client)
        await asyncio.to_thread(steps.reached[other].wait, 30)
        await asyncio.sleep(0.5)
        release()
        cause = await _failure(handle)
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.INVALID_REQUEST
    done = steps.names()
    assert act.SPAWN.name not in done
    assert other in steps.finished
    assert done[done.index("deallocate_ports") :] == [
        "deallocate_ports",
        "release_claim",
        "record_fault",
    ]
    assert steps.log.index(("end", other)) < steps.log.index(("start", "deallocate_ports"))
    fault = dict(steps.calls)["record_fault"]["fault"]
    assert fault["details"] == f"{ErrorType.INVALID_REQUEST} during {stage}"


@pytest.mark.parametrize("kind", ["boot-active", "boot-active-novolume", "boot-rescheduled"])
def test_a_recorded_boot_since_the_claim_patch_writes_networking_with_its_claim(
    kind: str,
) -> None:
    """The same boot of the real stack before and after `claim-moves-task-state-on`: one
    set_task_state step fewer (a rescheduled boot still writes each task_state for its
    alternate)."""
    before, after = _load(f"beside-{kind}.json"), _load(f"claimnet-{kind}.json")
    assert local_steps_of(after).count("set_task_state") == (
        local_steps_of(before).count("set_task_state") - 1
    )
    assert steps_of(after) == steps_of(before)
