"""The real ``openstack`` command (python-openstackclient) against the running stack, with
the credentials of the stack's openrc: the session the README shows, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bootflow.seed import read_openrc, stored_secret
from tests.e2e.conftest import demo_project
from tests.support.stack import CliResult, RunningStack

pytestmark = pytest.mark.e2e

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def openstack(
    stack: RunningStack, *args: str, admin: bool = False, timeout: float = 180
) -> CliResult:
    """``openstack ARGS`` as a user who sourced the stack's openrc (or as its admin)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(read_openrc(stack.settings.data_dir / "openrc"))
    if admin:
        env.update(
            OS_USERNAME="admin",
            OS_PROJECT_NAME="admin",
            OS_PASSWORD=stored_secret(stack.settings, "admin_password"),
        )
    proc = subprocess.run(
        [OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def ok(stack: RunningStack, *args: str, admin: bool = False) -> Any:
    """``openstack ARGS -f json``, which must succeed; its output, parsed."""
    result = openstack(stack, *args, "-f", "json", admin=admin)
    assert result.code == 0, f"openstack {' '.join(args)}: {result.err}"
    return json.loads(result.out)


def test_openstack_cli_session(stack: RunningStack) -> None:
    """The README's session: create --wait, list, show, event list, console log, delete."""
    created = ok(
        stack,
        "server", "create", "cli-vm",
        "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
        "--property", "role=web", "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE" and created["name"] == "cli-vm"
    server_id = created["id"]
    (port,) = stack.ports_of(server_id)
    address = port["fixed_ips"][0]["ip_address"]

    listed = {s["Name"]: s for s in ok(stack, "server", "list")}
    assert listed["cli-vm"]["Status"] == "ACTIVE"
    assert listed["cli-vm"]["Networks"] == {"private": [address]}
    assert listed["cli-vm"]["Image"] == "cirros" and listed["cli-vm"]["Flavor"] == "m1.tiny"

    shown = ok(stack, "server", "show", "cli-vm")
    assert shown["id"] == server_id and shown["status"] == "ACTIVE"
    assert shown["OS-EXT-STS:vm_state"] == "active" and shown["OS-EXT-STS:task_state"] is None
    assert shown["addresses"] == {"private": [address]}
    assert shown["flavor"]["original_name"] == "m1.tiny"
    assert shown["properties"] == {"role": "web"}
    renamed = openstack(stack, "server", "set", "cli-vm", "--property", "tier=1")
    assert renamed.code == 0, renamed.err
    assert ok(stack, "server", "show", "cli-vm")["properties"] == {"role": "web", "tier": "1"}
    assert shown["image"].startswith("cirros (")
    assert shown["project_id"] == demo_project(stack)

    (action,) = ok(stack, "server", "event", "list", "cli-vm")
    assert action["Action"] == "create" and action["Server ID"] == server_id
    event = ok(stack, "server", "event", "show", "cli-vm", action["Request ID"])
    assert [e["event"] for e in event["events"]][-1] == "mark_active"

    console = openstack(stack, "console", "log", "show", "cli-vm")
    assert console.code == 0, console.err  # the test driver's console may be empty

    deleted = openstack(stack, "server", "delete", "cli-vm", "--wait")
    assert deleted.code == 0, deleted.err
    gone = openstack(stack, "server", "show", "cli-vm")
    assert gone.code == 1 and "No Server found for cli-vm" in gone.err
    assert stack.ports_of(server_id) == [] and stack.claims(server_id) == []


def test_openstack_cli_refusals_say_why(stack: RunningStack) -> None:
    bad = openstack(
        stack,
        "server", "create", "cli-bad",
        "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
        "--property", "role/x=web",
    )  # fmt: skip
    assert bad.code == 1
    assert "400" in bad.err and "'role/x' was unexpected" in bad.err
    quota = openstack(
        stack,
        "server", "create", "cli-many",
        "--flavor", "m1.medium", "--image", "cirros", "--nic", "none", "--min", "11",
        "--max", "11",
    )  # fmt: skip
    assert quota.code == 1
    assert "403" in quota.err and "Quota exceeded for instances: requested 11" in quota.err


def test_openstack_cli_multi_create_groups_and_admin_views(stack: RunningStack) -> None:
    group = ok(stack, "server", "group", "create", "--policy", "anti-affinity", "cli-group")
    assert group["policy"] == "anti-affinity"
    created = ok(
        stack,
        "server", "create", "cli-multi",
        "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
        "--min", "2", "--max", "2", "--server-group", group["id"], "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    names = sorted(s["Name"] for s in ok(stack, "server", "list", "--name", "^cli-multi-"))
    assert names == ["cli-multi-1", "cli-multi-2"]

    everything = ok(stack, "server", "list", "--all-projects", "--long", admin=True)
    mine = [s for s in everything if s["Name"] in names]
    assert len(mine) == 2 and all(s["Host"] for s in mine)
    hypervisors = ok(stack, "hypervisor", "list", admin=True)
    assert sorted(h["State"] for h in hypervisors) == ["up", "up"]
    services = ok(stack, "compute", "service", "list", admin=True)
    assert sorted((s["Host"], s["Status"]) for s in services) == [
        ("node1", "enabled"),
        ("node2", "enabled"),
    ]
    zones = ok(stack, "availability", "zone", "list")
    assert [(z["Zone Name"], z["Zone Status"]) for z in zones] == [("nova", "available")]
    assert openstack(stack, "hypervisor", "list").code == 1  # admins only

    deleted = openstack(stack, "server", "delete", *names, "--wait")
    assert deleted.code == 0, deleted.err
    assert ok(stack, "server", "list", "--name", "^cli-multi-") == []
    assert openstack(stack, "server", "group", "delete", "cli-group").code == 0


def test_openstack_cli_key_pair_reaches_the_guests_config_drive(
    stack: RunningStack, tmp_path: Path
) -> None:
    """``keypair create --public-key``, ``server create --key-name``: the key is in the
    server's view and in the config drive's meta_data.json the guest reads."""
    public_key = tmp_path / "id_ed25519.pub"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop",
         "-f", str(tmp_path / "id_ed25519")],
        check=True,
    )  # fmt: skip
    key = ok(stack, "keypair", "create", "--public-key", str(public_key), "cli-key")
    assert key["name"] == "cli-key" and key["type"] == "ssh"
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(public_key)], capture_output=True, text=True
    ).stdout.split()[1]
    assert key["fingerprint"] == printed.removeprefix("MD5:")
    assert [k["Name"] for k in ok(stack, "keypair", "list")] == ["cli-key"]

    created = ok(
        stack,
        "server", "create", "cli-keyed",
        "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "--key-name", "cli-key",
        "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE" and created["key_name"] == "cli-key"
    (drive,) = stack.settings.data_dir.rglob(f"instances/{created['id']}/disk.config")
    meta = json.loads(
        subprocess.run(
            ["isoinfo", "-R", "-i", str(drive), "-x", "/openstack/latest/meta_data.json"],
            capture_output=True,
            check=True,
        ).stdout
    )
    # As given (Nova stores the file's text as the client read it).
    assert meta["public_keys"] == {"cli-key": public_key.read_text()}
    assert meta["keys"][0]["name"] == "cli-key"

    missing = openstack(stack, "server", "create", "cli-nokey", "--flavor", "m1.tiny",
                        "--image", "cirros", "--nic", "none", "--key-name", "nokey")  # fmt: skip
    assert missing.code == 1 and "Invalid key_name provided" in missing.err

    assert openstack(stack, "server", "delete", "cli-keyed", "--wait").code == 0
    assert openstack(stack, "keypair", "delete", "cli-key").code == 0
    assert ok(stack, "keypair", "list") == []
