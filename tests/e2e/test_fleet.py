"""Simulated hosts in fleet processes (`bootflow up --hypervisor fake`): 50 hosts in two
worker processes. Boots land on several hosts of one process, each host's guests are its
own, deletes undo them, and the compute API lists every host as a hypervisor of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bootflow.stack import fleets
from tests.e2e.test_openstack_cli import ok
from tests.support.stack import TINY_SERVER, RunningStack, running_stack, stack_settings

pytestmark = pytest.mark.e2e

HOSTS = 50
PER_PROCESS = 25


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """On SQLite only: what it shows does not depend on the database, and it stays short."""
    data_dir = tmp_path_factory.mktemp("fleet")
    settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
    with running_stack(settings, hosts=HOSTS, hosts_per_process=PER_PROCESS) as running:
        yield running


def test_fifty_hosts_in_two_processes_boot_list_and_delete(fleet: RunningStack) -> None:
    processes = [c.name for c in fleet.stack.children if c.name.startswith("fleet")]
    assert processes == ["fleet1", "fleet2"]
    hosts = [f"node{i}" for i in range(1, HOSTS + 1)]
    listed = ok(fleet, "hypervisor", "list", admin=True)
    assert sorted(h["Hypervisor Hostname"].split(".")[0] for h in listed) == sorted(hosts)
    assert {h["State"] for h in listed} == {"up"}

    # One after another, each to the emptiest host: three hosts, two of them in one process.
    placed: dict[str, str] = {}
    for name in ("fleet-a", "fleet-b", "fleet-c"):
        created = fleet.cli("server", "create", name, *TINY_SERVER, "--wait", "-f", "json")
        assert created.code == 0, created.err
        server = created.json()
        assert server["status"] == "ACTIVE"
        record = fleet.instance(server["id"])
        assert record is not None and record.host is not None
        placed[server["id"]] = record.host
    assert len(set(placed.values())) == 3
    by_process = [set(f) & set(placed.values()) for f in fleets(hosts, PER_PROCESS)]
    assert max(len(p) for p in by_process) >= 2

    # Each host runs its own guest, and sees no other host's (they share one hypervisor).
    for uid, host in placed.items():
        assert [d.uuid for d in fleet.domains(host).domains] == [uid]
    idle = next(h for h in hosts if h not in placed.values())
    assert fleet.domains(idle).domains == []

    deleted = fleet.cli("server", "delete", "fleet-a", "fleet-b", "fleet-c", "--wait")
    assert deleted.code == 0, deleted.err
    for uid, host in placed.items():
        assert fleet.domains(host).domains == []
        assert fleet.claims(uid) == []
