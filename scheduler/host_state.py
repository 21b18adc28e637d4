"""What the scheduler knows of a host, and what a request asks of one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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

    @property
    def free_vcpus(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio - self.vcpus_used

    @property
    def free_ram_mb(self) -> float:
        return self.memory_mb * self.ram_allocation_ratio - self.memory_mb_used

    @property
    def free_disk_gb(self) -> float:
        return self.local_gb * self.disk_allocation_ratio - self.local_gb_used
