"""What the scheduler knows of a host, and what a request asks of one."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

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


@dataclass(frozen=True)
class HostState:
    host: str
    availability_zone: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    local_gb: int
    local_gb_used: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    disabled: bool
    heartbeat_at: datetime
    cpu_arch: str = ""
    hypervisor_type: str = ""
    failed_builds: int = 0
    running_vms: int = 0

    @classmethod
    def from_node(cls, node: ComputeNode) -> HostState:
        return cls(
            host=node.host,
            availability_zone=node.availability_zone,
            vcpus=node.vcpus,
            vcpus_used=node.vcpus_used,
            memory_mb=node.memory_mb,
            memory_mb_used=node.memory_mb_used,
            local_gb=node.local_gb,
            local_gb_used=node.local_gb_used,
            cpu_allocation_ratio=node.cpu_allocation_ratio,
            ram_allocation_ratio=node.ram_allocation_ratio,
            disk_allocation_ratio=node.disk_allocation_ratio,
            disabled=node.disabled,
            heartbeat_at=node.heartbeat_at,
            cpu_arch=node.cpu_arch,
            hypervisor_type=node.hypervisor_type,
            failed_builds=node.failed_builds,
            running_vms=node.running_vms,
        )
