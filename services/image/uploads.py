"""An upload's status changes: queued -> saving -> active, or back to queued if it fails.

Each step is its own short transaction (never one held open while data streams in) and a
conditional UPDATE, so two uploads to one image cannot both start, and an upload that
finishes after its image was deleted finds out instead of resurrecting it.
"""

from __future__ import annotations

import logging

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from db.models.image import Image
from db.session import SessionFactory
from services.common.app import ApiError, bad_request, conflict, forbidden
from services.common.auth import AuthContext
from services.image import policy
from services.image.store import ImageStore, StoredData

log = logging.getLogger(__name__)


def begin(sessions: SessionFactory, image_id: str, caller: AuthContext) -> str | None:
    """Claim the image for an upload (status saving); returns its disk format."""
    with sessions.begin() as session:
        image = policy.visible_image(session, image_id, caller, for_update=True)
        try:
            policy.require_owner(image, caller, "upload_image")
        except ApiError as exc:
            raise forbidden(f"Not allowed to upload image data for image {image_id}") from exc
        if image.status != "queued":
            raise conflict(f"Image status transition from {image.status} to saving is not allowed")
        missing = [
            name for name in ("container_format", "disk_format") if getattr(image, name) is None
        ]
        if missing:
            raise bad_request(f"Properties {', '.join(missing)} must be set prior to saving data.")
        claimed = _transition(session, image_id, "queued", "saving")
        if not claimed:  # another upload got there first
            raise conflict("Image status transition from saving to saving is not allowed")
        return image.disk_format


def restore(sessions: SessionFactory, image_id: str) -> None:
    """The upload failed: the image takes data again (Glance's ``_restore``)."""
    with sessions.begin() as session:
        _transition(session, image_id, "saving", "queued")


def finish(sessions: SessionFactory, image_id: str, data: StoredData) -> bool:
    """Record the stored data and activate the image; False if it was deleted meanwhile."""
    with sessions.begin() as session:
        return _transition(
            session,
            image_id,
            "saving",
            "active",
            size=data.size,
            virtual_size=data.virtual_size,
            checksum=data.checksum,
            os_hash_algo=data.os_hash_algo,
            os_hash_value=data.os_hash_value,
        )


def _transition(session: Session, image_id: str, old: str, new: str, **values: object) -> bool:
    result = session.execute(
        update(Image)
        .where(Image.id == image_id, Image.status == old)
        .values(status=new, **values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


def remove_stale_partials(store: ImageStore, sessions: SessionFactory) -> None:
    """Temporary files left by a service that died mid-upload: remove those whose image is
    not being uploaded (a partial file only exists while its image is "saving")."""

    def uploading(image_id: str) -> bool:
        with sessions.begin() as session:
            image = session.get(Image, image_id)
            return image is not None and image.status == "saving"

    removed = store.remove_stale_partials(uploading)
    if removed:
        log.info("removed %d partial upload(s) left in %s", removed, store.directory)
