"""bootflow's own tables: what Nova keeps in its database (the built-in services keep theirs
in ``services/<name>/models.py``, on the same base so one migration history covers all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, CreatedAt, IntPk, ProjectUsage, utcnow


class Flavor(Base):
    __tablename__ = "flavors"

    id: Mapped[IntPk]
    # The API's id for the flavor (Nova's ``flavorid``), e.g. "1" for m1.tiny as devstack has it.
    flavorid: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(unique=True)
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    root_gb: Mapped[int]
    ephemeral_gb: Mapped[int] = mapped_column(default=0)
    swap: Mapped[int] = mapped_column(default=0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[CreatedAt]


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_project_deleted", "project_id", "deleted"),
        Index("ix_instances_host", "host"),
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str]
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), default="")

    # The flavor is copied, as Nova embeds it, so a later flavor change can't rewrite history.
    flavor_id: Mapped[str]
    flavor_name: Mapped[str]
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    root_gb: Mapped[int]
    image_ref: Mapped[str] = mapped_column(String(36))

    vm_state: Mapped[str] = mapped_column(String(32))
    task_state: Mapped[str | None] = mapped_column(String(32))
    power_state: Mapped[int] = mapped_column(default=0)
    host: Mapped[str | None]
    availability_zone: Mapped[str | None]
    # {network name: [{"addr", "version", "OS-EXT-IPS:type", "OS-EXT-IPS-MAC:mac_addr"}]}
    addresses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The user's own ports the instance was booted on (``networks: [{"port": ...}]``): undo
    # and delete unbind these instead of deleting them (Nova's preserve_on_delete).
    preserved_ports: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    # The key pair the server was booted with, copied as Nova copies it (deleting the key
    # pair later changes neither what the server shows nor what its config drive holds).
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    # Nova's lock: a locked server refuses actions to all but admins; ``locked_by`` is
    # "owner" or "admin" (who may unlock it), the reason is the user's (2.73).
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    locked_by: Mapped[str | None] = mapped_column(String(16))
    locked_reason: Mapped[str | None] = mapped_column(String(255))
    # What the owner may change with PUT /servers/{id} (Nova's display_description,
    # access_ip_v4/v6): shown, never used by the boot.
    description: Mapped[str | None]
    # The guest's hostname: the one the user set (2.90+), or the name's kept once the server
    # is renamed (until then it is the name's, as the boot made it; a rename does not
    # change the guest's, as in Nova).
    hostname: Mapped[str | None]
    # Nova's user_data (base64 as given; set by a rebuild from 2.57): the config drive's.
    user_data: Mapped[str | None] = mapped_column(Text)
    access_ip_v4: Mapped[str | None] = mapped_column(String(39))
    access_ip_v6: Mapped[str | None] = mapped_column(String(39))
    # Whether the boot asked for a volume (a blank one, or a root volume): only then can a
    # host have made one, so a delete of a server that never did skips the volume steps.
    # Rows made before the column say true, which keeps those steps.
    volumes_requested: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # Soft delete as Nova does: the row stays for `server show --deleted` and the audit trail.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    faults: Mapped[list[InstanceFault]] = relationship(
        back_populates="instance", order_by="InstanceFault.id", cascade="all, delete-orphan"
    )
    block_devices: Mapped[list[BlockDeviceMapping]] = relationship(
        back_populates="instance", order_by="BlockDeviceMapping.id", cascade="all, delete-orphan"
    )
    # The user's key/value pairs (Nova's instance_metadata; ``metadata`` is SQLAlchemy's).
    metadata_items: Mapped[list[InstanceMetadata]] = relationship(
        order_by="InstanceMetadata.key", cascade="all, delete-orphan"
    )


class InstanceMetadata(Base):
    """One key/value pair of a server's metadata (``/servers/{id}/metadata``)."""

    __tablename__ = "instance_metadata"
    __table_args__ = (UniqueConstraint("instance_uuid", "key"),)

    id: Mapped[IntPk]
    instance_uuid: Mapped[str] = mapped_column(ForeignKey("instances.uuid"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


class KeyPair(Base):
    """Nova's key pairs: a user's public keys by name (the API database's ``key_pairs``).
    A user's, not a project's: names are unique per user."""

    __tablename__ = "key_pairs"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_key_pairs_user_id_name"),)

    id: Mapped[IntPk]
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    # "ssh" or "x509" (Nova's 2.2).
    type: Mapped[str] = mapped_column(String(8), default="ssh")
    created_at: Mapped[CreatedAt]


class InstanceFault(Base):
    __tablename__ = "instance_faults"

    id: Mapped[IntPk]
    instance_uuid: Mapped[str] = mapped_column(ForeignKey("instances.uuid"), index=True)
    code: Mapped[int]
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str | None]
    created_at: Mapped[CreatedAt]

    instance: Mapped[Instance] = relationship(back_populates="faults")


class BlockDeviceMapping(Base):
    """A volume the boot attached, as Nova's block_device_mapping rows: one it created
    (source_type blank or image) or the user's own (source_type volume), boot_index 0 when
    it is the root disk."""

    __tablename__ = "block_device_mappings"
    __table_args__ = (UniqueConstraint("instance_uuid", "device_name"),)

    id: Mapped[IntPk]
    instance_uuid: Mapped[str] = mapped_column(ForeignKey("instances.uuid"), index=True)
    volume_id: Mapped[str | None] = mapped_column(String(36))
    attachment_id: Mapped[str | None] = mapped_column(String(36))
    device_name: Mapped[str] = mapped_column(String(32))
    volume_size: Mapped[int]
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=True)
    source_type: Mapped[str] = mapped_column(String(16), default="blank", server_default="blank")
    boot_index: Mapped[int | None]
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[CreatedAt]

    instance: Mapped[Instance] = relationship(back_populates="block_devices")


