"""Filters, weighers and claims: the scheduler never overcommits a host."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.scheduler import SchedulerActivities
from compute import resource_tracker
from compute.driver import HostResources
from core.config import Settings, load_settings
from core.errors import ErrorType
from core.messages import ClaimAlternateInput, FlavorSpec, ScheduleInput
from db import hosts as db_hosts
from db.base import utcnow
from db.models.compute import Claim, ComputeNode, Instance
from db.session import SessionFactory, make_engine, make_session_factory
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
from scheduler.manager import SchedulerConfig, select_hosts
from scheduler.weighers import RAMWeigher, weigh
from tests.support.databases import overlapping

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
        assert claims.release(s, "i-1") is True
    with sessions.begin() as s:
        assert claims.release(s, "i-1") is False
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


# --- the filters and weighers added for Nova parity -----------------------------------


def test_image_properties_filter_matches_architecture_and_hypervisor() -> None:
    from scheduler.filters import ImagePropertiesFilter

    f = ImagePropertiesFilter()
    x86_qemu = host("a", cpu_arch="x86_64", hypervisor_type="QEMU")
    i686_test = host("b", cpu_arch="i686", hypervisor_type="TEST")
    any_image = RequestSpec("i", 1, 512, 1)
    wants_x86 = RequestSpec("i", 1, 512, 1, image_properties={"hw_architecture": "x86_64"})
    wants_kvm = RequestSpec("i", 1, 512, 1, image_properties={"hypervisor_type": "kvm"})
    assert f.host_passes(x86_qemu, any_image) and f.host_passes(i686_test, any_image)
    assert f.host_passes(x86_qemu, wants_x86) and not f.host_passes(i686_test, wants_x86)
    assert f.host_passes(x86_qemu, wants_kvm) and not f.host_passes(i686_test, wants_kvm)


def test_group_and_same_different_host_filters() -> None:
    from scheduler.filters import (
        DifferentHostFilter,
        SameHostFilter,
        ServerGroupAffinityFilter,
        ServerGroupAntiAffinityFilter,
    )

    a, b = host("a"), host("b")
    anti = RequestSpec("i", 1, 512, 1, group_policy="anti-affinity", group_hosts=frozenset({"a"}))
    aff = RequestSpec("i", 1, 512, 1, group_policy="affinity", group_hosts=frozenset({"a"}))
    first_of_group = RequestSpec("i", 1, 512, 1, group_policy="affinity")
    assert [h.host for h in (a, b) if ServerGroupAntiAffinityFilter().host_passes(h, anti)] == ["b"]
    assert [h.host for h in (a, b) if ServerGroupAffinityFilter().host_passes(h, aff)] == ["a"]
    assert ServerGroupAffinityFilter().host_passes(b, first_of_group)
    same = RequestSpec("i", 1, 512, 1, same_host=frozenset({"b"}))
    different = RequestSpec("i", 1, 512, 1, different_host=frozenset({"b"}))
    assert [h.host for h in (a, b) if SameHostFilter().host_passes(h, same)] == ["b"]
    assert [h.host for h in (a, b) if DifferentHostFilter().host_passes(h, different)] == ["a"]


def test_build_failure_weigher_outweighs_free_ram() -> None:
    from scheduler.weighers import BuildFailureWeigher

    roomy_but_failing = host("a", failed_builds=2)
    tight = host("b", memory_mb_used=1500)
    ranked = weigh([roomy_but_failing, tight], [RAMWeigher(), BuildFailureWeigher(1_000_000.0)])
    assert [h.host for h in ranked] == ["b", "a"]


def test_unknown_filter_names_are_a_config_error() -> None:
    from scheduler.filters import build_filters

    with pytest.raises(ValueError, match="NopeFilter"):
        build_filters(["RamFilter", "NopeFilter"], utcnow(), timedelta(seconds=60))


def _config(**kw: object) -> SchedulerConfig:
    from scheduler.filters import ALL_FILTERS

    return SchedulerConfig(filters=list(ALL_FILTERS), service_down=timedelta(seconds=60), **kw)  # type: ignore[arg-type]


def test_select_returns_the_best_host_then_alternates_and_explains_none(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    for name, mem in (("h1", 2048), ("h2", 4096), ("h3", 1024), ("h4", 8192)):
        _node(sessions, name, memory_mb=mem)
    with sessions.begin() as s:
        s.execute(update(ComputeNode).where(ComputeNode.host == "h4").values(disabled=True))
    rng = random.Random(0)
    with sessions.begin() as s:
        chosen = select_hosts(
            s, RequestSpec("i", 1, 1024, 1), _config(max_attempts=3), utcnow(), rng
        )
        assert [h.host for h in chosen.hosts] == ["h2", "h1", "h3"]
        assert chosen.candidates == 3 and chosen.report is None
        none = select_hosts(s, RequestSpec("i", 1, 5000, 1), _config(), utcnow(), rng)
    assert none.hosts == [] and none.report is not None
    assert none.report.explain() == (
        "No valid host was found. 4 hosts; ComputeFilter removed 1, RamFilter removed 3."
    )
    engine.dispose()


def test_host_subset_size_spreads_the_first_choice(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    for name in ("h1", "h2", "h3"):
        _node(sessions, name, memory_mb=4096)
    firsts = set()
    rng = random.Random(7)
    with sessions.begin() as s:
        for _ in range(30):
            chosen = select_hosts(s, TINY, _config(host_subset_size=3), utcnow(), rng)
            firsts.add(chosen.hosts[0].host)
    assert firsts == {"h1", "h2", "h3"}
    engine.dispose()


def test_concurrent_claims_of_an_anti_affinity_group_never_share_a_host(
    database_url: str,
) -> None:
    from db.models.compute import ServerGroup, ServerGroupMember

    engine = make_engine(database_url, pool_size=20)
    sessions = make_session_factory(engine)
    for name in ("h1", "h2", "h3"):
        _node(sessions, name, memory_mb=65536)
    members = [f"m{i}" for i in range(8)]
    with sessions.begin() as s:
        s.add(
            ServerGroup(
                uuid="g1", name="spread", project_id="p", user_id="u", policy="anti-affinity"
            )
        )
        s.flush()
        s.add_all(ServerGroupMember(group_uuid="g1", instance_uuid=m) for m in members)
    placed: dict[str, str] = {}
    lock = threading.Lock()

    def boot(member: str) -> None:
        spec = RequestSpec(member, 1, 512, 1, group_uuid="g1", group_policy="anti-affinity")
        for candidate in ("h1", "h2", "h3"):  # everyone races for the same hosts
            with sessions.begin() as s:
                if claims.claim(s, spec, candidate):
                    with lock:
                        placed[member] = candidate
                    return

    threads = [threading.Thread(target=boot, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(placed.values()) == ["h1", "h2", "h3"]  # three hosts, three members
    engine.dispose()


# --- availability zones and alternates -----------------------------------------------------

TINY_FLAVOR = FlavorSpec("1", "m1.tiny", vcpus=1, memory_mb=512, root_gb=1)


def _report(sessions: SessionFactory, name: str, settings: Settings) -> None:
    found = HostResources("QEMU", name, "x86_64", vcpus=8, memory_mb=8192, disk_gb=100)
    with sessions.begin() as s:
        db_hosts.report(s, name, resource_tracker.capacity(found, settings))


def test_each_host_reports_its_zone_and_a_boot_lands_in_the_zone_it_asks(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    in_nova = load_settings(tmp_path)
    in_az2 = load_settings(tmp_path, availability_zone="az2")
    _report(sessions, "node1", in_nova)
    _report(sessions, "node2", in_nova)
    _report(sessions, "node2", in_az2)  # a restart with a new zone moves the host
    with sessions.begin() as s:
        zones = dict(s.execute(select(ComputeNode.host, ComputeNode.availability_zone)).all())
    assert zones == {"node1": "nova", "node2": "az2"}

    scheduler = SchedulerActivities(sessions, in_nova)
    env = ActivityEnvironment()
    placed = env.run(
        scheduler.schedule_and_claim, ScheduleInput("i-az2", TINY_FLAVOR, availability_zone="az2")
    )
    assert (placed.host, placed.alternates) == ("node2", [])
    with pytest.raises(ApplicationError) as refused:
        env.run(
            scheduler.schedule_and_claim,
            ScheduleInput("i-az9", TINY_FLAVOR, availability_zone="az9"),
        )
    assert refused.value.type == ErrorType.NO_VALID_HOST
    assert refused.value.message == (
        "No valid host was found. 2 hosts; AvailabilityZoneFilter removed 2."
    )
    engine.dispose()


def test_claim_alternate_skips_alternates_that_are_down_or_disabled(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    for name in ("down", "disabled", "ok"):
        _node(sessions, name, memory_mb=4096)
    with sessions.begin() as s:
        s.execute(
            update(ComputeNode)
            .where(ComputeNode.host == "down")
            .values(heartbeat_at=utcnow() - timedelta(seconds=61))
        )
        s.execute(update(ComputeNode).where(ComputeNode.host == "disabled").values(disabled=True))
    scheduler = SchedulerActivities(sessions, load_settings(tmp_path, service_down_seconds=60.0))
    env = ActivityEnvironment()

    def claim(host: str) -> bool:
        return env.run(scheduler.claim_alternate, ClaimAlternateInput("i-1", TINY_FLAVOR, host))

    # The workflow tries its alternates in order until one claim succeeds.
    assert [claim(h) for h in ("down", "disabled", "ok")] == [False, False, True]
    with sessions.begin() as s:
        assert s.get(Claim, "i-1").host == "ok"  # type: ignore[union-attr]
        used = dict(s.execute(select(ComputeNode.host, ComputeNode.memory_mb_used)).all())
    assert used == {"down": 0, "disabled": 0, "ok": 512}
    engine.dispose()


def test_two_overlapping_releases_of_a_claim_give_back_once(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=5)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=4096)
    for uuid in ("i-1", "i-2"):
        with sessions.begin() as s:
            assert claims.claim(s, RequestSpec(uuid, vcpus=1, memory_mb=512, root_gb=1), "h1")
    first, second = overlapping(sessions, lambda s: claims.release(s, "i-1"))
    assert (first, second) == (True, False)
    with sessions.begin() as s:
        node = s.scalar(select(ComputeNode))
        assert node is not None
        assert (node.vcpus_used, node.memory_mb_used, node.running_vms) == (1, 512, 1)
    engine.dispose()
