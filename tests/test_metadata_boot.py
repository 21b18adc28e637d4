"""Metadata given at create crosses into the boot: the record's metadata is written with
the record (one transaction), and the guest finds it in its config drive's meta_data.json
("meta"), as Nova's config drive has it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.instances import InstanceActivities
from core.messages import CreateInstanceInput, FlavorSpec, ImageSpec, RequestContext
from db.models.compute import InstanceMetadata
from db.session import make_engine, make_session_factory
from tests.test_spawn import _request, _spawner

METADATA = {"role": "web", "tier": "1"}


def test_the_record_is_written_with_its_metadata(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    steps = InstanceActivities(sessions)
    request = CreateInstanceInput(
        instance_uuid=str(uuid.uuid4()),
        name="web",
        request_id="req-1",
        context=RequestContext("u-1", "demo", "p-1", "demo", ["member"], "2099-01-01T00:00:00Z"),
        flavor=FlavorSpec("1", "m1.tiny", 1, 512, 1),
        image=ImageSpec("img-1", "cirros", 1, "qcow2", None),
        metadata=METADATA,
    )
    env = ActivityEnvironment()
    env.run(steps.create_instance_record, request)
    env.run(steps.create_instance_record, request)  # a retry adds nothing
    with sessions.begin() as s:
        rows = s.execute(
            select(InstanceMetadata.key, InstanceMetadata.value).where(
                InstanceMetadata.instance_uuid == request.instance_uuid
            )
        ).all()
    assert dict(rows) == METADATA and len(rows) == 2


def test_the_guest_finds_the_metadata_in_its_config_drive(tmp_path: Path) -> None:
    request = dataclasses.replace(_request(tmp_path), metadata=METADATA)
    files = _spawner(tmp_path, 1.0)._config_drive(request)
    assert json.loads(files["openstack/latest/meta_data.json"])["meta"] == METADATA
