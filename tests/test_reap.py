"""A compute worker coming back reaps what it should no longer run."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from compute.domain_xml import DomainSpec
from compute.driver import LibvirtDriver
from db.models import Instance, Leftover
from db.session import make_engine, make_session_factory
from workers.compute import reap_guests


def _spec(instance_uuid: str, host: str, tmp: Path) -> DomainSpec:
    return DomainSpec(
        instance_uuid=instance_uuid,
        name="vm",
        host=host,
        project_id="p",
        flavor_name="m1.tiny",
        vcpus=1,
        memory_mb=64,
        root_gb=1,
        image_id="img",
        domain_type="test",
        arch="i686",
        disks=[],
        nics=[],
        console_log=str(tmp / f"{instance_uuid}.log"),
        deployment="d-test",
    )


def _instance(uid: str, host: str | None, deleted: bool = False) -> Instance:
    return Instance(
        uuid=uid,
        name="vm",
        project_id="p",
        user_id="u",
        flavor_id="1",
        flavor_name="m1.tiny",
        vcpus=1,
        memory_mb=64,
        root_gb=1,
        image_ref="img",
        vm_state="deleted" if deleted else "active",
        task_state=None,
        host=host,
        deleted=deleted,
        addresses={},
    )


def test_reaps_deleted_and_moved_guests_and_resolves_their_leftovers(
    database_url: str, tmp_path: Path
) -> None:
    sessions = make_session_factory(make_engine(database_url))
    driver = LibvirtDriver("test:///default", "node1", tmp_path, "d-test")
    keep, moved, gone, dir_only = (str(uuid.uuid4()) for _ in range(4))
    with sessions.begin() as s:
        s.add_all(
            [
                _instance(keep, "node1"),
                _instance(moved, "node2"),
                _instance(gone, None, deleted=True),
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
    for uid in (keep, moved, gone):
        driver.spawn(_spec(uid, "node1", tmp_path))
    driver.instance_dir(dir_only).mkdir(parents=True)  # a test driver that forgot its domain

    assert reap_guests(sessions, driver) == 3
    assert {g.uuid for g in driver.guests()} == {keep}
    assert not driver.instance_dir(dir_only).exists()
    assert driver.instance_dir(keep).exists()
    with sessions.begin() as s:
        (leftover,) = s.scalars(select(Leftover))
        assert leftover.resolved_at is not None
    assert reap_guests(sessions, driver) == 0
    driver.destroy(keep)
