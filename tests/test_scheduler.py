"""Filters, weighers and claims: the scheduler never overcommits a host."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.scheduler import SchedulerActivities
from compute import resource_tracker
from compute.driver import HostResources
from core.config import DEFAULT_SCHEDULER_FILTERS, SchedulerOptions, Settings, load_settings
from core.errors import ErrorType
from core.messages import ClaimAlternateInput, FlavorSpec, ScheduleInput
from db import hosts as db_hosts
from db.base import utcnow
from db.models.compute import Claim, ComputeNode, Instance
from db.session import SessionFactory, make_engine, make_session_factory
from scheduler import claims
from scheduler.host_state import RequestSpec
from scheduler.manager import select_hosts
from tests.support.databases import overlapping

TINY = RequestSpec("i-1", vcpus=1, memory_mb=512, root_gb=1)


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


def _building(sessions: SessionFactory, uuid: str, vm_state: str = "building") -> None:
    with sessions.begin() as s:
        s.add(
            Instance(
                uuid=uuid,
                name=uuid,
                project_id="p",
                user_id="u",
                flavor_id="1",
                flavor_name="m1.tiny",
                vcpus=1,
                memory_mb=512,
                root_gb=1,
                image_ref="img",
                vm_state=vm_state,
                task_state="scheduling",
            )
        )


def test_claim_is_keyed_by_instance_and_release_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=4096)
    _building(sessions, "i-1")
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


def test_a_claim_moves_the_record_to_the_task_state_the_workflow_sends(
    database_url: str, tmp_path: Path
) -> None:
    """The first host stage's task_state is written with the claim (and again by a retry
    that finds the claim made); without one the record stays scheduling, and a record no
    longer building keeps its own."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=4096)
    for uuid in ("moved", "left"):
        _building(sessions, uuid)
    _building(sessions, "stopped", vm_state="error")
    scheduler = SchedulerActivities(sessions, load_settings(tmp_path))
    for _ in range(2):
        placed = ActivityEnvironment().run(
            scheduler.schedule_and_claim,
            ScheduleInput("moved", TINY_FLAVOR, task_state="networking"),
        )
        assert placed.host == "h1"
    ActivityEnvironment().run(scheduler.schedule_and_claim, ScheduleInput("left", TINY_FLAVOR))
    ActivityEnvironment().run(
        scheduler.schedule_and_claim, ScheduleInput("stopped", TINY_FLAVOR, task_state="networking")
    )
    with sessions.begin() as s:
        states = dict(s.execute(select(Instance.uuid, Instance.task_state)).all())
    assert states == {"moved": "networking", "left": "scheduling", "stopped": "scheduling"}
    engine.dispose()


def test_a_retried_claim_answers_from_the_claim_it_holds_and_counts_once(
    database_url: str,
) -> None:
    engine = make_engine(database_url, pool_size=5)
    sessions = make_session_factory(engine)
    _node(sessions, "h1", memory_mb=512)  # room for exactly this claim
    _node(sessions, "h2", memory_mb=4096)
    # Two tries of one claim at once (an activity retried while its first try still runs):
    # both find it made, once.
    assert overlapping(sessions, lambda s: claims.claim(s, TINY, "h1")) == (True, True)
    with sessions.begin() as s:
        assert claims.claim(s, TINY, "h1")  # full now, but it is this instance's claim
        assert not claims.claim(s, TINY, "h2")  # it holds h1, not h2
    with sessions.begin() as s:
        used = dict(s.execute(select(ComputeNode.host, ComputeNode.memory_mb_used)).all())
        held = s.execute(select(Claim.instance_uuid, Claim.host)).all()
    assert used == {"h1": 512, "h2": 0}
    assert [tuple(row) for row in held] == [("i-1", "h1")]
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


