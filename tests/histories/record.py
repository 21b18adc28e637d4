"""Record workflow histories for the replay tests (run on demand, not by the suite).

    .venv/bin/python -m tests.histories.record baseline   (or a patch's label, no hyphen)

Starts a throwaway stack and runs one boot or delete of each kind the workflows know, then
writes each history, still encrypted, to ``tests/histories/<label>-<kind>.json``:

- boot-active: a successful boot with a volume; delete: its delete;
- boot-active-novolume: a successful boot without one;
- boot-compensated: a boot whose spawn fails on every host (undone, in error);
- boot-rescheduled: a boot whose spawn fails on node1, rescheduled to node2;
- boot-deleted-while-building: a boot deleted while it spawns (cancelled by the delete);
- boot-cancelled: a boot cancelled from Temporal while it spawns (no delete);
- boot-withdrawn: a boot no worker accepted in time, withdrawn by the compute API;
- boot-rejected: a request refused before acceptance (an unknown flavor);
- boot-leftovers: a failed boot whose undo of its port fails for good (a leftover);
- boot-active-fromvolume: a boot from a new volume made from the image;
- delete-novolume: the delete of a server booted without a volume (no volume steps).

``python -m tests.histories.record <label> <kind>...`` records only those kinds (of those
``ONE_OFF`` runs alone).

Each history is checked to be of its kind (``tests.histories.KINDS``) before it is written.
The stack's payload key goes into ``tests/histories/codec-keys.json`` ({key id: key}),
test-only keys for the replay test.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus, WorkflowHistory

from bootflow.seed import stored_secret
from clients.compute import ComputeClient
from clients.errors import HttpError
from clients.image import ImageClient
from clients.network import NetworkClient
from core.temporal import connect
from tests.e2e.conftest import FAULT_PLAN
from tests.histories import KINDS
from tests.support.stack import TINY_SERVER, RunningStack, running_stack, stack_settings, wait_until

HERE = Path(__file__).parent
KEYS = HERE / "codec-keys.json"
ACCEPT_TIMEOUT_SECONDS = 10


async def _fetch(stack: RunningStack, workflow_id: str) -> WorkflowHistory:
    client = await connect(stack.settings)
    return await client.get_workflow_handle(workflow_id).fetch_history()


async def _status(stack: RunningStack, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await connect(stack.settings)
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def _named(stack: RunningStack, name: str) -> list[str]:
    client = await connect(stack.settings)
    return [w.id async for w in client.list_workflows(f'InstanceName="{name}"')]


async def _cancel(stack: RunningStack, workflow_id: str) -> None:
    client = await connect(stack.settings)
    await client.get_workflow_handle(workflow_id).cancel(reason="operator: recorded cancel")


def _ended(stack: RunningStack, workflow_id: str) -> None:
    wait_until(
        lambda: asyncio.run(_status(stack, workflow_id)) != WorkflowExecutionStatus.RUNNING,
        timeout=120,
    )


def _boot(stack: RunningStack, name: str, *extra: str, wait: bool = True) -> str:
    result = stack.cli(
        "server", "create", name, *TINY_SERVER, "-f", "json", *extra, *(("--wait",) if wait else ())
    )
    return str(json.loads(result.out)["id"])


def _held(stack: RunningStack, name: str) -> str:
    """A boot held before its spawn (the fault plan's ``*-held``), once it gets there."""
    uuid = _boot(stack, name, wait=False)
    wait_until(lambda: stack.progress(uuid).stage == "spawn", timeout=60)
    return uuid


def _by_api(stack: RunningStack, name: str, flavor: str = "1") -> None:
    demo = stack.demo()
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    try:
        ComputeClient(demo).create_server(name, flavor, image, [network])
    except HttpError as refused:
        print(f"{name}: {refused.status} {refused.message}")


def _only(stack: RunningStack, name: str) -> str:
    (workflow_id,) = wait_until(lambda: asyncio.run(_named(stack, name)), timeout=30)
    return str(workflow_id)


def _from_volume(stack: RunningStack) -> str:
    """A boot from a new 1 GiB volume made from the image, active; its workflow id."""
    demo = stack.demo()
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    root = {"source_type": "image", "uuid": image, "destination_type": "volume"}
    body = {
        "server": {
            "name": "replay-fromvolume",
            "flavorRef": "1",
            "networks": [{"uuid": network}],
            "block_device_mapping_v2": [root | {"boot_index": 0, "volume_size": 1}],
        }
    }
    created = demo.request("compute", "POST", "servers", json=body).json()["server"]["id"]
    wait_until(lambda: (r := stack.instance(created)) and r.vm_state == "active", timeout=120)
    return f"boot-{created}"


def _delete_novolume(stack: RunningStack) -> str:
    """The delete of a server booted without a volume; its workflow id."""
    plain = _boot(stack, "replay-delete-novolume")
    stack.cli("server", "delete", plain, "--wait")
    return f"delete-{plain}"


# Kinds one run records on its own.
ONE_OFF = {"boot-active-fromvolume": _from_volume, "delete-novolume": _delete_novolume}


def record(stack: RunningStack) -> dict[str, str]:
    """Run one of each kind; the workflow id of each."""
    runs: dict[str, str] = {kind: run(stack) for kind, run in ONE_OFF.items()}
    ok = _boot(stack, "replay-ok", "--volume-size", "1")
    runs["boot-active"] = f"boot-{ok}"
    runs["boot-active-novolume"] = f"boot-{_boot(stack, 'replay-novolume')}"
    runs["boot-compensated"] = f"boot-{_boot(stack, 'replay-failspawn', '--volume-size', '1')}"
    # node1 first (node2 "failed lately"); its spawn fails; the boot moves to node2.
    stack.set_failed_builds("node1", 0)
    stack.set_failed_builds("node2", 1)
    runs["boot-rescheduled"] = f"boot-{_boot(stack, 'replay-reschedule')}"
    stack.set_failed_builds("node2", 0)
    runs["boot-leftovers"] = f"boot-{_boot(stack, 'replay-leftover', '--volume-size', '1')}"
    stack.cli("server", "delete", ok, "--wait")
    runs["delete"] = f"delete-{ok}"

    deleted = _held(stack, "replay-delete-held")
    stack.cli("server", "delete", deleted, "--wait")
    runs["boot-deleted-while-building"] = f"boot-{deleted}"

    cancelled = _held(stack, "replay-cancel-held")
    asyncio.run(_cancel(stack, f"boot-{cancelled}"))
    _ended(stack, f"boot-{cancelled}")
    runs["boot-cancelled"] = f"boot-{cancelled}"

    _by_api(stack, "replay-rejected", flavor="no-such-flavor")
    runs["boot-rejected"] = _only(stack, "replay-rejected")

    control = stack.child("control")
    control.send_signal(signal.SIGSTOP)
    try:
        _by_api(stack, "replay-withdrawn")
    finally:
        control.send_signal(signal.SIGCONT)
    runs["boot-withdrawn"] = _only(stack, "replay-withdrawn")
    _ended(stack, runs["boot-withdrawn"])
    return runs


def main(label: str, only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
        env = {
            "BOOTFLOW_FAULT_PLAN": FAULT_PLAN,
            "BOOTFLOW_ACCEPT_TIMEOUT_SECONDS": str(ACCEPT_TIMEOUT_SECONDS),
        }
        with running_stack(settings, hosts=2, env=env) as stack:
            runs = {k: ONE_OFF[k](stack) for k in only} if only else record(stack)
            for kind, workflow_id in runs.items():
                history = asyncio.run(_fetch(stack, workflow_id))
                problem = KINDS[kind](history)
                if problem:
                    raise SystemExit(f"{kind} ({workflow_id}) is not what it says: {problem}")
                text = json.dumps(history.to_json_dict(), indent=1) + "\n"
                (HERE / f"{label}-{kind}.json").write_text(text)
            keys = json.loads(KEYS.read_text()) if KEYS.exists() else {}
            keys[stack.settings.codec_key_id] = stored_secret(stack.settings, "codec_key")
            KEYS.write_text(json.dumps(keys, indent=1, sort_keys=True) + "\n")
    print(f"recorded {', '.join(runs)} as {label}-*.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "baseline", sys.argv[2:])
