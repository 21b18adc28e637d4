"""Stop, start, reboot, lock and unlock with the real ``openstack`` command, as a user who
sourced the stack's openrc (and its admin): each long action a workflow on the server's
host, its instance action and events in ``server event list``, Nova's 409s and lock
policy, a failure on the host leaving a clear state, and a delete during an action."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.states import PowerState, VmState
from db.models.compute import Instance, InstanceAction
from tests.e2e.test_openstack_cli import ok, openstack
from tests.support.stack import RunningStack, wait_until

pytestmark = pytest.mark.e2e

LOCK_REASON_VERSION = ("--os-compute-api-version", "2.73")
EVENT_HOST_VERSION = ("--os-compute-api-version", "2.62")


def _boot(stack: RunningStack, name: str) -> str:
    created = ok(
        stack,
        "server", "create", name,
        "--flavor", "m1.tiny", "--image", "cirros", "--network", "private", "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    return str(created["id"])


def _done(stack: RunningStack, *args: str, admin: bool = False) -> None:
    result = openstack(stack, *args, admin=admin)
    assert result.code == 0, f"openstack {' '.join(args)}: {result.err}"


def _refused(stack: RunningStack, *args: str, admin: bool = False) -> str:
    result = openstack(stack, *args, admin=admin)
    assert result.code != 0, f"openstack {' '.join(args)} was not refused"
    return result.err


def _settled(stack: RunningStack, server_id: str, vm_state: str) -> Instance:
    """The record once its action is over (no task) in ``vm_state``."""

    def settled() -> Instance | None:
        instance = stack.instance(server_id)
        assert instance is not None
        done = instance.task_state is None and instance.vm_state == vm_state
        return instance if done else None

    found: Instance = wait_until(settled, timeout=90)
    return found


def _guest_power(stack: RunningStack, server_id: str, host: str) -> int | None:
    """The guest's power state as its host's hypervisor reports it (None: no guest)."""
    domains = {d.uuid: d.state for d in stack.domains(host).domains}
    return domains.get(server_id)


def _actions(stack: RunningStack, name: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(stack, "server", "event", "list", name)
    return listed


def test_stop_start_and_reboot_run_on_the_servers_host(stack: RunningStack) -> None:
    server_id = _boot(stack, "act-power")
    instance = stack.instance(server_id)
    assert instance is not None and instance.host
    host = instance.host

    _done(stack, "server", "stop", "act-power")
    stopped = _settled(stack, server_id, VmState.STOPPED)
    assert stopped.power_state == PowerState.SHUTDOWN
    assert _guest_power(stack, server_id, host) == PowerState.SHUTDOWN
    assert ok(stack, "server", "show", "act-power")["status"] == "SHUTOFF"
    listed = {s["Name"]: s for s in ok(stack, "server", "list", "--status", "SHUTOFF")}
    assert listed["act-power"]["Status"] == "SHUTOFF"
    # Nova's 409s: a stopped server is neither stopped again nor soft-rebooted.
    err = _refused(stack, "server", "stop", "act-power")
    assert f"Cannot 'stop' instance {server_id} while it is in vm_state stopped" in err
    err = _refused(stack, "server", "reboot", "act-power")
    assert f"Cannot 'reboot' instance {server_id} while it is in vm_state stopped" in err

    _done(stack, "server", "start", "act-power")
    started = _settled(stack, server_id, VmState.ACTIVE)
    assert started.power_state == PowerState.RUNNING
    assert _guest_power(stack, server_id, host) == PowerState.RUNNING
    err = _refused(stack, "server", "start", "act-power")
    assert f"Cannot 'start' instance {server_id} while it is in vm_state active" in err

    _done(stack, "server", "reboot", "--wait", "act-power")
    _done(stack, "server", "reboot", "--hard", "--wait", "act-power")
    rebooted = _settled(stack, server_id, VmState.ACTIVE)
    assert rebooted.power_state == PowerState.RUNNING
    assert _guest_power(stack, server_id, host) == PowerState.RUNNING

    actions = _actions(stack, "act-power")
    assert [a["Action"] for a in actions] == ["reboot", "reboot", "start", "stop", "create"]
    # The host of each event is for admins (2.62).
    stop = ok(
        stack, *EVENT_HOST_VERSION, "server", "event", "show", server_id,
        actions[3]["Request ID"], admin=True,
    )  # fmt: skip
    events = {e["event"]: e for e in stop["events"]}
    assert events["power_off_guest"]["host"] == host
    assert events["power_off_guest"]["result"] == "Success"
    assert "end_server_action" in events


def test_a_lock_refuses_the_owner_until_unlocked_and_an_admins_lock_is_the_admins(
    stack: RunningStack,
) -> None:
    server_id = _boot(stack, "act-lock")
    _done(stack, *LOCK_REASON_VERSION, "server", "lock", "--reason", "maintenance", "act-lock")
    shown = ok(stack, *LOCK_REASON_VERSION, "server", "show", "act-lock")
    assert shown["locked"] is True and shown["locked_reason"] == "maintenance"
    assert f"Instance {server_id} is locked" in _refused(stack, "server", "stop", "act-lock")
    assert f"Instance {server_id} is locked" in _refused(stack, "server", "delete", "act-lock")
    # An admin acts on a locked server.
    _done(stack, "server", "stop", server_id, admin=True)
    _settled(stack, server_id, VmState.STOPPED)

    _done(stack, "server", "unlock", "act-lock")
    shown = ok(stack, *LOCK_REASON_VERSION, "server", "show", "act-lock")
    assert shown["locked"] is False and shown["locked_reason"] is None
    _done(stack, "server", "start", "act-lock")
    _settled(stack, server_id, VmState.ACTIVE)

    # An admin's lock: the owner may not lift it.
    _done(stack, "server", "lock", server_id, admin=True)
    err = _refused(stack, "server", "unlock", "act-lock")
    assert "os_compute_api:os-lock-server:unlock:unlock_override" in err
    _done(stack, "server", "unlock", server_id, admin=True)
    _done(stack, "server", "delete", "--wait", "act-lock")
    actions = [a["Action"] for a in _actions_of_deleted(stack, server_id)]
    assert actions[:3] == ["delete", "unlock", "lock"]


def _actions_of_deleted(stack: RunningStack, server_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(
        stack, "--os-compute-api-version", "2.21", "server", "event", "list", server_id
    )
    return listed


def test_a_failed_stop_keeps_the_server_and_a_failed_reboot_errs_with_a_fault(
    stack: RunningStack,
) -> None:
    server_id = _boot(stack, "act-fails")
    _done(stack, "server", "stop", "act-fails")
    # As Nova: the task is cleared, the server stays active (and can be acted on again).
    kept = _settled(stack, server_id, VmState.ACTIVE)
    assert kept.host and _guest_power(stack, server_id, kept.host) == PowerState.RUNNING
    (stop, _create) = _actions(stack, "act-fails")
    assert stop["Action"] == "stop"

    _done(stack, "server", "reboot", "--hard", "act-fails")
    _settled(stack, server_id, VmState.ERROR)
    shown = ok(stack, "server", "show", "act-fails")
    assert shown["status"] == "ERROR"
    assert "injected: the hypervisor refused to reboot the guest" in shown["fault"]["message"]
    _done(stack, "server", "delete", "--wait", "act-fails")


def test_a_delete_during_a_stop_wins(stack: RunningStack) -> None:
    server_id = _boot(stack, "act-slowstop")
    instance = stack.instance(server_id)
    assert instance is not None and instance.host
    _done(stack, "server", "stop", "act-slowstop")  # held on the host for 30 s
    shown = ok(stack, "server", "show", "act-slowstop")
    assert shown["OS-EXT-STS:task_state"] == "powering-off" and shown["status"] == "ACTIVE"
    err = _refused(stack, "server", "reboot", "--hard", "act-slowstop")
    assert f"Cannot 'reboot' instance {server_id} while it is in task_state powering-off" in err

    _done(stack, "server", "delete", "--wait", "act-slowstop")
    gone = stack.instance(server_id)
    assert gone is not None and gone.deleted and gone.vm_state == VmState.DELETED
    assert _guest_power(stack, server_id, instance.host) is None
    # The held stop ends without writing over the delete, and says so in its action.
    stop = wait_until(
        lambda: next(
            (a for a in _action_rows(stack, server_id) if a.action == "stop" and a.finish_time),
            None,
        ),
        timeout=60,
    )
    assert "deleted" in (stop.message or "")
    after = stack.instance(server_id)
    assert after is not None and after.vm_state == VmState.DELETED and after.task_state is None


def _action_rows(stack: RunningStack, server_id: str) -> list[InstanceAction]:
    with stack.sessions.begin() as s:
        return list(
            s.scalars(select(InstanceAction).where(InstanceAction.instance_uuid == server_id))
        )


def test_bootflows_own_cli_stops_reboots_and_locks(stack: RunningStack) -> None:
    _boot(stack, "act-bootflow")
    stopped = stack.cli("server", "stop", "act-bootflow", "--wait")
    assert stopped.code == 0 and "act-bootflow: SHUTOFF" in stopped.out, stopped.err
    refused = stack.cli("server", "stop", "act-bootflow")
    assert refused.code != 0 and "while it is in vm_state stopped" in refused.err
    rebooted = stack.cli("server", "reboot", "--hard", "act-bootflow", "--wait")
    assert rebooted.code == 0 and "act-bootflow: ACTIVE" in rebooted.out, rebooted.err

    assert stack.cli("server", "lock", "--reason", "audit", "act-bootflow").code == 0
    refused = stack.cli("server", "reboot", "act-bootflow")
    assert refused.code != 0 and "is locked" in refused.err
    assert stack.cli("server", "unlock", "act-bootflow").code == 0
    assert stack.cli("server", "delete", "act-bootflow", "--wait").code == 0


def test_each_actions_step_is_safe_to_run_twice(stack: RunningStack) -> None:
    """*-twice: every step fails once just after its side effect, then runs again."""
    server_id = _boot(stack, "act-twice")
    _done(stack, "server", "stop", "act-twice")
    assert _settled(stack, server_id, VmState.STOPPED).power_state == PowerState.SHUTDOWN
    _done(stack, "server", "start", "act-twice")
    _settled(stack, server_id, VmState.ACTIVE)
    _done(stack, "server", "reboot", "--hard", "act-twice")
    rebooted = _settled(stack, server_id, VmState.ACTIVE)
    assert rebooted.host and _guest_power(stack, server_id, rebooted.host) == PowerState.RUNNING
    actions = _actions(stack, "act-twice")
    assert [a["Action"] for a in actions] == ["reboot", "start", "stop", "create"]
    stop = ok(stack, "server", "event", "show", server_id, actions[2]["Request ID"], admin=True)
    attempts = [e["result"] for e in stop["events"] if e["event"] == "power_off_guest"]
    assert sorted(attempts) == ["Error", "Success"]
