"""The host's row in ``compute_nodes``, kept by its worker as Nova's resource tracker does:
capacity from libvirt on start, usage recomputed from claims, a heartbeat every few seconds."""

from __future__ import annotations

from sqlalchemy import select, update

from compute.driver import HostResources
from core.config import Settings
from db.base import utcnow
from db.models.compute import ComputeNode, Instance
from db.session import SessionFactory
from scheduler.claims import sync_usage


def report(sessions: SessionFactory, host: str, found: HostResources, settings: Settings) -> None:
    """Write the host's capacity (libvirt's numbers unless the settings override them) and
    its availability zone."""
    values = {
        "hypervisor_type": found.hypervisor_type,
        "hypervisor_hostname": found.hypervisor_hostname,
        "cpu_arch": found.cpu_arch,
        "availability_zone": settings.availability_zone,
        "vcpus": settings.host_vcpus or found.vcpus,
        "memory_mb": settings.host_memory_mb or found.memory_mb,
        "local_gb": settings.host_disk_gb or found.disk_gb,
        "cpu_allocation_ratio": settings.cpu_allocation_ratio,
        "ram_allocation_ratio": settings.ram_allocation_ratio,
        "disk_allocation_ratio": settings.disk_allocation_ratio,
        "heartbeat_at": utcnow(),
    }
    with sessions.begin() as session:
        node = session.scalar(select(ComputeNode).where(ComputeNode.host == host))
        if node is None:
            session.add(ComputeNode(host=host, **values))
        else:
            for key, value in values.items():
                setattr(node, key, value)
    with sessions.begin() as session:
        sync_usage(session, host)


def heartbeat(sessions: SessionFactory, host: str) -> None:
    with sessions.begin() as session:
        session.execute(
            update(ComputeNode).where(ComputeNode.host == host).values(heartbeat_at=utcnow())
        )
    with sessions.begin() as session:
        sync_usage(session, host)


def active_instances(sessions: SessionFactory, host: str) -> list[str]:
    """Uuids of the instances this host should be running."""
    with sessions.begin() as session:
        return list(
            session.scalars(
                select(Instance.uuid).where(
                    Instance.host == host,
                    Instance.vm_state == "active",
                    Instance.deleted.is_(False),
                )
            )
        )
