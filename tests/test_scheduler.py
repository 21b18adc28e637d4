"""Filters, weighers and claims: the scheduler never overcommits a host."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from db.base import utcnow
from db.models import Claim, ComputeNode, Instance
from db.session import make_engine, make_session_factory
from scheduler import claims
from scheduler.filters import (
    AvailabilityZoneFilter,
    ComputeFilter,
    CoreFilter,
    DiskFilter,
    RamFilter,
    run_filters,
)
from scheduler.host_state import HostState, RequestSpec
from scheduler.weighers import RAMWeigher, weigh

TINY = RequestSpec("i-1", vcpus=1, memory_mb=512, root_gb=1)


def host(name: str, **kw: object) -> HostState:
    values: dict[str, object] = dict(
        host=name,
        availability_zone="nova",
        vcpus=4,
        vcpus_used=0,
        memory_mb=2048,
        memory_mb_used=0,
        local_gb=10,
        local_gb_used=0,
        cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.0,
        disk_allocation_ratio=1.0,
        disabled=False,
        heartbeat_at=utcnow(),
    )
    values.update(kw)
    return HostState(**values)  # type: ignore[arg-type]


def filters() -> list:  # type: ignore[type-arg]
    return [
        ComputeFilter(utcnow(), timedelta(seconds=60)),
        AvailabilityZoneFilter(),
        CoreFilter(),
        RamFilter(),
        DiskFilter(),
    ]


def test_filters_remove_disabled_down_and_full_hosts_and_say_which() -> None:
    hosts = [
        host("ok"),
        host("disabled", disabled=True),
        host("down", heartbeat_at=utcnow() - timedelta(minutes=5)),
        host("no-ram", memory_mb_used=1800),
        host("no-disk", local_gb_used=10),
        host("other-az", availability_zone="az2"),
    ]
    spec = RequestSpec("i-1", 1, 512, 1, availability_zone="nova")
    passed, report = run_filters(hosts, spec, filters())
    assert [h.host for h in passed] == ["ok"]
    assert report.removed == {
        "ComputeFilter": 2,
        "AvailabilityZoneFilter": 1,
        "CoreFilter": 0,
        "RamFilter": 1,
        "DiskFilter": 1,
    }
    _, none = run_filters(hosts[1:], spec, filters())
    assert none.explain() == (
        "No valid host was found. 5 hosts; ComputeFilter removed 2, "
        "AvailabilityZoneFilter removed 1, RamFilter removed 1, DiskFilter removed 1."
    )


def test_cpu_allocation_ratio_allows_overcommit_of_vcpus_only() -> None:
    busy = host("h", vcpus=2, vcpus_used=7)  # 2 x 4.0 = 8 vCPUs schedulable
    assert CoreFilter().host_passes(busy, TINY)
    assert not CoreFilter().host_passes(host("h", vcpus=2, vcpus_used=8), TINY)


def test_ram_weigher_prefers_most_free_ram_with_a_stable_tie_break() -> None:
    ranked = weigh([host("a", memory_mb_used=1024), host("c"), host("b")], [RAMWeigher()])
    assert [h.host for h in ranked] == ["b", "c", "a"]


def _node(session_factory: object, name: str, memory_mb: int) -> None:
    with session_factory.begin() as s:  # type: ignore[attr-defined]
        s.add(
            ComputeNode(
                host=name,
                hypervisor_type="TEST",
                hypervisor_hostname=name,
                cpu_arch="x86_64",
                vcpus=64,
                memory_mb=memory_mb,
                local_gb=1000,
                cpu_allocation_ratio=4.0,
                ram_allocation_ratio=1.0,
                disk_allocation_ratio=1.0,
            )
        )


def test_concurrent_claims_never_overcommit(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=20)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=512 * 10)  # room for exactly 10 tiny instances
    won: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        spec = RequestSpec(f"inst-{i}", 1, 512, 1)
        with sessions.begin() as s:
            ok = claims.claim(s, spec, "h1")
        if ok:
            with lock:
                won.append(spec.instance_uuid)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sessions.begin() as s:
        node = s.scalar(select(ComputeNode))
        held = list(s.scalars(select(Claim)))
    assert node is not None
    assert len(won) == 10 and len(held) == 10
    assert (node.memory_mb_used, node.vcpus_used, node.running_vms) == (5120, 10, 10)
    engine.dispose()


def test_claim_is_keyed_by_instance_and_release_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=4096)
    with sessions.begin() as s:
        s.add(
            Instance(
                uuid="i-1",
                name="vm",
                project_id="p",
                user_id="u",
                flavor_id="1",
                flavor_name="m1.tiny",
                vcpus=1,
                memory_mb=512,
                root_gb=1,
                image_ref="img",
                vm_state="building",
                task_state="scheduling",
            )
        )
    for _ in range(2):  # a retried claim finds the first
        with sessions.begin() as s:
            assert claims.claim(s, TINY, "h1")
    with sessions.begin() as s:
        assert s.get(Instance, "i-1").host == "h1"  # type: ignore[union-attr]
        assert s.scalar(select(ComputeNode.memory_mb_used)) == 512
    with sessions.begin() as s:
        assert claims.release(s, "i-1") is not None
    with sessions.begin() as s:
        assert claims.release(s, "i-1") is None
        assert s.scalar(select(ComputeNode.memory_mb_used)) == 0
        assert s.get(Instance, "i-1").host is None  # type: ignore[union-attr]
    engine.dispose()


def test_sync_usage_recomputes_from_claims(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=4096)
    with sessions.begin() as s:
        s.add(Claim(instance_uuid="a", host="h1", vcpus=2, memory_mb=1024, disk_gb=5))
        s.add(Claim(instance_uuid="b", host="h1", vcpus=1, memory_mb=512, disk_gb=1))
        node = s.scalar(select(ComputeNode))
        assert node is not None
        node.memory_mb_used = 99999  # drifted
    with sessions.begin() as s:
        claims.sync_usage(s, "h1")
    with sessions.begin() as s:
        node = s.scalar(select(ComputeNode))
        assert node is not None
        assert (node.vcpus_used, node.memory_mb_used, node.local_gb_used, node.running_vms) == (
            3,
            1536,
            6,
            2,
        )
    engine.dispose()
