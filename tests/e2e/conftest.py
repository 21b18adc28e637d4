"""The stack the end-to-end tests share: one per database, for the whole session."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.databases import BACKENDS, new_database
from tests.support.libvirtd import libvirt_daemons, libvirtd  # noqa: F401 - real guests' fixtures
from tests.support.stack import RunningStack, running_stack, stack_settings

# How long the shared stacks' compute API waits for a boot to accept before withdrawing it.
ACCEPT_TIMEOUT_SECONDS = 20

# Faults the end-to-end tests rely on, each matched by the name of a test's own server.
TWICE = "*-twice"  # every host step fails once right after its side effect
FAULT_PLAN = json.dumps(
    [
        {
            "point": "spawn:before",
            "match": "*-failspawn",
            "raises": "hypervisor",
            "message": "injected: the domain failed to start",
        },
        {"point": "spawn:before", "match": "*-slowspawn", "action": "delay", "seconds": 4},
        *(
            {
                "point": f"{step}:after",
                "match": TWICE,
                "times": 1,
                "message": f"injected: lost the answer of {step}",
            }
            for step in (
                "schedule_and_claim",
                "allocate_port",
                "create_volume",
                "attach_volume",
                "fetch_image",
                "spawn",
                "mark_active",
                "begin_server_action",
                "power_off_guest",
                "power_on_guest",
                "reboot_guest",
                "end_server_action",
                "begin_rebuild",
                "advance_rebuild",
            )
        ),
        # *-leftover: the boot fails at a control step (no reschedule), and undoing its
        # port fails for good once: a leftover.
        {
            "point": "mark_active:before",
            "match": "*-leftover",
            "times": 1,
            "retryable": False,
            "message": "injected: the record could not be written",
        },
        {
            "point": "deallocate_ports:before",
            "match": "*-leftover",
            "times": 1,
            "retryable": False,
            "message": "injected: the network service refused to delete",
        },
        # *-guestleft: the boot fails at a control step, and undoing its guest fails for
        # good (in the boot only): the guest is a leftover, the record keeps no host.
        {
            "point": "mark_active:before",
            "match": "*-guestleft",
            "retryable": False,
            "message": "injected: the record could not be written",
        },
        {
            "point": "destroy_guest:before",
            "match": "*-guestleft",
            "workflow": "boot-*",
            "retryable": False,
            "message": "injected: the hypervisor refused to destroy the guest",
        },
        # *-recordlost: the record is written, then its step fails for good: the request is
        # rejected, and leaves no record.
        {
            "point": "create_instance_record:after",
            "match": "*-recordlost",
            "retryable": False,
            "message": "injected: lost the answer of create_instance_record",
        },
        # *-held waits a minute before spawning (heartbeating), unless cancelled meanwhile.
        {"point": "spawn:before", "match": "*-held", "action": "delay", "seconds": 60},
        # *-slowclaim's scheduling takes 8 s, and (a control step, no heartbeat) it never
        # hears of a cancel meanwhile: it finishes.
        {
            "point": "schedule_and_claim:before",
            "match": "*-slowclaim",
            "action": "delay",
            "seconds": 8,
        },
        # Server actions (tests/e2e/test_server_actions.py): *-slowstop's stop is held on
        # its host (a delete meanwhile wins); *-fails' stop and reboot fail on the host.
        {
            "point": "power_off_guest:before",
            "match": "*-slowstop",
            "action": "delay",
            "seconds": 30,
        },
        *(
            {
                "point": f"{step}:before",
                "match": "*-fails",
                "retryable": False,
                "message": f"injected: the hypervisor refused to {verb} the guest",
            }
            for step, verb in (("power_off_guest", "stop"), ("reboot_guest", "reboot"))
        ),
        # *-slowrebuild: a rebuild's spawn is held 20 s (a delete meanwhile wins).
        {
            "point": "spawn:before",
            "match": "*-slowrebuild",
            "workflow": "rebuild-*",
            "action": "delay",
            "seconds": 20,
        },
        # *-failrebuild: a rebuild's spawn fails for good (the server's boot works).
        {
            "point": "spawn:before",
            "match": "*-failrebuild",
            "workflow": "rebuild-*",
            "raises": "hypervisor",
            "retryable": False,
            "message": "injected: the domain failed to start again",
        },
        # *-failsonnode1's spawn fails on node1, always; node2 works (a reschedule each time).
        {
            "point": "spawn:before",
            "match": "*-failsonnode1",
            "raises": "hypervisor",
            "host": "node1",
            "message": "injected: node1's hypervisor failed",
        },
        # *-reschedule's spawn fails on node1 (once); the alternate, node2, works.
        {
            "point": "spawn:before",
            "match": "*-reschedule",
            "raises": "hypervisor",
            "host": "node1",
            "times": 1,
            "message": "injected: the host's hypervisor failed",
        },
    ]
)


@pytest.fixture(scope="session", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp(f"stack-{request.param}")
    url = new_database(request.param, data_dir, request)
    env = {
        "BOOTFLOW_FAULT_PLAN": FAULT_PLAN,
        # Short enough for a test to outwait; long past any accept on a loaded machine.
        "BOOTFLOW_ACCEPT_TIMEOUT_SECONDS": str(ACCEPT_TIMEOUT_SECONDS),
        # The hosts' reapers would remove what the leftover tests look at, at a moment no
        # test chooses; they are tested on their own (tests/test_reap.py, tests/chaos).
        "BOOTFLOW_REAP_INTERVAL_SECONDS": "86400",
    }
    with running_stack(stack_settings(data_dir, url), hosts=2, env=env) as running:
        yield running


def demo_project(stack: RunningStack) -> str:
    projects = stack.admin().request("identity", "GET", "projects", params={"name": "demo"})
    return str(projects.json()["projects"][0]["id"])