def _config(**kw: Any) -> SchedulerOptions:
    """The scheduler's options, given by short names: filters, max_attempts, and each
    weigher's multiplier as <name>_weight."""
    names = {"filters": "scheduler_filters", "max_attempts": "scheduler_max_attempts"}
    options = {
        names.get(key, f"{key}_multiplier" if key.endswith("_weight") else key): value
        for key, value in kw.items()
    }
    return SchedulerOptions(**options)


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
        assert chosen.hosts == ["h2", "h1", "h3"]
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
            firsts.add(chosen.hosts[0])
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


# --- exact at any scale: every host is filtered and weighed --------------------------------

MANY = 1000
LAST = f"host{MANY - 1:04d}"
OTHERS = frozenset(f"host{i:04d}" for i in range(MANY - 1))
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


# A roomy host, up and enabled, with nothing used.
ROOMY: dict[str, Any] = (
    dict(hypervisor_type="QEMU", cpu_arch="x86_64", availability_zone="nova", disabled=False)
    | dict(vcpus=8, memory_mb=16384, local_gb=100, failed_builds=0, running_vms=0)
    | dict(vcpus_used=0, memory_mb_used=0, local_gb_used=0)
    | dict(cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0)
)


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _fleet(sessions: SessionFactory, rows: list[dict[str, Any]]) -> None:
    """Compute nodes in bulk: each row's values over ROOMY's."""
    now = utcnow()
    with sessions.begin() as s:
        s.execute(
            insert(ComputeNode),
            [
                {**ROOMY, "hypervisor_hostname": r["host"], "heartbeat_at": now, "created_at": now}
                | r
                for r in rows
            ],
        )


def _many(others: dict[str, Any]) -> list[dict[str, Any]]:
    """MANY hosts, all but the last changed by ``others``. The last has the least free RAM
    and the last name, so a search that reads the most free RAM first reaches it last."""
    return [
        {"host": f"host{i:04d}", "memory_mb_used": i * 8, **(others if i < MANY - 1 else {})}
        for i in range(MANY)
    ]


# What makes every host but the last fail one filter: (the filter, the others' change, the
# request's).
ONLY_THE_LAST: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "disabled": ("ComputeFilter", {"disabled": True}, {}),
    "down": ("ComputeFilter", {"heartbeat_at": LONG_AGO}, {}),
    "zone": ("AvailabilityZoneFilter", {"availability_zone": "az1"}, {"availability_zone": "nova"}),
    "vcpus": ("CoreFilter", {"vcpus_used": 32}, {}),
    "ram": ("RamFilter", {"memory_mb_used": 16000}, {}),
    "disk": ("DiskFilter", {"local_gb_used": 100}, {}),
    "architecture": (
        "ImagePropertiesFilter",
        {"cpu_arch": "aarch64"},
        {"image_properties": {"hw_architecture": "x86_64"}},
    ),
    "hypervisor": (
        "ImagePropertiesFilter",
        {"hypervisor_type": "TEST"},
        {"image_properties": {"hypervisor_type": "kvm"}},
    ),
    "affinity": (
        "ServerGroupAffinityFilter",
        {},
        {"group_policy": "affinity", "group_hosts": frozenset({LAST})},
    ),
    "anti-affinity": (
        "ServerGroupAntiAffinityFilter",
        {},
        {"group_policy": "anti-affinity", "group_hosts": OTHERS},
    ),
    "same_host": ("SameHostFilter", {}, {"same_host": frozenset({LAST})}),
    "different_host": ("DifferentHostFilter", {}, {"different_host": OTHERS}),
}


@pytest.mark.parametrize("case", list(ONLY_THE_LAST))
def test_the_one_host_of_1000_that_passes_a_filter_is_found(
    sessions: SessionFactory, case: str
) -> None:
    name, others, asked = ONLY_THE_LAST[case]
    _fleet(sessions, _many(others))
    spec = RequestSpec("i-1", 1, 512, 1, **asked)
    with sessions.begin() as s:
        chosen = select_hosts(s, spec, _config(), utcnow(), random.Random(0))
    assert chosen.hosts == [LAST] and chosen.candidates == 1
    with sessions.begin() as s:
        s.execute(update(ComputeNode).where(ComputeNode.host == LAST).values(disabled=True))
    with sessions.begin() as s:
        none = select_hosts(s, spec, _config(), utcnow(), random.Random(0))
    assert none.hosts == [] and none.report is not None
    removed = (
        "ComputeFilter removed 1000"
        if name == "ComputeFilter"
        else f"ComputeFilter removed 1, {name} removed 999"
    )
    assert none.report.explain() == f"No valid host was found. 1000 hosts; {removed}."


