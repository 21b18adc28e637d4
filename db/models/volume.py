"""Volume's tables: volumes (each backed by a file), attachments, per-project usage and the
quota limits an admin set for a project."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, IntPk, ProjectUsage, Timestamps, UuidPk


class Volume(Timestamps, Base):
    __tablename__ = "volumes"
    __table_args__ = (Index("ix_volumes_project", "project_id"),)

    id: Mapped[UuidPk]
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int]  # GiB
    # creating -> available <-> reserved/attaching -> in-use -> detaching; deleting; error
    status: Mapped[str] = mapped_column(String(32), default="creating")
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    volume_type: Mapped[str] = mapped_column(String(64), default="file")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    image_id: Mapped[str | None] = mapped_column(String(36))
    # Cinder's volume_image_metadata: what the image said when the volume was filled from it.
    image_metadata: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # The backing file; never shown to non-admins except inside connection_info.
    path: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)

    attachments: Mapped[list[VolumeAttachment]] = relationship(
        back_populates="volume", order_by="VolumeAttachment.created_at"
    )


class VolumeAttachment(Timestamps, Base):
    __tablename__ = "volume_attachments"

    id: Mapped[UuidPk]
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    attached_host: Mapped[str | None]
    # reserved -> attaching -> attached; detached when deleted.
    attach_status: Mapped[str] = mapped_column(String(32), default="reserved")
    # rw or ro; "null" until a connector or (3.54+) the create request names one, as Cinder.
    attach_mode: Mapped[str] = mapped_column(String(8), default="null")
    mountpoint: Mapped[str | None]
    # Set when a connector is given (Cinder's attach_time): the volume is exported from then.
    attach_time: Mapped[datetime | None]
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    volume: Mapped[Volume] = relationship(back_populates="attachments")


class VolumeQuotaUsage(ProjectUsage, Base):
    """A project's volumes and gigabytes in use, changed by conditional UPDATEs so two
    concurrent creates can never both take the last unit of quota."""

    __tablename__ = "volume_quota_usages"


class _QuotaLimit:
    """One resource's limit, as an admin set it."""

    id: Mapped[IntPk]
    resource: Mapped[str] = mapped_column(String(32))
    hard_limit: Mapped[int]


class VolumeQuotaLimit(_QuotaLimit, Base):
    """A limit an admin set for one project (Cinder's ``quotas`` rows); a resource without
    a row has the default."""

    __tablename__ = "volume_quota_limits"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)

    project_id: Mapped[str] = mapped_column(String(64))


class VolumeQuotaClassLimit(_QuotaLimit, Base):
    """A limit of a quota class (Cinder's ``quota_classes``); the ``default`` class's limits
    are every project's defaults, over the service's settings."""

    __tablename__ = "volume_quota_class_limits"
    __table_args__ = (UniqueConstraint("class_name", "resource"),)

    class_name: Mapped[str] = mapped_column(String(255))
