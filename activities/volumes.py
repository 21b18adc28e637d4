"""Step 5 (block storage, seed steps 25-27): a new blank volume, created and attached.

Volumes are found by the instance: the block_device_mappings row, else the volume named
``<instance uuid>-blank-vol`` as Nova names them; attachments by volume and instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from temporalio import activity

from activities.errors import service_errors
from clients.errors import NotFound
from clients.volume import VolumeClient, legacy_connection_info
from core import activity_defs as act
from core.messages import (
    AttachmentSpec,
    AttachVolumeInput,
    CreateVolumeInput,
    InstanceRef,
    VolumeSpec,
)
from core.states import TaskState
from db.instances import set_task_state
from db.models.compute import BlockDeviceMapping, Instance
from db.session import SessionFactory

VOLUME_READY_TIMEOUT = 120.0


def volume_name(instance_uuid: str) -> str:
    return f"{instance_uuid}-blank-vol"


class VolumeActivities:
    def __init__(
        self,
        volumes: Callable[[str], VolumeClient],
        sessions: SessionFactory,
        host: str | None,
    ) -> None:
        # A client acting in a given project (the service account may, being admin).
        self.volumes = volumes
        self.sessions = sessions
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
        """Create the blank volume and wait until it is available. Key: the instance and
        device (the mapping row, else the volume's name): a retry reuses the first volume."""
        set_task_state(self.sessions, request.instance_uuid, TaskState.BLOCK_DEVICE_MAPPING)
        client = self.volumes(request.project_id)
        name = volume_name(request.instance_uuid)
        with service_errors(f"create a {request.size_gb} GiB volume"):
            volume_id = self._mapped_volume(request.instance_uuid, request.device_name)
            if volume_id is None:
                found = client.list_volumes(name=name)
                volume_id = found[0]["id"] if found else None
            if volume_id is None:
                volume_id = client.create_volume(
                    request.size_gb,
                    name=name,
                    description=f"blank volume of instance {request.instance_uuid}",
                    metadata={"instance_uuid": request.instance_uuid},
                )["id"]
            self._map(request, volume_id)
            client.wait_for_status(
                volume_id, ("available", "in-use", "reserved"), timeout=VOLUME_READY_TIMEOUT
            )
        return VolumeSpec(volume_id, request.size_gb, request.device_name)

    def _mapped_volume(self, instance_uuid: str, device: str) -> str | None:
        with self.sessions.begin() as session:
            return session.scalar(
                select(BlockDeviceMapping.volume_id).where(
                    BlockDeviceMapping.instance_uuid == instance_uuid,
                    BlockDeviceMapping.device_name == device,
                )
            )

    def _map(self, request: CreateVolumeInput, volume_id: str) -> None:
        with self.sessions.begin() as session:
            row = session.scalar(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == request.instance_uuid,
                    BlockDeviceMapping.device_name == request.device_name,
                )
            )
            if row is None:
                session.add(
                    BlockDeviceMapping(
                        instance_uuid=request.instance_uuid,
                        device_name=request.device_name,
                        volume_id=volume_id,
                        volume_size=request.size_gb,
                    )
                )
            else:
                row.volume_id = volume_id

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
        with self.sessions.begin() as session:
            row = session.scalar(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == request.instance_uuid,
                    BlockDeviceMapping.volume_id == volume.id,
                )
            )
            if row is not None:
                row.attachment_id = attachment["id"]
                row.connection_info = connection_info
        return AttachmentSpec(attachment["id"], volume.id, volume.device_name, connection_info)

    def _instance_volumes(self, instance_uuid: str) -> tuple[str | None, set[str]]:
        """The instance's project and the ids of every volume it may own."""
        with self.sessions.begin() as session:
            project_id = session.scalar(
                select(Instance.project_id).where(Instance.uuid == instance_uuid)
            )
            ids = set(
                session.scalars(
                    select(BlockDeviceMapping.volume_id).where(
                        BlockDeviceMapping.instance_uuid == instance_uuid,
                        BlockDeviceMapping.volume_id.is_not(None),
                    )
                )
            )
        return project_id, {i for i in ids if i}

    @activity.defn(name=act.DETACH_VOLUMES.name)
    def detach_volumes(self, request: InstanceRef) -> int:
        """Delete every attachment of the instance. Key: instance_id in the volume
        service; attachments already gone are skipped."""
        project_id, _ids = self._instance_volumes(request.instance_uuid)
        if project_id is None:
            return 0
        client = self.volumes(project_id)
        detached = 0
        for attachment in client.list_attachments(instance_id=request.instance_uuid):
            try:
                client.delete_attachment(attachment["id"])
                detached += 1
            except NotFound:
                pass
        return detached

    @activity.defn(name=act.DELETE_VOLUMES.name)
    def delete_volumes(self, request: InstanceRef) -> int:
        """Delete the volumes the boot created (delete_on_termination). Key: the mapping
        rows and the volume name; volumes already gone are skipped."""
        project_id, ids = self._instance_volumes(request.instance_uuid)
        if project_id is None:
            return 0
        client = self.volumes(project_id)
        ids |= {v["id"] for v in client.list_volumes(name=volume_name(request.instance_uuid))}
        deleted = 0
        for volume_id in sorted(ids):
            try:
                client.delete_volume(volume_id)
                deleted += 1
            except NotFound:
                pass
        with self.sessions.begin() as session:
            session.execute(
                delete(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == request.instance_uuid
                )
            )
        return deleted
