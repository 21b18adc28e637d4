"""Network's tables. An IP is held by a row in ``ip_allocations`` whose primary key is
(subnet, address): the database itself refuses to hand one address out twice.

Every resource carries Neutron's ``description`` and ``revision_number`` (bumped on each
update), which clients use for display and compare-and-swap."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, Timestamps, UuidPk


class StandardAttributes(Timestamps):
    """Neutron's standard attributes, after a resource's own columns."""

    description: Mapped[str] = mapped_column(default="")
    revision_number: Mapped[int] = mapped_column(default=1)


class Network(StandardAttributes, Base):
    __tablename__ = "networks"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(default="")
    project_id: Mapped[str] = mapped_column(String(64))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    mtu: Mapped[int] = mapped_column(default=1500)

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", order_by="Subnet.created_at"
    )


class Subnet(StandardAttributes, Base):
    __tablename__ = "subnets"

    id: Mapped[UuidPk]
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(default="")
    project_id: Mapped[str] = mapped_column(String(64))
    cidr: Mapped[str] = mapped_column(String(64))
    ip_version: Mapped[int] = mapped_column(default=4)
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    # [{"start": "10.0.0.2", "end": "10.0.0.254"}], as Neutron's allocation_pools.
    allocation_pools: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"destination": "10.20.0.0/24", "nexthop": "10.0.0.9"}], as Neutron's host_routes.
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(StandardAttributes, Base):
    __tablename__ = "ports"
    __table_args__ = (Index("ix_ports_device_id", "device_id"),)

    id: Mapped[UuidPk]
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(default="")
    mac_address: Mapped[str] = mapped_column(String(17), unique=True)
    device_id: Mapped[str] = mapped_column(default="")
    device_owner: Mapped[str] = mapped_column(default="")
    binding_host_id: Mapped[str] = mapped_column(default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")

    fixed_ips: Mapped[list[IpAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IpAllocation.ip_address"
    )


class IpAllocation(Base):
    __tablename__ = "ip_allocations"

    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    network_id: Mapped[str] = mapped_column(String(36))

    port: Mapped[Port] = relationship(back_populates="fixed_ips")


class Router(StandardAttributes, Base):
    """Neutron's router as a resource: its interfaces are ports whose ``device_id`` is the
    router's and whose ``device_owner`` is ``network:router_interface``."""

    __tablename__ = "routers"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(default="")
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # Neutron's extraroute: [{"destination": "10.2.0.0/24", "nexthop": "10.0.0.9"}].
    routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class NetworkQuota(Base):
    """A project's limit for one resource set through Neutron's quota API; a resource
    without a row has the service's default (Neutron's ``quotas`` table)."""

    __tablename__ = "network_quotas"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int]
