"""What a request asks of a host, and a host's resources as SQL."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Float, and_, type_coerce
from sqlalchemy.orm import InstrumentedAttribute

from db.models.compute import ComputeNode


@dataclass(frozen=True)
class RequestSpec:
    instance_uuid: str
    vcpus: int
    memory_mb: int
    root_gb: int
    availability_zone: str | None = None
    image_properties: dict[str, str] = field(default_factory=dict)
    # Resolved from the scheduler hints before filtering:
    group_policy: str | None = None  # the server group's policy, if the request names one
    group_hosts: frozenset[str] = frozenset()  # hosts the group's other members are on
    same_host: frozenset[str] = frozenset()  # hosts of the same_host instances
    different_host: frozenset[str] = frozenset()  # hosts of the different_host instances
    group_uuid: str | None = None


@dataclass(frozen=True)
class Resource:
    """One resource of a host as SQL over compute_nodes: what it has, what is used, and how
    far it may be overcommitted. The filters, the weighers and the claim all read it here,
    so "fits" means one thing to each of them."""

    total: InstrumentedAttribute[int]
    used: InstrumentedAttribute[int]
    ratio: InstrumentedAttribute[float]

    def fits(self, amount: int) -> ColumnElement[bool]:
        return self.used + amount <= self.total * self.ratio

    @functools.cached_property
    def free(self) -> ColumnElement[float]:
        return type_coerce(self.total * self.ratio - self.used, Float)


VCPU = Resource(ComputeNode.vcpus, ComputeNode.vcpus_used, ComputeNode.cpu_allocation_ratio)
RAM = Resource(ComputeNode.memory_mb, ComputeNode.memory_mb_used, ComputeNode.ram_allocation_ratio)
DISK = Resource(ComputeNode.local_gb, ComputeNode.local_gb_used, ComputeNode.disk_allocation_ratio)


def resources_fit(spec: RequestSpec) -> ColumnElement[bool]:
    return and_(VCPU.fits(spec.vcpus), RAM.fits(spec.memory_mb), DISK.fits(spec.root_gb))
