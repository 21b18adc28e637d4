"""Rebuild with the real ``openstack`` command (and bootflow's own): the guest made again
from a new image on the same host, its ports, addresses and volumes kept, its config drive
made again with the new metadata and hostname; a stopped server ends stopped; the image
checked as at create; a failure leaves a fault; a delete during a rebuild wins; Nova's
answer passes Tempest's rebuild schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tempest.lib.services.compute.servers_client import ServersClient

from core.states import PowerState, TaskState, VmState
from tests.e2e.test_openstack_cli import ok
from tests.e2e.test_server_actions import (
    _action_rows,
    _actions,
    _boot,
    _done,
    _guest_power,
    _refused,
    _settled,
)
from tests.support.stack import RunningStack, wait_until
from tests.support.tempest_schemas import schema_module, validate

pytestmark = pytest.mark.e2e

HOSTNAME_VERSION = ("--os-compute-api-version", "2.90")


def _image(stack: RunningStack, tmp_path: Path, name: str, *extra: str) -> str:
    data = tmp_path / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(data), "32M"], check=True)
    created = ok(
        stack, "image", "create", name, "--disk-format", "qcow2", "--container-format", "bare",
        "--file", str(data), *extra,
    )  # fmt: skip
    return str(created["id"])


def _meta_data(stack: RunningStack, host: str, server_id: str) -> dict[str, Any]:
    """The meta_data.json of the server's config drive, as its guest reads it."""
    drive = stack.settings.host_dir(host) / "instances" / server_id / "disk.config"
    out = subprocess.run(
        ["isoinfo", "-R", "-i", str(drive), "-x", "/openstack/latest/meta_data.json"],
        check=True,
        capture_output=True,
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def test_a_rebuild_makes_the_guest_again_from_the_new_image_on_its_host(
    stack: RunningStack, tmp_path: Path
) -> None:
    image_id = _image(stack, tmp_path, "rb-image")
    server_id = _boot(stack, "rb-active")
    before = stack.instance(server_id)
    assert before is not None and before.host
    host, ports = before.host, sorted(p["id"] for p in stack.ports_of(server_id))

    _done(
        stack, *HOSTNAME_VERSION, "server", "rebuild", "--image", "rb-image",
        "--property", "role=db", "--hostname", "db-1", "--wait", "rb-active",
    )  # fmt: skip
    after = _settled(stack, server_id, VmState.ACTIVE)
    assert (after.image_ref, after.host, after.addresses) == (image_id, host, before.addresses)
    assert sorted(p["id"] for p in stack.ports_of(server_id)) == ports
    assert after.power_state == PowerState.RUNNING
    assert _guest_power(stack, server_id, host) == PowerState.RUNNING
    shown = ok(stack, *HOSTNAME_VERSION, "server", "show", "rb-active")
    assert shown["status"] == "ACTIVE" and shown["image"] == f"rb-image ({image_id})"
    assert shown["properties"] == {"role": "db"}
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "db-1"
    meta = _meta_data(stack, host, server_id)
    assert (meta["hostname"], meta["meta"]) == ("db-1", {"role": "db"})

    (rebuild, _create) = _actions(stack, "rb-active")
    assert rebuild["Action"] == "rebuild"
    detail = ok(stack, "server", "event", "show", server_id, rebuild["Request ID"], admin=True)
    events = {e["event"]: e["result"] for e in detail["events"]}
    for step in ("destroy_guest", "advance_rebuild", "fetch_image", "spawn", "end_server_action"):
        assert events[step] == "Success", events
    # One action at a time; bootflow's own command rebuilds too.
    rebuilt = stack.cli("server", "rebuild", "rb-active", "--image", "cirros", "--wait")
    assert rebuilt.code == 0 and "rb-active: ACTIVE" in rebuilt.out, rebuilt.err
    _done(stack, "server", "delete", "--wait", "rb-active")


def test_the_image_is_checked_and_a_stopped_server_ends_stopped(
    stack: RunningStack, tmp_path: Path
) -> None:
    _image(stack, tmp_path, "rb-big", "--min-disk", "50")
    server_id = _boot(stack, "rb-stopped")
    err = _refused(stack, "server", "rebuild", "--image", "rb-big", "rb-stopped")
    assert "Flavor's disk is too small for requested image" in err
    assert ok(stack, "server", "show", "rb-stopped")["status"] == "ACTIVE"

    _done(stack, "server", "stop", "rb-stopped")
    _settled(stack, server_id, VmState.STOPPED)
    _done(stack, "server", "rebuild", "--image", "cirros", "rb-stopped")
    stopped = _settled(stack, server_id, VmState.STOPPED)
    assert stopped.power_state == PowerState.SHUTDOWN and stopped.host
    assert _guest_power(stack, server_id, stopped.host) == PowerState.SHUTDOWN
    assert ok(stack, "server", "show", "rb-stopped")["status"] == "SHUTOFF"
    _done(stack, "server", "delete", "--wait", "rb-stopped")


def test_a_failed_rebuild_errs_with_a_fault_and_an_errored_server_can_be_rebuilt(
    stack: RunningStack,
) -> None:
    server_id = _boot(stack, "rb-failrebuild")
    _done(stack, "server", "rebuild", "--image", "cirros", "rb-failrebuild")
    _settled(stack, server_id, VmState.ERROR)
    shown = ok(stack, "server", "show", "rb-failrebuild")
    assert shown["status"] == "ERROR"
    assert "injected: the domain failed to start again" in shown["fault"]["message"]

    # An errored server (a failed hard reboot here) is rebuilt back to active.
    errored = _boot(stack, "rb-fails")
    _done(stack, "server", "reboot", "--hard", "rb-fails")
    _settled(stack, errored, VmState.ERROR)
    _done(stack, "server", "rebuild", "--image", "cirros", "--wait", "rb-fails")
    assert _settled(stack, errored, VmState.ACTIVE).power_state == PowerState.RUNNING
    for name in ("rb-failrebuild", "rb-fails"):
        _done(stack, "server", "delete", "--wait", name)


def test_a_delete_during_a_rebuild_wins(stack: RunningStack) -> None:
    server_id = _boot(stack, "rb-slowrebuild")
    instance = stack.instance(server_id)
    assert instance is not None and instance.host
    _done(stack, "server", "rebuild", "--image", "cirros", "rb-slowrebuild")  # spawn held 20 s

    def spawning() -> bool:
        current = stack.instance(server_id)
        return current is not None and current.task_state == TaskState.REBUILD_SPAWNING

    wait_until(spawning, timeout=60)
    assert ok(stack, "server", "show", "rb-slowrebuild")["status"] == "REBUILD"
    err = _refused(stack, "server", "reboot", "--hard", "rb-slowrebuild")
    assert f"while it is in task_state {TaskState.REBUILD_SPAWNING}" in err

    _done(stack, "server", "delete", "--wait", "rb-slowrebuild")
    rebuild = wait_until(
        lambda: next(
            (a for a in _action_rows(stack, server_id) if a.action == "rebuild" and a.finish_time),
            None,
        ),
        timeout=90,
    )
    assert "deleted" in (rebuild.message or "")
    gone = stack.instance(server_id)
    assert gone is not None and gone.deleted and gone.task_state is None
    # The guest the held spawn made after the delete's destroy is removed too.
    wait_until(lambda: _guest_power(stack, server_id, instance.host) is None, timeout=60)


def test_the_answer_is_novas_at_each_microversion(stack: RunningStack) -> None:
    server_id = _boot(stack, "rb-schema")
    image_id = str(ok(stack, "image", "show", "cirros")["id"])
    for version in ("2.1", "2.47", "2.57", "2.75", "2.96"):
        response = stack.demo().request(
            "compute", "POST", f"servers/{server_id}/action",
            json={"rebuild": {"imageRef": image_id}},
            headers={"OpenStack-API-Version": f"compute {version}"},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        server = response.json()["server"]
        assert server["status"] == "REBUILD" and "adminPass" not in server
        validate(
            schema_module(ServersClient.schema_versions_info, version).rebuild_server, response
        )
        _settled(stack, server_id, VmState.ACTIVE)
    _done(stack, "server", "delete", "--wait", "rb-schema")


def test_a_hostname_given_at_create_reaches_the_guests_config_drive(stack: RunningStack) -> None:
    fqdn = "x" * 52 + "-guest-test.domaintest.com"
    created = ok(
        stack, "--os-compute-api-version", "2.94", "server", "create", "rb-hostname",
        "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
        "--hostname", fqdn, "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    shown = ok(stack, "--os-compute-api-version", "2.94", "server", "show", "rb-hostname")
    assert shown["OS-EXT-SRV-ATTR:hostname"] == fqdn
    instance = stack.instance(str(created["id"]))
    assert instance is not None and instance.host
    assert _meta_data(stack, instance.host, instance.uuid)["hostname"] == fqdn
    _done(stack, "server", "delete", "--wait", "rb-hostname")


def test_each_rebuild_step_is_safe_to_run_twice(stack: RunningStack) -> None:
    """*-twice: every step fails once just after its side effect, then runs again."""
    server_id = _boot(stack, "rb-twice")
    _done(stack, "server", "rebuild", "--image", "cirros", "rb-twice")
    rebuilt = _settled(stack, server_id, VmState.ACTIVE)
    assert rebuilt.host and _guest_power(stack, server_id, rebuilt.host) == PowerState.RUNNING
    (rebuild, _create) = _actions(stack, "rb-twice")
    detail = ok(stack, "server", "event", "show", server_id, rebuild["Request ID"], admin=True)
    attempts = [e["result"] for e in detail["events"] if e["event"] == "advance_rebuild"]
    assert sorted(attempts) == ["Error", "Success"]
    _done(stack, "server", "delete", "--wait", "rb-twice")