def test_a_same_host_hint_lands_beside_its_instance_among_1000_hosts(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    _fleet(sessions, _many({}))
    with sessions.begin() as s:
        s.add(Claim(instance_uuid="neighbour", host=LAST, vcpus=1, memory_mb=512, disk_gb=1))
    scheduler = SchedulerActivities(sessions, load_settings(tmp_path))
    placed = ActivityEnvironment().run(
        scheduler.schedule_and_claim,
        ScheduleInput("i-1", TINY_FLAVOR, scheduler_hints={"same_host": ["neighbour"]}),
    )
    assert (placed.host, placed.candidates, placed.alternates) == (LAST, 1, [])


def test_packing_with_a_negative_ram_multiplier_fills_the_fullest_of_1000_hosts(
    sessions: SessionFactory,
) -> None:
    _fleet(sessions, _many({}))  # free RAM falls with the host number
    with sessions.begin() as s:
        chosen = select_hosts(s, TINY, _config(ram_weight=-1.0), utcnow(), random.Random(0))
    assert chosen.hosts == ["host0999", "host0998", "host0997"]


def test_a_filter_list_without_ram_filter_leaves_ram_to_the_claim(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    _fleet(sessions, [{**row, "memory_mb_used": 16000} for row in _many({})])
    without_ram = [f for f in DEFAULT_SCHEDULER_FILTERS if f != "RamFilter"]
    with sessions.begin() as s:
        chosen = select_hosts(s, TINY, _config(filters=without_ram), utcnow(), random.Random(0))
        refused = select_hosts(s, TINY, _config(), utcnow(), random.Random(0))
    assert chosen.candidates == MANY and len(chosen.hosts) == 3
    assert refused.report is not None
    assert refused.report.explain() == (
        "No valid host was found. 1000 hosts; RamFilter removed 1000."
    )
    scheduler = SchedulerActivities(
        sessions, load_settings(tmp_path, scheduler_filters=without_ram)
    )
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(scheduler.schedule_and_claim, ScheduleInput("i-1", TINY_FLAVOR))
    assert failed.value.type == ErrorType.NO_VALID_HOST
    assert failed.value.message == (
        "No valid host was found. 1000 hosts passed the filters; the 3 tried (host0000, "
        "host0001, host0002) could not be claimed: the request does not fit there now (a claim "
        "checks vCPUs, RAM and disk whichever filters are enabled), or its server group's "
        "policy forbids it."
    )


def _reference_order(nodes: list[ComputeNode], spec: RequestSpec, c: SchedulerOptions) -> list[str]:
    """Nova's filter scheduler in plain Python over every host: ComputeFilter's enabled
    check and the resource filters, then every weigher normalized over the hosts that
    passed, times its multiplier; best first, ties by name."""
    passing = [
        n
        for n in nodes
        if not n.disabled
        and n.vcpus_used + spec.vcpus <= n.vcpus * n.cpu_allocation_ratio
        and n.memory_mb_used + spec.memory_mb <= n.memory_mb * n.ram_allocation_ratio
        and n.local_gb_used + spec.root_gb <= n.local_gb * n.disk_allocation_ratio
    ]
    weighers: list[tuple[float, Callable[[ComputeNode], float]]] = [
        (
            c.ram_weight_multiplier,
            lambda n: n.memory_mb * n.ram_allocation_ratio - n.memory_mb_used,
        ),
        (c.cpu_weight_multiplier, lambda n: n.vcpus * n.cpu_allocation_ratio - n.vcpus_used),
        (
            c.disk_weight_multiplier,
            lambda n: n.local_gb * n.disk_allocation_ratio - n.local_gb_used,
        ),
        (c.build_failure_weight_multiplier, lambda n: -float(n.failed_builds)),
    ]
    scores = {n.host: 0.0 for n in passing}
    for multiplier, value in weighers:
        values = [value(n) for n in passing]
        low, high = min(values, default=0.0), max(values, default=0.0)
        for n, v in zip(passing, values, strict=True):
            scores[n.host] += multiplier * ((v - low) / (high - low) if high - low else 0.0)
    return sorted(scores, key=lambda h: (-scores[h], h))


def _random_fleet(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Hosts drawn from a few sizes and usages (so ties are common), under names that sort
    differently by code point than by a natural-language collation."""
    rows = []
    for i in range(count):
        vcpus, memory, disk = rng.choice([2, 8, 64]), rng.choice([2048, 16384]), 100
        rows.append(
            {
                "host": f"{rng.choice(['node', 'Node', 'node-', 'node_', 'nodé'])}{i}",
                "vcpus": vcpus,
                "vcpus_used": rng.randrange(0, vcpus * 4 + 1, 2),
                "memory_mb": memory,
                "memory_mb_used": rng.randrange(0, memory + 1, 1024),
                "local_gb": disk,
                "local_gb_used": rng.randrange(0, disk + 1, 10),
                "cpu_allocation_ratio": rng.choice([1.0, 2.5, 16.0]),
                "ram_allocation_ratio": rng.choice([1.0, 1.5, 0.9]),
                "disk_allocation_ratio": rng.choice([1.0, 1.1]),
                "failed_builds": rng.choice([0, 0, 0, 1, 3]),
                "disabled": rng.random() < 0.05,
            }
        )
    return rows


def _random_multiplier(rng: random.Random) -> float:
    return rng.choice([0.0, 1.0, -1.0, 3.0, rng.uniform(-10.0, 10.0)])


def test_weighing_in_the_database_orders_hosts_as_weighing_every_host_does(
    sessions: SessionFactory,
) -> None:
    rng = random.Random(20)
    for count in (1, 2, 30, 200, MANY, MANY):
        with sessions.begin() as s:
            s.execute(delete(ComputeNode))
        _fleet(sessions, _random_fleet(rng, count))
        config = _config(
            ram_weight=_random_multiplier(rng),
            cpu_weight=_random_multiplier(rng),
            disk_weight=_random_multiplier(rng),
            build_failure_weight=rng.choice([1_000_000.0, 0.0, _random_multiplier(rng)]),
            max_attempts=count,
        )
        spec = RequestSpec("i-1", rng.choice([1, 4]), rng.choice([512, 4096]), rng.choice([1, 30]))
        with sessions.begin() as s:
            expected = _reference_order(list(s.scalars(select(ComputeNode))), spec, config)
            chosen = select_hosts(s, spec, config, utcnow(), rng)
        assert chosen.hosts == expected, config
        assert chosen.candidates == len(expected)


def test_filters_remove_disabled_down_and_full_hosts_and_say_which(
    sessions: SessionFactory,
) -> None:
    _fleet(
        sessions,
        [
            {"host": "ok"},
            {"host": "overcommitted", "vcpus": 2, "vcpus_used": 7},  # 2 x 4.0 = 8 schedulable
            {"host": "disabled", "disabled": True, "memory_mb_used": 16384},
            {"host": "down", "heartbeat_at": LONG_AGO},
            {"host": "no-cpu", "vcpus": 2, "vcpus_used": 8},
            {"host": "no-ram", "memory_mb_used": 16000},
            {"host": "no-disk", "local_gb_used": 100},
            {"host": "other-az", "availability_zone": "az2"},
        ],
    )
    spec = RequestSpec("i-1", 1, 512, 1, availability_zone="nova")
    with sessions.begin() as s:
        chosen = select_hosts(s, spec, _config(), utcnow(), random.Random(0))
        assert set(chosen.hosts) == {"ok", "overcommitted"}
        s.execute(update(ComputeNode).where(ComputeNode.host == "ok").values(disabled=True))
        s.execute(
            update(ComputeNode).where(ComputeNode.host == "overcommitted").values(vcpus_used=8)
        )
        none = select_hosts(s, spec, _config(), utcnow(), random.Random(0))
    assert none.report is not None
    assert none.report.explain() == (
        "No valid host was found. 8 hosts; ComputeFilter removed 3, "
        "AvailabilityZoneFilter removed 1, CoreFilter removed 2, RamFilter removed 1, "
        "DiskFilter removed 1."
    )


def test_build_failures_outweigh_free_ram(sessions: SessionFactory) -> None:
    _fleet(
        sessions,
        [
            {"host": "roomy-but-failing", "failed_builds": 2},
            {"host": "tight", "memory_mb_used": 12000},
        ],
    )
    with sessions.begin() as s:
        chosen = select_hosts(s, TINY, _config(), utcnow(), random.Random(0))
    assert chosen.hosts == ["tight", "roomy-but-failing"]


def test_an_affinity_groups_first_member_may_go_anywhere(sessions: SessionFactory) -> None:
    _fleet(sessions, [{"host": "a"}, {"host": "b"}])
    first = RequestSpec("i-1", 1, 512, 1, group_policy="affinity", group_uuid="g")
    with sessions.begin() as s:
        chosen = select_hosts(s, first, _config(), utcnow(), random.Random(0))
    assert chosen.candidates == 2


def test_image_properties_ignore_case_in_a_to_z_alike_on_every_database(
    sessions: SessionFactory,
) -> None:
    _fleet(
        sessions,
        [
            {"host": "shouting", "cpu_arch": "X86_64", "hypervisor_type": "QEMU"},
            {"host": "upper", "cpu_arch": "ÄRCH64"},
            {"host": "lower", "cpu_arch": "ärch64"},
        ],
    )

    def hosts_for(**image: str) -> set[str]:
        spec = RequestSpec("i-1", 1, 512, 1, image_properties=image)
        with sessions.begin() as s:
            return set(select_hosts(s, spec, _config(), utcnow(), random.Random(0)).hosts)

    assert hosts_for(hw_architecture="x86_64", hypervisor_type="KVM") == {"shouting"}
    # Letters beyond A-Z are compared as written (PostgreSQL's lower() would fold them by
    # its locale, SQLite's would not).
    assert hosts_for(hw_architecture="ÄRCH64") == {"upper"}
    assert hosts_for(hw_architecture="äRCH64") == {"lower"}


def test_hosts_to_avoid_are_reported_by_the_filter_that_removed_them(
    sessions: SessionFactory,
) -> None:
    _fleet(sessions, [{"host": name} for name in ("a", "b", "c", "d", "e")])
    spec = RequestSpec(
        "i-1",
        1,
        512,
        1,
        group_policy="anti-affinity",
        group_hosts=frozenset({"a", "b"}),
        different_host=frozenset({"b", "c"}),
    )
    with sessions.begin() as s:
        chosen = select_hosts(s, spec, _config(), utcnow(), random.Random(0))
        assert (sorted(chosen.hosts), chosen.candidates) == (["d", "e"], 2)
        s.execute(update(ComputeNode).where(ComputeNode.host == "e").values(disabled=True))
    with sessions.begin() as s:
        tried = select_hosts(s, spec, _config(), utcnow(), random.Random(0), frozenset({"d"}))
    assert tried.hosts == [] and tried.report is not None
    assert tried.report.explain() == (
        "No valid host was found. 4 hosts; ComputeFilter removed 1, "
        "ServerGroupAntiAffinityFilter removed 2, DifferentHostFilter removed 1."
    )


def test_unknown_filter_names_stop_the_scheduler_at_start(sessions: SessionFactory) -> None:
    with pytest.raises(ValueError, match="NopeFilter"):
        SchedulerActivities(sessions, _config(filters=["RamFilter", "NopeFilter"]))
