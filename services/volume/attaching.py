"""The attachment state machine (Cinder's attachment API, microversion 3.27 and later).

An attachment is reserved for a server (the volume becomes ``reserved``), connected to a
host (``attaching``: the host is told where the volume is), completed (``attached``: the
volume is ``in-use``) and deleted (the volume takes the status its remaining attachments
give it, ``available`` when none remain). Every step runs with the volume's row locked,
so two requests can never both take an available volume.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import new_uuid, utcnow
from db.models.volume import Volume, VolumeAttachment
from services.common.app import ApiError
from services.volume.backend import FileBackend
from services.volume.errors import attachment_not_found, invalid_volume, volume_not_found
from services.volume.schemas import Connector

# What a volume must be to be reserved (Cinder's, for volumes that are not multiattach).
RESERVABLE = ("available", "downloading")


def locked_volume(session: Session, volume_id: str, project_id: str | None) -> Volume:
    """The volume, its row locked until the transaction ends; ``project_id`` None: any."""
    query = select(Volume).where(Volume.id == volume_id).with_for_update()
    if project_id is not None:
        query = query.where(Volume.project_id == project_id)
    volume = session.scalar(query)
    if volume is None:
        raise volume_not_found(volume_id)
    return volume


def find(session: Session, attachment_id: str, project_id: str | None) -> VolumeAttachment:
    """The attachment, if its volume is in ``project_id`` (None: any project)."""
    query = select(VolumeAttachment).where(VolumeAttachment.id == attachment_id)
    if project_id is not None:
        query = query.join(Volume).where(Volume.project_id == project_id)
    attachment = session.scalar(query)
    if attachment is None:
        raise attachment_not_found(attachment_id)
    return attachment


def locked(
    session: Session, attachment_id: str, project_id: str | None
) -> tuple[Volume, VolumeAttachment]:
    """The attachment and its volume, the volume's row locked (``project_id`` None: any)."""
    query = select(VolumeAttachment.volume_id).where(VolumeAttachment.id == attachment_id)
    if project_id is not None:
        query = query.join(Volume).where(Volume.project_id == project_id)
    volume_id = session.scalar(query)
    if volume_id is None:
        raise attachment_not_found(attachment_id)
    volume = locked_volume(session, volume_id, None)
    # Loaded only now, under the lock: a racing request may have changed or deleted it.
    attachment = next((a for a in volume.attachments if a.id == attachment_id), None)
    if attachment is None:
        raise attachment_not_found(attachment_id)
    return volume, attachment


def reserve(volume: Volume, instance_uuid: str | None, mode: str | None) -> VolumeAttachment:
    """A new ``reserved`` attachment of the (locked) volume for ``instance_uuid``."""
    if "error" in volume.status:
        raise invalid_volume(
            "Volume attachments can not be created if the volume is in an error state. "
            f"The Volume {volume.id} currently has a status of: {volume.status}"
        )
    if volume.status in RESERVABLE:
        volume.status = "reserved"
    elif not (
        instance_uuid
        and volume.status in ("in-use", "reserved")
        and any(a.instance_uuid == instance_uuid for a in volume.attachments)
    ):
        # The one exception: the same server again (Nova does this when it moves a server).
        raise invalid_volume(
            f"Volume {volume.id} status must be {' or '.join(RESERVABLE)} to reserve, but the "
            f"current status is {volume.status}."
        )
    attachment = VolumeAttachment(
        id=new_uuid(),
        instance_uuid=instance_uuid,
        attach_status="reserved",
        attach_mode=mode or "null",
        connection_info={},
    )
    volume.attachments.append(attachment)
    return attachment


def connect(
    backend: FileBackend, volume: Volume, attachment: VolumeAttachment, connector: Connector
) -> None:
    """Export the volume to the connector's host: connection info, ``attaching``."""
    if "error" in volume.status:
        raise ApiError(
            409,
            "Volume attachments can not be updated if the volume is in an error "
            f"state. The Volume {volume.id} currently has a status of: "
            f"{volume.status}",
        )
    # A mode given at create (3.54+) wins over the connector's, as in Cinder.
    mode = attachment.attach_mode
    if mode not in ("rw", "ro"):
        mode = connector.mode if connector.mode in ("rw", "ro") else "rw"
    attachment.connection_info = _connection_info(backend, volume, attachment, connector, mode)
    attachment.connector = connector.model_dump(exclude_unset=True)
    attachment.attach_status = "attaching"
    attachment.attached_host = connector.host or ""
    attachment.mountpoint = connector.mountpoint or "na"
    attachment.attach_mode = mode
    attachment.attach_time = utcnow()
    volume.status = "attaching"
    volume.attach_status = "attaching"


def _connection_info(
    backend: FileBackend,
    volume: Volume,
    attachment: VolumeAttachment,
    connector: Connector,
    mode: str,
) -> dict[str, Any]:
    # Cinder's attachment API returns the driver's "data" flattened beside driver_volume_type,
    # plus what its volume manager adds; Nova puts "data" back before it uses it.
    exported = backend.initialize_connection(volume.id, mode)
    info: dict[str, Any] = {"qos_specs": None, "encrypted": False, **exported.pop("data")}
    info.update(exported)
    info["attachment_id"] = attachment.id
    info["enforce_multipath"] = bool((connector.model_extra or {}).get("enforce_multipath", False))
    return info


def complete(volume: Volume, attachment: VolumeAttachment) -> None:
    """The host has the volume: the attachment is ``attached``, the volume ``in-use``."""
    attachment.attach_status = "attached"
    volume.status = "in-use"
    volume.attach_status = "attached"


def delete(
    session: Session, volume: Volume, attachment: VolumeAttachment
) -> list[VolumeAttachment]:
    """Remove the attachment; the volume's status follows what remains. Returns what remains."""
    volume.attachments.remove(attachment)
    session.delete(attachment)
    volume.status, volume.attach_status = _statuses(volume.attachments)
    return list(volume.attachments)


def _statuses(remaining: list[VolumeAttachment]) -> tuple[str, str]:
    """(status, attach_status) of a volume with these attachments (Cinder's precedence)."""
    present = {a.attach_status for a in remaining}
    for attach_status, status in (
        ("attached", "in-use"),
        ("attaching", "attaching"),
        ("detaching", "detaching"),
        ("reserved", "reserved"),
    ):
        if attach_status in present:
            return status, attach_status
    return "available", "detached"