class ComputeNode(Base):
    """A compute host's capacity and usage, kept by its worker (Nova's resource tracker)."""

    __tablename__ = "compute_nodes"

    id: Mapped[IntPk]
    host: Mapped[str] = mapped_column(unique=True)
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    hypervisor_hostname: Mapped[str]
    cpu_arch: Mapped[str] = mapped_column(String(32))
    availability_zone: Mapped[str] = mapped_column(default="nova")

    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    local_gb: Mapped[int]
    vcpus_used: Mapped[int] = mapped_column(default=0)
    memory_mb_used: Mapped[int] = mapped_column(default=0)
    local_gb_used: Mapped[int] = mapped_column(default=0)
    running_vms: Mapped[int] = mapped_column(default=0)
    cpu_allocation_ratio: Mapped[float]
    ram_allocation_ratio: Mapped[float]
    disk_allocation_ratio: Mapped[float]

    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None]
    # Builds that failed here since the last one that succeeded (Nova's BuildFailureWeigher).
    failed_builds: Mapped[int] = mapped_column(default=0, server_default="0")
    # The worker's last heartbeat; a host is down when this is older than service_down_time.
    heartbeat_at: Mapped[CreatedAt]
    # When the host itself booted, as its worker reports it: the hypervisor's uptime.
    booted_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]


class Claim(Base):
    """Resources held on a host for one instance; the claim's key is the instance uuid."""

    __tablename__ = "claims"

    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(index=True)
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    disk_gb: Mapped[int]
    created_at: Mapped[CreatedAt]


class QuotaLimit(Base):
    """A project's override of a default limit (``-1`` is unlimited)."""

    __tablename__ = "quota_limits"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)

    id: Mapped[IntPk]
    project_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(32))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaUsage(ProjectUsage, Base):
    """What a project holds now; changed only together with a QuotaReservation row."""

    __tablename__ = "quota_usages"


class QuotaReservation(Base):
    """What one instance counts against its project's quota; keyed by the instance uuid."""

    __tablename__ = "quota_reservations"

    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    instances: Mapped[int]
    cores: Mapped[int]
    ram: Mapped[int]
    disk: Mapped[int]
    created_at: Mapped[CreatedAt]


class InstanceAction(Base):
    """One user request on an instance (create, delete, reschedule), as Nova's."""

    __tablename__ = "instance_actions"
    __table_args__ = (Index("ix_instance_actions_instance", "instance_uuid", "start_time"),)

    id: Mapped[IntPk]
    instance_uuid: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    # The workflow carrying out the request; its activities' events hang off this action.
    workflow_id: Mapped[str] = mapped_column(String(128), index=True)
    start_time: Mapped[CreatedAt]
    finish_time: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)

    events: Mapped[list[InstanceActionEvent]] = relationship(
        back_populates="action", order_by="InstanceActionEvent.id", cascade="all, delete-orphan"
    )


class InstanceActionEvent(Base):
    """One stage of an action: an activity attempt, with its host, times and result."""

    __tablename__ = "instance_action_events"

    id: Mapped[IntPk]
    action_id: Mapped[int] = mapped_column(ForeignKey("instance_actions.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    host: Mapped[str | None]
    attempt: Mapped[int] = mapped_column(default=1)
    start_time: Mapped[CreatedAt]
    finish_time: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(16))  # Success or Error
    details: Mapped[str | None] = mapped_column(Text)

    action: Mapped[InstanceAction] = relationship(back_populates="events")


class Leftover(Base):
    """Something an undo step could not remove, kept so it is never silently dropped."""

    __tablename__ = "leftovers"

    id: Mapped[IntPk]
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    host: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    resolved_at: Mapped[datetime | None]


class ServerGroup(Base):
    """Nova's server group: instances placed together (affinity) or apart (anti-affinity)."""

    __tablename__ = "server_groups"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str]
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    # affinity, anti-affinity, soft-affinity or soft-anti-affinity
    policy: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[CreatedAt]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    members: Mapped[list[ServerGroupMember]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )


class ServerGroupMember(Base):
    __tablename__ = "server_group_members"

    group_uuid: Mapped[str] = mapped_column(ForeignKey("server_groups.uuid"), primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)

    group: Mapped[ServerGroup] = relationship(back_populates="members")
