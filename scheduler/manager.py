"""Host selection: which hosts can take a request, best first.

Select reads candidates with the resource, enabled/up and zone filters done in SQL (and at
most ``max_candidates`` of them, most free RAM first, as Placement returns a bounded set of
allocation candidates), so at 10,000 hosts a request reads a few hundred rows, not all.
The Python filters then run on those; only when nothing is left does it read every host
to say which filter removed how many.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from db.models.compute import Claim, ComputeNode, Instance, ServerGroup, ServerGroupMember
from scheduler.filters import FilterReport, HostFilter, build_filters, run_filters
from scheduler.host_state import HostState, RequestSpec
from scheduler.weighers import (
    BuildFailureWeigher,
    CPUWeigher,
    DiskWeigher,
    RAMWeigher,
    Weigher,
    weigh,
)


@dataclass(frozen=True)
class SchedulerConfig:
    filters: list[str]
    service_down: timedelta
    ram_weight: float = 1.0
    cpu_weight: float = 1.0
    disk_weight: float = 1.0
    build_failure_weight: float = 1_000_000.0
    host_subset_size: int = 1
    max_attempts: int = 3
    max_candidates: int = 200

    def weighers(self) -> list[Weigher]:
        return [
            RAMWeigher(self.ram_weight),
            CPUWeigher(self.cpu_weight),
            DiskWeigher(self.disk_weight),
            BuildFailureWeigher(self.build_failure_weight),
        ]


@dataclass
class Selection:
    hosts: list[HostState]  # the chosen host first, then alternates
    candidates: int
    report: FilterReport | None = None
    rejected: list[str] = field(default_factory=list)


def resolve_hints(
    session: Session, spec: RequestSpec, hints: dict[str, list[str]], project_id: str
) -> RequestSpec:
    """Turn scheduler hints into the hosts the filters compare against."""

    def hosts_of(instance_uuids: list[str]) -> frozenset[str]:
        if not instance_uuids:
            return frozenset()
        rows: list[str | None] = list(
            session.scalars(select(Claim.host).where(Claim.instance_uuid.in_(instance_uuids)))
        )
        rows += session.scalars(
            select(Instance.host).where(
                Instance.uuid.in_(instance_uuids),
                Instance.host.is_not(None),
                Instance.deleted.is_(False),
            )
        ).all()
        return frozenset(h for h in rows if h)

    group_uuid = next(iter(hints.get("group", [])), None)
    policy = None
    group_hosts: frozenset[str] = frozenset()
    if group_uuid:
        group = session.get(ServerGroup, group_uuid)
        if group is not None and not group.deleted and group.project_id == project_id:
            policy = group.policy
            others = [
                m.instance_uuid for m in group.members if m.instance_uuid != spec.instance_uuid
            ]
            group_hosts = hosts_of(others)
    return replace(
        spec,
        group_uuid=group_uuid if policy else None,
        group_policy=policy,
        group_hosts=group_hosts,
        same_host=hosts_of(hints.get("same_host", [])),
        different_host=hosts_of(hints.get("different_host", [])),
    )


def up_and_enabled(now: datetime, service_down: timedelta) -> ColumnElement[bool]:
    """ComputeFilter in SQL: the host is enabled and its worker heartbeated within
    ``service_down``. The candidates' query applies it, and so does an alternate's claim."""
    return and_(ComputeNode.disabled.is_(False), ComputeNode.heartbeat_at >= now - service_down)


def _candidates(spec: RequestSpec, now: datetime, config: SchedulerConfig) -> Select[ComputeNode]:
    node = ComputeNode
    query = select(node).where(
        up_and_enabled(now, config.service_down),
        node.vcpus_used + spec.vcpus <= node.vcpus * node.cpu_allocation_ratio,
        node.memory_mb_used + spec.memory_mb <= node.memory_mb * node.ram_allocation_ratio,
        node.local_gb_used + spec.root_gb <= node.local_gb * node.disk_allocation_ratio,
    )
    if spec.availability_zone:
        query = query.where(node.availability_zone == spec.availability_zone)
    free_ram = node.memory_mb * node.ram_allocation_ratio - node.memory_mb_used
    return query.order_by(free_ram.desc(), node.host).limit(config.max_candidates)


def select_hosts(
    session: Session,
    spec: RequestSpec,
    config: SchedulerConfig,
    now: datetime,
    rng: random.Random,
    exclude: frozenset[str] = frozenset(),
) -> Selection:
    """The hosts that can take ``spec``, best first (up to max_attempts of them)."""
    filters: list[HostFilter] = build_filters(config.filters, now, config.service_down)
    rows = session.scalars(_candidates(spec, now, config)).all()
    hosts = [HostState.from_node(n) for n in rows if n.host not in exclude]
    passed, _ = run_filters(hosts, spec, filters)
    if not passed:
        every = [
            HostState.from_node(n)
            for n in session.scalars(select(ComputeNode))
            if n.host not in exclude
        ]
        _, report = run_filters(every, spec, filters)
        return Selection([], 0, report)
    ranked = _weigh(passed, config)
    # Nova's host_subset_size: pick among the best few, so concurrent requests spread out.
    subset = ranked[: max(1, config.host_subset_size)]
    first = rng.choice(subset)
    ordered = [first, *(h for h in ranked if h is not first)]
    return Selection(ordered[: config.max_attempts], len(passed))


def _weigh(hosts: list[HostState], config: SchedulerConfig) -> list[HostState]:
    return weigh(hosts, config.weighers())


def group_allows(session: Session, spec: RequestSpec, host: str) -> bool:
    """The late check a claim makes inside its transaction, so two members of a group
    racing for hosts can't both win a placement the policy forbids."""
    if spec.group_uuid is None or spec.group_policy not in ("affinity", "anti-affinity"):
        return True
    # Serializes the group's members' claims (PostgreSQL row lock; SQLite is serial anyway).
    session.scalar(select(ServerGroup).where(ServerGroup.uuid == spec.group_uuid).with_for_update())
    member_hosts = set(
        session.scalars(
            select(Claim.host)
            .join(ServerGroupMember, ServerGroupMember.instance_uuid == Claim.instance_uuid)
            .where(
                ServerGroupMember.group_uuid == spec.group_uuid,
                Claim.instance_uuid != spec.instance_uuid,
            )
        )
    )
    if spec.group_policy == "anti-affinity":
        return host not in member_hosts
    return not member_hosts or member_hosts == {host}
