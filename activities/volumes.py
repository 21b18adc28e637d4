"""Step 5 (block storage, seed steps 25-27): a new volume (blank, or for a boot from a
volume made from an image) created, and a volume (new, or the user's own) attached.

A volume is found by its name, ``<instance uuid>-blank-vol`` as Nova names them (a root
volume from an image ``<instance uuid>-image-vol``); an attachment by volume and
instance. The host only returns what it made: the workflow has the control plane record it
(activities.instances.record_block_device).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.errors import service_errors
from clients.volume import VolumeClient, legacy_connection_info
from core import activity_defs as act
from core.messages import (
    AttachmentSpec,
    AttachVolumeInput,
    CreateVolumeInput,
    VolumeSpec,
)

VOLUME_READY_TIMEOUT = 120.0


def volume_name(instance_uuid: str, from_image: bool = False) -> str:
    """The name of a volume a boot makes: a blank one, or a root volume from an image."""
    return f"{instance_uuid}-{'image' if from_image else 'blank'}-vol"


class VolumeActivities:
    def __init__(
        self,
        volumes: Callable[[str], VolumeClient],
        host: str,
    ) -> None:
        # A client acting in a given project (the service account may, being admin).
        self.volumes = volumes
        self.host = host

    def _connector(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "platform": "x86_64",
            "os_type": "linux",
            "multipath": False,
            "initiator": None,
            "ip": "127.0.0.1",
        }

    @activity.defn(name=act.CREATE_VOLUME.name)
    def create_volume(self, request: CreateVolumeInput) -> VolumeSpec:
        """Create the blank volume (or, with an image, the root volume made from it) and
        wait until it is available. Key: the instance and its volume's name: a retry
        reuses the first volume."""
        client = self.volumes(request.project_id)
        image = request.image_id
        name = volume_name(request.instance_uuid, from_image=image is not None)
        what = f"from image {image}" if image else "blank"
        with service_errors(f"create a {request.size_gb} GiB volume ({what})"):
            found = client.list_volumes(name=name)
            volume_id = found[0]["id"] if found else None
            if volume_id is None:
                volume_id = client.create_volume(
                    request.size_gb,
                    name=name,
                    description=f"{'root' if image else 'blank'} volume of instance "
                    f"{request.instance_uuid}",
                    image_id=image,
                    metadata={"instance_uuid": request.instance_uuid},
                )["id"]
            client.wait_for_status(
                volume_id, ("available", "in-use", "reserved"), timeout=VOLUME_READY_TIMEOUT
            )
        return VolumeSpec(volume_id, request.size_gb, request.device_name)

    @activity.defn(name=act.ATTACH_VOLUME.name)
    def attach_volume(self, request: AttachVolumeInput) -> AttachmentSpec:
        """Attach with this host's connector and complete it (volume in-use). Key: volume
        and instance: a retry finds the attachment the first try made."""
        client = self.volumes(request.project_id)
        volume = request.volume
        with service_errors(f"attach volume {volume.id}"):
            existing = client.list_attachments(
                volume_id=volume.id, instance_id=request.instance_uuid
            )
            attachment = existing[0] if existing else None
            if attachment is None or not attachment.get("connection_info"):
                if attachment is None:
                    attachment = client.create_attachment(
                        volume.id, request.instance_uuid, connector=self._connector()
                    )
                else:
                    attachment = client.update_attachment(attachment["id"], self._connector())
            if attachment.get("status") != "attached":
                client.complete_attachment(attachment["id"])
            connection_info = legacy_connection_info(attachment)
        return AttachmentSpec(attachment["id"], volume.id, volume.device_name, connection_info)
