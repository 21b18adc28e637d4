"""A compute host reaps the guests and ports it holds for instances that should have none
there: deleted, gone, placed on another host, or failed. It learns which through the
conductor API, as its worker does."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from activities.ports import DEVICE_OWNER
from clients.conductor import ConductorClient
from clients.network import NetworkClient
from compute.domain_xml import DomainSpec
from compute.driver import LibvirtDriver
from core.messages import FlavorSpec
from db.models.compute import Leftover
from db.session import SessionFactory
from tests.support.cloud import loopback_cloud
from tests.support.records import instance_row
from workers.reaper import reap_guests, reap_ports


def _spec(instance_uuid: str, host: str, tmp: Path) -> DomainSpec:
    return DomainSpec(
        instance_uuid=instance_uuid,
        name="vm",
        host=host,
        project_id="p",
        flavor=FlavorSpec("1", "m1.tiny", vcpus=1, memory_mb=64, root_gb=1),
        image_id="img",
        domain_type="test",
        arch="i686",
        disks=[],
        nics=[],
        console_log=str(tmp / f"{instance_uuid}.log"),
        deployment="d-test",
    )


def test_reaps_deleted_and_moved_guests_and_resolves_their_leftovers(
    database_url: str, tmp_path: Path
) -> None:
    with loopback_cloud(database_url, tmp_path, services=("identity", "compute")) as cloud:
        _reap_guests(cloud.sessions, ConductorClient(cloud.session("bootflow")), tmp_path)


def _reap_guests(sessions: SessionFactory, conductor: ConductorClient, tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path, "d-test")
    keep, moved, gone, failed, dir_only = (str(uuid.uuid4()) for _ in range(5))
    with sessions.begin() as s:
        s.add_all(
            [
                instance_row(keep, "node1"),
                instance_row(moved, "node2"),
                instance_row(gone, None, deleted=True),
                # Its undo failed to destroy the guest and to release the claim.
                instance_row(failed, "node1", vm_state="error"),
            ]
        )
        s.add(
            Leftover(
                instance_uuid=moved,
                project_id="p",
                step="destroy_guest",
                error="timed out (schedule-to-start)",
                host="node1",
            )
        )
    for uid in (keep, moved, gone, failed):
        driver.spawn(_spec(uid, "node1", tmp_path))
    driver.instance_dir(dir_only).mkdir(parents=True)  # a test driver that forgot its domain

    assert reap_guests(conductor, driver) == 4
    assert {g.uuid for g in driver.guests()} == {keep}
    assert not driver.instance_dir(dir_only).exists()
    assert driver.instance_dir(keep).exists()
    with sessions.begin() as s:
        (leftover,) = s.scalars(select(Leftover))
        assert leftover.resolved_at is not None
    assert reap_guests(conductor, driver) == 0
    driver.destroy(keep)


def test_reaps_the_ports_of_instances_that_should_have_none_here(
    database_url: str, tmp_path: Path
) -> None:
    """What a stalled worker's allocate_port made after its boot moved on (or after the
    server was deleted), or beside the port an active server records (a second attempt ran
    while the first was stalled), is deleted; a user's own port is unbound and kept; the
    ports of servers placed here, building or active, and ports on other hosts are kept."""
    with loopback_cloud(
        database_url, tmp_path, services=("identity", "network", "compute")
    ) as cloud:
        session = cloud.session("bootflow")
        network = NetworkClient(session)
        conductor = ConductorClient(session)
        net = network.create_network("private")
        network.create_subnet(net["id"], "10.0.0.0/24")
        active, building, moved, gone, failed, missing, elsewhere = (
            str(uuid.uuid4()) for _ in range(7)
        )

        def port(device: str, host: str) -> dict[str, Any]:
            return network.create_port(
                net["id"], device_id=device, device_owner=DEVICE_OWNER, host=host, project_id="p"
            )

        recorded, extra = port(active, "node1"), port(active, "node1")
        users_port = network.create_port(
            net["id"], device_id="", device_owner="", host="", project_id="p"
        )
        with cloud.sessions.begin() as s:
            active_instance = instance_row(active, "node1")
            active_instance.addresses = {
                "private": [
                    {"addr": "10.0.0.9", "OS-EXT-IPS-MAC:mac_addr": recorded["mac_address"]}
                ]
            }
            gone_instance = instance_row(gone, None, deleted=True)
            gone_instance.preserved_ports = [users_port["id"]]
            s.add_all(
                [
                    active_instance,
                    instance_row(building, "node1", vm_state="building"),
                    instance_row(moved, "node2"),
                    gone_instance,
                    instance_row(failed, None, vm_state="error"),
                    instance_row(elsewhere, "node2"),
                ]
            )
        kept = {recorded["id"], port(building, "node1")["id"], port(elsewhere, "node2")["id"]}
        reaped = {extra["id"]} | {port(u, "node1")["id"] for u in (moved, gone, failed, missing)}
        network.update_port(
            users_port["id"], device_id=gone, device_owner=DEVICE_OWNER, host="node1"
        )

        assert reap_ports(conductor, network, "node1") == len(reaped) + 1
        left = {p["id"]: p for p in network.list_ports()}
        assert kept | {users_port["id"]} == set(left)
        assert left[users_port["id"]]["device_id"] == ""
        assert left[users_port["id"]]["binding:host_id"] in ("", None)
        assert reap_ports(conductor, network, "node1") == 0
        session.close()
