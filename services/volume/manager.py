"""A volume's life: its row and quota, its backing file, and taking both away again.

Creating is two steps, as in Cinder: the request records the volume (``creating``) and
counts it against the project's quota in one transaction, then the backing file is made
after the response has gone (``available``, or ``error`` if it could not be made). Deleting
removes the row and gives the quota back in one transaction, then the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, delete, exists, select, update
from sqlalchemy.orm import Session

from clients.errors import ClientError
from db.base import new_uuid, utcnow
from db.models.volume import Volume, VolumeAttachment
from db.session import SessionFactory, transaction
from services.volume import quotas
from services.volume.backend import BackendError, FileBackend
from services.volume.errors import invalid_volume, volume_not_found
from services.volume.images import ImageService, image_data, volume_image_metadata
from services.volume.quotas import Limits

log = logging.getLogger(__name__)

DELETABLE: Final = ("available", "error")


@dataclass(frozen=True)
class VolumeSpec:
    """A create request, checked: what the new volume will be."""

    project_id: str
    user_id: str
    size: int
    name: str | None
    description: str | None
    volume_type: str
    metadata: dict[str, str]
    image: dict[str, Any] | None  # Glance's image JSON when filled from an image


class VolumeManager:
    def __init__(
        self, sessions: SessionFactory, backend: FileBackend, images: ImageService, limits: Limits
    ) -> None:
        self.sessions = sessions
        self.backend = backend
        self.images = images
        self.limits = limits

    def record(self, session: Session, spec: VolumeSpec) -> Volume:
        """The new volume's row, ``creating``, its quota taken (QuotaExceeded if none left)."""
        quotas.reserve(session, spec.project_id, self.limits, spec.size)
        now = utcnow()
        volume = Volume(
            id=new_uuid(),
            created_at=now,
            updated_at=now,
            project_id=spec.project_id,
            user_id=spec.user_id,
            size=spec.size,
            name=spec.name,
            description=spec.description,
            status="creating",
            attach_status="detached",
            volume_type=spec.volume_type,
            bootable=False,
            image_id=spec.image["id"] if spec.image else None,
            metadata_=spec.metadata,
            attachments=[],
        )
        session.add(volume)
        session.flush()
        return volume

    def build(self, volume_id: str, size: int, image: dict[str, Any] | None) -> None:
        """Make the backing file, then mark the volume ``available`` (``error`` on failure).

        Runs after the create response; never raises, every outcome is the volume's status.
        """
        try:
            if image is None:
                self.backend.create(volume_id, size)
            else:
                with self.images.data(image["id"]) as chunks:
                    self.backend.create_from_image(volume_id, size, image_data(image), chunks)
        except (BackendError, ClientError, OSError) as exc:
            log.error("volume %s: backing file not made: %s", volume_id, exc)
            self._set_error(volume_id)
            return
        except Exception:
            log.exception("volume %s: backing file not made", volume_id)
            self._set_error(volume_id)
            return
        values: dict[str, Any] = {
            "status": "available",
            "path": str(self.backend.path_of(volume_id)),
        }
        if image is not None:
            values.update(bootable=True, image_metadata=volume_image_metadata(image))
        try:
            with transaction(self.sessions) as session:
                done = _update_if_status(session, volume_id, "creating", values)
        except Exception:
            log.exception("volume %s: file made but status not recorded", volume_id)
            return
        if not done:  # deleted meanwhile (only an operator could have): don't leak the file
            self.backend.delete(volume_id)

    def _set_error(self, volume_id: str) -> None:
        try:
            with transaction(self.sessions) as session:
                _update_if_status(session, volume_id, "creating", {"status": "error"})
        except Exception:
            log.exception("volume %s: could not record its error status", volume_id)

    def delete(self, volume_id: str, project_id: str | None) -> None:
        """Delete the volume (``project_id`` None: of any project) and its file.

        Refused (400) unless the volume is available or in error with no attachments,
        checked and deleted in one statement so an attach racing with it cannot slip between.
        """
        with transaction(self.sessions) as session:
            query = select(Volume).where(Volume.id == volume_id)
            if project_id is not None:
                query = query.where(Volume.project_id == project_id)
            volume = session.scalar(query)
            if volume is None:
                raise volume_not_found(volume_id)
            unattached = ~exists().where(VolumeAttachment.volume_id == Volume.id)
            result = cast(
                CursorResult[Any],
                session.execute(
                    delete(Volume).where(
                        Volume.id == volume_id,
                        Volume.status.in_(DELETABLE),
                        Volume.attach_status != "attached",
                        unattached,
                    )
                ),
            )
            if result.rowcount == 0:
                session.refresh(volume)
                raise invalid_volume(
                    f"Volume status must be {' or '.join(DELETABLE)} and must not be migrating, "
                    "attached, belong to a group, have snapshots, awaiting a transfer, or be "
                    "disassociated from snapshots after volume transfer. (Volume "
                    f"{volume_id} is {volume.status} with {len(volume.attachments)} "
                    "attachment(s).)"
                )
            quotas.release(session, volume.project_id, volume.size)
        try:
            self.backend.delete(volume_id)
        except OSError:
            # The volume is gone for its owner either way; the stray file is the operator's.
            log.exception("volume %s deleted, but its backing file could not be removed", volume_id)

    def recover(self) -> int:
        """After a restart: volumes left ``creating`` will never finish; mark them ``error``.

        As Cinder's volume manager does on start; assumes one volume service per data dir.
        """
        with transaction(self.sessions) as session:
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(Volume).where(Volume.status == "creating").values(status="error")
                ),
            )
            stuck = result.rowcount
        if stuck:
            log.warning(
                "%d volume(s) were being created when the service stopped: now error", stuck
            )
        return stuck


def _update_if_status(
    session: Session, volume_id: str, status: str, values: dict[str, Any]
) -> bool:
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Volume)
            .where(Volume.id == volume_id, Volume.status == status)
            .values(updated_at=utcnow(), **values)
        ),
    )
    return result.rowcount == 1
