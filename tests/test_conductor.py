"""The conductor API: what a compute host writes and reads of the database, done by the
compute API for it (clients.conductor), for admins only, with every body bounded and
checked (Nova's 400, never a 500)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from clients.conductor import ConductorClient
from core.conductor import (
    ABSENT,
    MAX_EVENT_DETAILS,
    MAX_HOSTS_PER_CALL,
    MAX_INSTANCES_PER_CALL,
    PREFIX,
    HostCapacity,
    StepEvent,
)
from db.models.compute import Claim, ComputeNode, Instance, InstanceActionEvent, Leftover
from tests.support.cloud import LoopbackCloud, loopback_cloud
from tests.support.records import instance_row, start_action

CAPACITY = HostCapacity("QEMU", "node1.example", "x86_64", "az2", 8, 8192, 100, 4.0, 1.5, 1.0)
BODY: dict[str, Any] = dataclasses.asdict(CAPACITY)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "compute")) as cloud:
        yield cloud


def _instance(uid: str, host: str, vm_state: str = "active", name: str = "vm") -> Instance:
    mac = {"addr": "10.0.0.5", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}
    return instance_row(
        uid,
        host,
        name=name,
        vm_state=vm_state,
        addresses={"private": [mac]},
        preserved_ports=["users-port"],
    )


def _node(cloud: LoopbackCloud, host: str) -> ComputeNode:
    with cloud.sessions.begin() as s:
        node = s.scalar(select(ComputeNode).where(ComputeNode.host == host))
        assert node is not None
        s.expunge(node)
        return node


def test_a_host_reports_and_heartbeats_through_the_compute_api(cloud: LoopbackCloud) -> None:
    conductor = ConductorClient(cloud.session("bootflow"))
    conductor.report("node1", CAPACITY)
    node = _node(cloud, "node1")
    assert (node.availability_zone, node.vcpus, node.memory_mb, node.local_gb) == (
        "az2",
        8,
        8192,
        100,
    )
    assert (node.hypervisor_hostname, node.ram_allocation_ratio) == ("node1.example", 1.5)

    # A restart reports again: the same row, new numbers; usage is the claims' sum.
    with cloud.sessions.begin() as s:
        s.add(Claim(instance_uuid="i-1", host="node1", vcpus=2, memory_mb=1024, disk_gb=10))
        s.execute(update(ComputeNode).values(heartbeat_at=LONG_AGO))
    conductor.report("node1", dataclasses.replace(CAPACITY, vcpus=16))
    node = _node(cloud, "node1")
    assert (node.vcpus, node.vcpus_used, node.memory_mb_used, node.running_vms) == (16, 2, 1024, 1)
    assert node.heartbeat_at > LONG_AGO

    # One heartbeat for every host of a process: the known ones beat, the rest are named.
    conductor.report("node2", CAPACITY)
    with cloud.sessions.begin() as s:
        s.execute(update(ComputeNode).values(heartbeat_at=LONG_AGO))
        s.add(Claim(instance_uuid="i-2", host="node2", vcpus=1, memory_mb=512, disk_gb=1))
    assert conductor.heartbeat(["node1", "node2", "node3"]) == ["node3"]
    node1, node2 = _node(cloud, "node1"), _node(cloud, "node2")
    assert node1.heartbeat_at > LONG_AGO and node2.heartbeat_at > LONG_AGO
    assert node2.running_vms == 1


def test_a_heartbeat_for_more_hosts_than_one_call_takes_goes_in_parts(
    cloud: LoopbackCloud,
) -> None:
    conductor = ConductorClient(cloud.session("bootflow"))
    conductor.report("node0001", CAPACITY)
    many = [f"node{i:04}" for i in range(MAX_HOSTS_PER_CALL + 5)]
    assert conductor.heartbeat(many) == [h for h in many if h != "node0001"]


def test_a_host_reads_what_it_may_hold_and_resolves_leftovers(cloud: LoopbackCloud) -> None:
    conductor = ConductorClient(cloud.session("bootflow"))
    here, building, elsewhere, failed, missing = (str(uuid.uuid4()) for _ in range(5))
    with cloud.sessions.begin() as s:
        s.add_all(
            [
                _instance(here, "node1"),
                _instance(building, "node1", vm_state="building"),
                _instance(elsewhere, "node2"),
                _instance(failed, "node1", vm_state="error"),
            ]
        )
        s.add(
            Leftover(
                instance_uuid=failed, project_id="p", step="destroy_guest", error="x", host="node1"
            )
        )

    held = conductor.placements("node1", [here, building, elsewhere, failed, missing])
    assert held[here].here and held[here].macs == frozenset({"fa:16:3e:00:00:01"})
    assert held[here].preserved == frozenset({"users-port"})
    assert held[building].here and held[building].macs is None
    assert not held[elsewhere].here and not held[failed].here
    assert held[missing] == ABSENT
    assert conductor.active_instances("node1") == [here]

    # Longer lists than one call takes go in parts.
    found = [str(uuid.uuid4()) for _ in range(MAX_INSTANCES_PER_CALL + 1)] + [here]
    assert conductor.placements("node1", found)[here].here

    assert conductor.resolve_leftovers("node1", failed) == 1
    assert conductor.resolve_leftovers("node1", failed) == 0
    with cloud.sessions.begin() as s:
        assert s.scalar(select(Leftover.resolved_at)) is not None


def _booting(cloud: LoopbackCloud, name: str) -> tuple[ConductorClient, str]:
    """A host's conductor client, and an instance on node1 with its boot's action."""
    uid = str(uuid.uuid4())
    with cloud.sessions.begin() as s:
        s.add(_instance(uid, "node1", name=name))
        start_action(s, uid, f"boot-{uid}")
    return ConductorClient(cloud.session("bootflow")), uid


def test_a_hosts_step_events_and_instance_names(cloud: LoopbackCloud) -> None:
    conductor, uid = _booting(cloud, "web-1")
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event_id = conductor.start_event(StepEvent(f"boot-{uid}", uid, "spawn", "node1", 2, started))
    # Another workflow's step belongs to no action.
    assert conductor.start_event(StepEvent("other", uid, "spawn", "node1", 1, started)) is None
    assert event_id is not None
    conductor.finish_event(event_id, "BuildAbortException: " + "x" * 100_000)
    with cloud.sessions.begin() as s:
        (event,) = s.scalars(select(InstanceActionEvent))
        assert (event.event, event.host, event.attempt, event.start_time) == (
            "spawn",
            "node1",
            2,
            started,
        )
        assert event.result == "Error" and event.details is not None
        assert event.details.startswith("BuildAbortException: xxx")

    assert conductor.instance_name(uid) == "web-1"
    assert conductor.instance_name(str(uuid.uuid4())) is None


def _call(cloud: LoopbackCloud, token: str | None, method: str, path: str, **kw: Any) -> Any:
    headers = {"X-Auth-Token": token} if token else {}
    url = cloud.urls["compute"] + PREFIX + path
    return httpx.request(method, url, headers=headers, **kw)


REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PUT", "/hosts/node1", BODY),
    ("POST", "/heartbeats", {"hosts": ["node1"]}),
    ("POST", "/hosts/node1/placements", {"instance_uuids": ["i-1"]}),
    ("POST", "/hosts/node1/leftovers/resolve", {"instance_uuid": "i-1"}),
    ("GET", "/hosts/node1/active-instances", None),
    (
        "POST",
        "/events",
        {
            "workflow_id": "boot-i-1",
            "instance_uuid": "i-1",
            "event": "spawn",
            "host": "node1",
            "attempt": 1,
            "started_at": "2026-01-02T03:04:05+00:00",
        },
    ),
    ("POST", "/events/1/finish", {"error": None}),
    ("GET", "/instances/i-1/name", None),
]


def test_only_an_admin_may_call_it(cloud: LoopbackCloud) -> None:
    demo = cloud.session("demo")
    for method, path, body in REQUESTS:
        refused = _call(cloud, demo.token, method, path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["forbidden"]["code"] == 403
        assert _call(cloud, None, method, path, json=body).status_code == 401
    admin = cloud.session("admin")
    answers = [_call(cloud, admin.token, m, p, json=b).status_code for m, p, b in REQUESTS]
    assert answers == [204, 200, 200, 200, 200, 201, 204, 404]


def _event(**changes: Any) -> dict[str, Any]:
    body = dict(REQUESTS[5][2] or {})
    return {k: v for k, v in (body | changes).items() if v != "DROP"}


BAD: list[tuple[str, str, Any]] = [
    ("PUT", "/hosts/node1", {**BODY, "vcpus": -1}),
    ("PUT", "/hosts/node1", {**BODY, "vcpus": "eight"}),
    ("PUT", "/hosts/node1", {**BODY, "surprise": 1}),
    ("PUT", "/hosts/node1", {k: v for k, v in BODY.items() if k != "cpu_arch"}),
    ("PUT", "/hosts/node1", {**BODY, "cpu_arch": "x" * 33}),
    ("PUT", "/hosts/no%20de", BODY),
    ("PUT", "/hosts/" + "n" * 256, BODY),
    ("PUT", "/hosts/node1", [1, 2]),
    ("POST", "/heartbeats", {"hosts": []}),
    ("POST", "/heartbeats", {"hosts": [f"n{i}" for i in range(MAX_HOSTS_PER_CALL + 1)]}),
    ("POST", "/heartbeats", {"hosts": ["node 1"]}),
    ("POST", "/heartbeats", {"hosts": "node1"}),
    ("POST", "/heartbeats", None),
    ("POST", "/hosts/node1/placements", {"instance_uuids": ["i"] * (MAX_INSTANCES_PER_CALL + 1)}),
    ("POST", "/hosts/node1/placements", {"instance_uuids": ["x" * 256]}),
    ("POST", "/hosts/node1/leftovers/resolve", {"instance_uuid": "x" * 37}),
    ("POST", "/events", _event(started_at="2026-01-02T03:04:05")),  # no time zone
    ("POST", "/events", _event(attempt=0)),
    ("POST", "/events", _event(workflow_id="w" * 129)),
    ("POST", "/events", _event(host="DROP")),
    ("POST", "/events/0/finish", {"error": None}),
    ("POST", "/events/1/finish", {"error": "x" * 70_000}),
    ("GET", "/instances/" + "x" * 37 + "/name", None),
]


def test_bad_requests_are_novas_400_and_oversize_ones_413(cloud: LoopbackCloud) -> None:
    token = cloud.session("admin").token
    for method, path, body in BAD:
        refused = _call(cloud, token, method, path, json=body)
        assert refused.status_code == 400, (path, body, refused.text)
        assert refused.json()["badRequest"]["code"] == 400
    garbled = _call(cloud, token, "POST", "/heartbeats", content=b"{not json")
    assert garbled.status_code == 400
    huge = {"hosts": ["n" * 255] * 5000}
    too_big = _call(cloud, token, "POST", "/heartbeats", json=huge)
    assert too_big.status_code == 413 and "overLimit" in too_big.json()


def test_a_quick_host_step_is_recorded_whole_in_one_call(cloud: LoopbackCloud) -> None:
    conductor, uid = _booting(cloud, "web-2")
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ended = datetime(2026, 1, 2, 3, 4, 5, 20_000, tzinfo=UTC)
    error = "ImageVerificationError: " + "x" * (MAX_EVENT_DETAILS - 24)
    step = StepEvent(f"boot-{uid}", uid, "fetch_image", "node1", 1, started, ended, error)
    event_id = conductor.start_event(step)
    with cloud.sessions.begin() as s:
        event = s.get_one(InstanceActionEvent, event_id)
    assert (event.start_time, event.finish_time, event.result) == (started, ended, "Error")
    assert event.details == error


def test_events_of_instances_with_no_record_and_unknown_events_are_harmless(
    cloud: LoopbackCloud,
) -> None:
    token = cloud.session("admin").token
    assert _call(cloud, token, "POST", "/events", json=_event()).json() == {"event_id": None}
    assert _call(cloud, token, "POST", "/events/99/finish", json={}).status_code == 204
    ago = datetime.now(UTC) - timedelta(minutes=1)
    body = _event(started_at=ago.isoformat(), host=None)
    assert _call(cloud, token, "POST", "/events", json=body).status_code == 201
