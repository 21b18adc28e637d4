"""allocate_port against the real network service: one port per NIC, reused by its own
retries and after a reschedule, never looked up where no earlier attempt can have made one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.ports import PortActivities
from clients.network import NetworkClient
from core.messages import AllocatePortInput, NetworkSpec, PortSpec
from tests.support.cloud import LoopbackCloud, loopback_cloud

INSTANCE = "5c1d2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "network")) as c:
        yield c


@pytest.fixture
def admin(cloud: LoopbackCloud) -> Iterator[NetworkClient]:
    session = cloud.session("bootflow")
    yield NetworkClient(session)
    session.close()


@pytest.fixture
def network(admin: NetworkClient) -> NetworkSpec:
    net = admin.create_network("private")
    admin.create_subnet(net["id"], "10.0.0.0/24")
    return NetworkSpec(net["id"], "private")


class CountingNetwork(NetworkClient):
    """The real client, counting the port lookups it sends."""

    lookups = 0

    def list_ports(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
        self.lookups += 1
        return super().list_ports(*args, **kwargs)  # type: ignore[arg-type]


def allocate(
    cloud: LoopbackCloud,
    admin: NetworkClient,
    host: str,
    request: AllocatePortInput,
    attempt: int = 1,
) -> tuple[PortSpec, int]:
    """Run allocate_port as ``host``'s worker would, on its ``attempt``; the port and how
    many lookups it made."""
    network = CountingNetwork(admin.session)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    ports = PortActivities(network, host=host)
    port = env.run(ports.allocate_port, request)
    return port, network.lookups


def test_first_attempt_on_first_host_creates_without_lookup(
    cloud: LoopbackCloud, admin: NetworkClient, network: NetworkSpec
) -> None:
    request = AllocatePortInput(INSTANCE, "demo", network, after_reschedule=False)
    first, lookups = allocate(cloud, admin, "node1", request)
    assert lookups == 0
    # Its retry (the first try's answer was lost) finds that port instead of making another.
    again, lookups = allocate(cloud, admin, "node1", request, attempt=2)
    assert lookups == 1
    assert again.id == first.id
    assert [p["id"] for p in admin.list_ports(device_id=INSTANCE)] == [first.id]


def test_two_nics_on_one_network_get_two_ports(
    cloud: LoopbackCloud, admin: NetworkClient, network: NetworkSpec
) -> None:
    request = AllocatePortInput(INSTANCE, "demo", network, after_reschedule=False)
    one, _ = allocate(cloud, admin, "node1", request)
    two, _ = allocate(cloud, admin, "node1", request)
    assert one.id != two.id
    assert one.fixed_ips[0].ip_address != two.fixed_ips[0].ip_address


def test_after_a_reschedule_a_port_left_behind_is_rebound_here(
    cloud: LoopbackCloud, admin: NetworkClient, network: NetworkSpec
) -> None:
    left, _ = allocate(
        cloud, admin, "node1", AllocatePortInput(INSTANCE, "demo", network, after_reschedule=False)
    )
    # node1's undo failed to delete it; the build moved on to node2.
    moved, lookups = allocate(
        cloud, admin, "node2", AllocatePortInput(INSTANCE, "demo", network, after_reschedule=True)
    )
    assert lookups == 1
    assert moved.id == left.id
    [port] = admin.list_ports(device_id=INSTANCE)
    assert port["binding:host_id"] == "node2"


def test_a_retry_of_the_second_nic_on_a_network_finds_its_own_port(
    cloud: LoopbackCloud, admin: NetworkClient, network: NetworkSpec
) -> None:
    """The second NIC's first try made its port but its answer was lost (a 503, a crash):
    its retry finds that port, not the first NIC's, and makes no third."""
    first, _ = allocate(
        cloud, admin, "node1", AllocatePortInput(INSTANCE, "demo", network, after_reschedule=False)
    )
    second_nic = AllocatePortInput(
        INSTANCE, "demo", network, after_reschedule=False, taken=[first.id]
    )
    made, _ = allocate(cloud, admin, "node1", second_nic)
    again, _ = allocate(cloud, admin, "node1", second_nic, attempt=2)
    assert again.id == made.id != first.id
    assert sorted(p["id"] for p in admin.list_ports(device_id=INSTANCE)) == sorted(
        [first.id, made.id]
    )


def test_after_a_reschedule_each_nic_on_a_network_takes_a_different_port_left_behind(
    cloud: LoopbackCloud, admin: NetworkClient, network: NetworkSpec
) -> None:
    first_try = AllocatePortInput(INSTANCE, "demo", network, after_reschedule=False)
    one, _ = allocate(cloud, admin, "node1", first_try)
    two, _ = allocate(cloud, admin, "node1", dataclasses.replace(first_try, taken=[one.id]))
    # node1's undo failed to delete both; the build moved on to node2.
    moved_one, _ = allocate(
        cloud, admin, "node2", AllocatePortInput(INSTANCE, "demo", network, after_reschedule=True)
    )
    moved_two, _ = allocate(
        cloud,
        admin,
        "node2",
        AllocatePortInput(INSTANCE, "demo", network, after_reschedule=True, taken=[moved_one.id]),
    )
    assert {moved_one.id, moved_two.id} == {one.id, two.id}
    ports = admin.list_ports(device_id=INSTANCE)
    assert len(ports) == 2 and {p["binding:host_id"] for p in ports} == {"node2"}
