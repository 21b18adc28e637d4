"""Image's tables: one row an image (its bytes live in the image store directory), and the
projects a shared image is shared with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, CreatedAt, IntPk, Timestamps, UuidPk, utcnow


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_owner_visibility", "owner", "visibility"),)

    id: Mapped[UuidPk]
    name: Mapped[str | None]
    # queued -> saving -> active <-> deactivated; a failed upload goes back to queued (as
    # Glance's ``_restore``). Deleting an image removes its row: there is no "deleted" status.
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
    # Deleting an image deletes its memberships with it.
    members: Mapped[list[ImageMember]] = relationship(
        back_populates="image", cascade="all, delete-orphan"
    )


class ImageMember(Timestamps, Base):
    """A project a ``shared`` image is shared with (Glance's image_members): ``pending``
    until that project accepts (the image then joins its list) or rejects it."""

    __tablename__ = "image_members"
    __table_args__ = (UniqueConstraint("image_id", "member_id"),)

    id: Mapped[IntPk]
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"))
    member_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")

    image: Mapped[Image] = relationship(back_populates="members")
