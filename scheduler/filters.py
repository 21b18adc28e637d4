"""Host filters with Nova's names and meanings, each one SQL condition on compute_nodes.

A filter turns the request into the condition a host must meet (None when the request asks
nothing of it), so the database decides over every host: a valid host is found however many
there are. The resource filters (Core/Ram/Disk) do what Placement does for Nova since Train:
compare the request with what is free after allocation ratios. They answer from the
last-reported usage; the claim (scheduler.claims) makes the final, atomic decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, and_, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from db.models.compute import ComputeNode
from scheduler.host_state import DISK, RAM, VCPU, RequestSpec

node = ComputeNode


@dataclass(frozen=True)
class FilterRequest:
    """What the filters compare each host with."""

    spec: RequestSpec
    now: datetime
    service_down: timedelta


HostFilter = Callable[[FilterRequest], ColumnElement[bool] | None]


# The bound parameter holding ComputeFilter's heartbeat cutoff: a kept select statement
# (scheduler.statement_cache) is run again with the cutoff of its own time.
ALIVE_SINCE = "alive_since"


def up_and_enabled(now: datetime, service_down: timedelta) -> ColumnElement[bool]:
    """ComputeFilter's rule, which an alternate's claim checks too."""
    cutoff = bindparam(ALIVE_SINCE, now - service_down, type_=node.heartbeat_at.type)
    return and_(node.disabled.is_(False), node.heartbeat_at >= cutoff)


def compute_filter(r: FilterRequest) -> ColumnElement[bool]:
    """Enabled hosts whose worker heartbeated within the service-down time."""
    return up_and_enabled(r.now, r.service_down)


def availability_zone_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    zone = r.spec.availability_zone
    return node.availability_zone == zone if zone else None


def core_filter(r: FilterRequest) -> ColumnElement[bool]:
    return VCPU.fits(r.spec.vcpus)


def ram_filter(r: FilterRequest) -> ColumnElement[bool]:
    return RAM.fits(r.spec.memory_mb)


def disk_filter(r: FilterRequest) -> ColumnElement[bool]:
    return DISK.fits(r.spec.root_gb)


# libvirt's getType() names and Nova's hypervisor_type image property, compared lower-case:
# a host of the key's type runs images that ask for any of the values.
_HYPERVISOR_ALIASES = {"qemu": {"qemu", "kvm"}, "kvm": {"kvm", "qemu"}, "test": {"test"}}


def _hypervisors_running(wanted: str) -> list[str]:
    """The host hypervisor types that run an image asking for ``wanted`` (lower-case)."""
    aliases = {have for have, runs in _HYPERVISOR_ALIASES.items() if wanted in runs}
    return sorted({wanted} | aliases)


_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TO_ASCII_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_UPPER.lower())


def ascii_lower(text: str) -> str:
    return text.translate(_TO_ASCII_LOWER)


class AsciiLower(FunctionElement[str]):
    """A column folded to lower case in A-Z only, the same on every database: SQLite's
    lower() does only that; PostgreSQL's does under the "C" collation, and under others
    folds further letters by the database's locale."""

    type = String()
    inherit_cache = True


@compiles(AsciiLower)
def _lower(element: AsciiLower, compiler: SQLCompiler, **kw: object) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(AsciiLower, "postgresql")
def _lower_c(element: AsciiLower, compiler: SQLCompiler, **kw: object) -> str:
    return f'lower({compiler.process(element.clauses, **kw)} COLLATE "C")'


def image_properties_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    """The image's hw_architecture and hypervisor_type, if it names them, match the host's
    (ignoring case in A-Z)."""
    props = r.spec.image_properties
    arch = props.get("hw_architecture") or props.get("architecture")
    wanted = props.get("hypervisor_type") or props.get("img_hv_type")
    conditions = []
    if arch:
        conditions.append(AsciiLower(node.cpu_arch) == ascii_lower(arch))
    if wanted:
        running = _hypervisors_running(ascii_lower(wanted))
        conditions.append(AsciiLower(node.hypervisor_type).in_(running))
    return and_(*conditions) if conditions else None


def server_group_affinity_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    """An affinity group's members all land on one host (the first member's)."""
    if r.spec.group_policy != "affinity" or not r.spec.group_hosts:
        return None
    return node.host.in_(sorted(r.spec.group_hosts))


def not_on(hosts: frozenset[str]) -> ColumnElement[bool] | None:
    return node.host.not_in(sorted(hosts)) if hosts else None


def anti_affinity_hosts(r: FilterRequest) -> frozenset[str]:
    """An anti-affinity group's members each land on a host of their own."""
    return r.spec.group_hosts if r.spec.group_policy == "anti-affinity" else frozenset()


def different_hosts(r: FilterRequest) -> frozenset[str]:
    return r.spec.different_host


def server_group_anti_affinity_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    return not_on(anti_affinity_hosts(r))


def same_host_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    return node.host.in_(sorted(r.spec.same_host)) if r.spec.same_host else None


def different_host_filter(r: FilterRequest) -> ColumnElement[bool] | None:
    return not_on(different_hosts(r))


ALL_FILTERS: dict[str, HostFilter] = {
    "ComputeFilter": compute_filter,
    "AvailabilityZoneFilter": availability_zone_filter,
    "CoreFilter": core_filter,
    "RamFilter": ram_filter,
    "DiskFilter": disk_filter,
    "ImagePropertiesFilter": image_properties_filter,
    "ServerGroupAffinityFilter": server_group_affinity_filter,
    "ServerGroupAntiAffinityFilter": server_group_anti_affinity_filter,
    "SameHostFilter": same_host_filter,
    "DifferentHostFilter": different_host_filter,
}


def check_filter_names(names: list[str]) -> None:
    """An unknown name is a config error, found when the scheduler is configured."""
    unknown = [n for n in names if n not in ALL_FILTERS]
    if unknown:
        raise ValueError(f"unknown scheduler filters {unknown}; known: {sorted(ALL_FILTERS)}")


# The filters whose condition is "not one of these hosts": the select asks it of all of them
# at once, in one NOT IN.
AVOIDING: dict[str, Callable[[FilterRequest], frozenset[str]]] = {
    "ServerGroupAntiAffinityFilter": anti_affinity_hosts,
    "DifferentHostFilter": different_hosts,
}


def filter_conditions(
    names: list[str], request: FilterRequest
) -> list[tuple[str, ColumnElement[bool] | None]]:
    """The enabled filters' conditions for this request, in the configured order."""
    return [(name, ALL_FILTERS[name](request)) for name in names]


def passing_conditions(
    names: list[str], request: FilterRequest, exclude: frozenset[str]
) -> list[ColumnElement[bool]]:
    """What a host must meet to pass every enabled filter and not be one of ``exclude``:
    the filters' conditions with every host they name to avoid in one NOT IN, last."""
    avoided = set(exclude)
    conditions = []
    for name in names:
        if name in AVOIDING:
            avoided |= AVOIDING[name](request)
        elif (condition := ALL_FILTERS[name](request)) is not None:
            conditions.append(condition)
    last = not_on(frozenset(avoided))
    return conditions if last is None else [*conditions, last]


@dataclass
class FilterReport:
    """How many hosts there were and how many each filter removed, for NoValidHost faults."""

    hosts: int
    removed: dict[str, int]

    def explain(self) -> str:
        if self.hosts == 0:
            return "No valid host was found. There are no compute hosts."
        removed = ", ".join(f"{name} removed {n}" for name, n in self.removed.items() if n)
        plural = "host" if self.hosts == 1 else "hosts"
        return f"No valid host was found. {self.hosts} {plural}; {removed or 'none removed'}."
