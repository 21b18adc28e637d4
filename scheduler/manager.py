"""Host selection: which hosts can take a request, best first.

The database filters and weighs every host (scheduler.filters and scheduler.weighers are
SQL) and returns only the best few, so the answer is exact at any scale: no valid host is
missed, and the order is the one weighing every host would give. One statement does it:
the passing hosts, how many passed and each weigher's range among them, then the best by
weighted sum. When none passes, another counts, per filter in order, how many it removed
of those the earlier ones left.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, func, literal, not_, select, true
from sqlalchemy.orm import Session

from core.config import SchedulerOptions
from db.models.compute import Claim, ComputeNode, Instance, ServerGroup, ServerGroupMember
from scheduler.filters import (
    ALIVE_SINCE,
    FilterReport,
    FilterRequest,
    filter_conditions,
    passing_conditions,
)
from scheduler.host_state import RequestSpec
from scheduler.statement_cache import StatementCache
from scheduler.weighers import (
    BuildFailureWeigher,
    CPUWeigher,
    DiskWeigher,
    RAMWeigher,
    Weighed,
    Weigher,
    score,
)


def weighers(options: SchedulerOptions) -> list[Weigher]:
    """Nova's weighers with the configured multipliers."""
    return [
        RAMWeigher(options.ram_weight_multiplier),
        CPUWeigher(options.cpu_weight_multiplier),
        DiskWeigher(options.disk_weight_multiplier),
        BuildFailureWeigher(options.build_failure_weight_multiplier),
    ]


@dataclass
class Selection:
    hosts: list[str]  # the chosen host first, then alternates
    candidates: int
    report: FilterReport | None = None


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


def select_hosts(
    session: Session,
    spec: RequestSpec,
    options: SchedulerOptions,
    now: datetime,
    rng: random.Random,
    exclude: frozenset[str] = frozenset(),
) -> Selection:
    """The hosts that can take ``spec``, best first (up to max_attempts of them)."""
    request = FilterRequest(spec, now, options.service_down)
    # Nova's host_subset_size: pick among the best few, so concurrent requests spread out.
    subset_size = max(1, options.host_subset_size)
    collation = _CODE_POINT_ORDER[session.get_bind().dialect.name]
    active = [w for w in weighers(options) if w.multiplier]
    limit = max(subset_size, options.scheduler_max_attempts)

    def build() -> Select[tuple[str, int]]:
        passing = passing_conditions(options.scheduler_filters, request, exclude)
        return _best(passing, active, limit, collation)

    if _names_hosts(spec, exclude):
        statement = build()
    else:
        key = (_shape(spec), tuple(options.scheduler_filters), tuple(active), limit, collation)
        statement = _STATEMENTS.get(key, build)
    alive = {ALIVE_SINCE: now - options.service_down}
    rows = session.connection().execute(statement, alive).all()
    if not rows:
        hosts: list[ColumnElement[bool]] = (
            [ComputeNode.host.not_in(sorted(exclude))] if exclude else []
        )
        conditions = filter_conditions(options.scheduler_filters, request)
        return Selection([], 0, _report(session, hosts, conditions))
    ranked = [row.host for row in rows]
    first = rng.choice(ranked[:subset_size])
    ordered = [first, *(h for h in ranked if h != first)]
    return Selection(ordered[: options.scheduler_max_attempts], rows[0].candidates)


# The select statements built so far, by everything they depend on but the time.
_STATEMENTS: StatementCache[Select[tuple[str, int]]] = StatementCache()


def _names_hosts(spec: RequestSpec, exclude: frozenset[str]) -> bool:
    """Whether the select names hosts (hints, a group's members, hosts tried): such a
    statement is one request's own, so keeping it would only hold memory the collector
    walks on every full pass."""
    return bool(exclude or spec.group_hosts or spec.same_host or spec.different_host)


def _shape(spec: RequestSpec) -> Hashable:
    """What of a request without named hosts the select's filters read."""
    return (
        spec.vcpus,
        spec.memory_mb,
        spec.root_gb,
        spec.availability_zone,
        tuple(sorted(spec.image_properties.items())),
        spec.group_policy,
    )


def _best(
    passing: list[ColumnElement[bool]], active: list[Weigher], limit: int, collation: str
) -> Select[tuple[str, int]]:
    """The best ``limit`` passing hosts and how many passed, in one statement: the passing
    hosts with each weigher's value (filtered once, kept), their count and each weigher's
    range over them, then the order. Both kept as computed (MATERIALIZED): window
    aggregates or filtering twice cost more, and the planner may not re-run either."""
    values = [w.value().label(f"value{i}") for i, w in enumerate(active)]
    passed = select(ComputeNode.host, *values).where(*passing)
    hosts = passed.cte("passing").prefix_with("MATERIALIZED")
    ranges_of = [func.count().label("candidates")]
    for i in range(len(active)):
        value = hosts.c[f"value{i}"]
        ranges_of += [func.min(value).label(f"low{i}"), func.max(value).label(f"high{i}")]
    ranges = select(*ranges_of).cte("ranges").prefix_with("MATERIALIZED")
    weighed = [
        Weighed(hosts.c[f"value{i}"], ranges.c[f"low{i}"], ranges.c[f"high{i}"])
        for i in range(len(active))
    ]
    return (
        select(hosts.c.host, ranges.c.candidates)
        .select_from(ranges)
        .join(hosts, true())
        .order_by(score(active, weighed).desc(), hosts.c.host.collate(collation))
        .limit(limit)
    )


# Ties go to the host name that sorts first by code point, as Python's sort puts it,
# whatever collation the database was created with.
_CODE_POINT_ORDER = {"postgresql": "C", "sqlite": "BINARY"}


def _report(
    session: Session,
    hosts: list[ColumnElement[bool]],
    conditions: list[tuple[str, ColumnElement[bool] | None]],
) -> FilterReport:
    """Per filter in order, how many hosts it removed of those the earlier ones left: each
    host counts against the first filter it fails (one query, each condition once)."""
    failing = [(not_(c), i) for i, (_, c) in enumerate(conditions) if c is not None]
    first_failed = case(*failing, else_=-1) if failing else literal(-1)
    per_host = select(first_failed.label("first_failed")).where(*hosts).subquery()
    counts = session.execute(
        select(per_host.c.first_failed, func.count()).group_by(per_host.c.first_failed)
    ).all()
    report = FilterReport(hosts=0, removed={name: 0 for name, _ in conditions})
    for index, count in counts:
        report.hosts += count
        if index >= 0:
            report.removed[conditions[index][0]] += count
    return report


def group_allows(session: Session, spec: RequestSpec, host: str) -> bool:
    """The late check a claim makes inside its transaction, so two members of a group
    racing for hosts can't both win a placement the policy forbids."""
    if spec.group_uuid is None or spec.group_policy not in ("affinity", "anti-affinity"):
        return True
    conn = session.connection()
    # Serializes the group's members' claims (PostgreSQL row lock; SQLite is serial anyway).
    conn.execute(
        select(ServerGroup.uuid).where(ServerGroup.uuid == spec.group_uuid).with_for_update()
    )
    member_hosts = set(
        conn.scalars(
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
