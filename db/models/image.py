"""Image's table: one row an image; its bytes live in the image store directory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, UuidPk, utcnow


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_owner_visibility", "owner", "visibility"),)

    id: Mapped[UuidPk]
    name: Mapped[str | None]
    # queued -> saving -> active; a failed upload goes back to queued (as Glance's
    # ``_restore``). Deleting an image removes its row: there is no "deleted" status.
    status: Mapped[str] = mapped_column(String(32), default="queued")
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    owner: Mapped[str | None] = mapped_column(String(64))
    disk_format: Mapped[str | None] = mapped_column(String(16))
    container_format: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    min_disk: Mapped[int] = mapped_column(default=0)
    min_ram: Mapped[int] = mapped_column(default=0)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    # Hidden images are left out of the default image list (Glance's os_hidden, v2.7).
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Additional properties (kernel_id, ramdisk_id, hw_architecture, ...), as Glance's.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
