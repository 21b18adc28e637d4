"""The control plane's release of what a build made on the network and in block storage:
its ports, its volumes' attachments, its volumes. Undo steps and delete steps, keyed by the
instance: each finds what there is (from the instance's record and the services), so
releasing what never was made is harmless. (The host steps that make them, in
activities.ports and activities.volumes, never touch the database.)"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, or_, select
from temporalio import activity

from activities.volumes import volume_name
from clients.errors import BadRequest, NotFound
from clients.network import NetworkClient
from clients.volume import VolumeClient
from core import activity_defs as act
from core.messages import InstanceRef
from core.states import VmState
from db.models.compute import BlockDeviceMapping, Instance
from db.session import SessionFactory


class CleanupActivities:
    def __init__(
        self,
        network: NetworkClient,
        volumes: Callable[[str], VolumeClient],
        sessions: SessionFactory,
    ) -> None:
        self.network = network
        # A client acting in a given project (the service account may, being admin).
        self.volumes = volumes
        self.sessions = sessions

    def _preserved(self, instance_uuid: str) -> set[str]:
        """The user's own ports the instance was booted on (unbound, never deleted)."""
        with self.sessions.begin() as session:
            ports = session.scalar(
                select(Instance.preserved_ports).where(Instance.uuid == instance_uuid)
            )
        return set(ports or [])

    @activity.defn(name=act.DEALLOCATE_PORTS.name)
    def deallocate_ports(self, request: InstanceRef) -> int:
        """Release every port whose device_id is the instance, as Nova's
        deallocate_for_instance: the ports bootflow made are deleted, the user's own ports
        (recorded on the instance) are unbound and kept (Nova's preserve_on_delete). Key:
        device_id; ports already gone or unbound are skipped. Returns how many it released."""
        preserved = self._preserved(request.instance_uuid)
        released = 0
        for port in self.network.list_ports(device_id=request.instance_uuid):
            try:
                if port["id"] in preserved:
                    self.network.update_port(port["id"], device_id="", device_owner="", host=None)
                else:
                    self.network.delete_port(port["id"])
                released += 1
            except NotFound:
                pass
        return released

    def _project_of(self, instance_uuid: str) -> str | None:
        with self.sessions.begin() as session:
            return session.scalar(select(Instance.project_id).where(Instance.uuid == instance_uuid))

    def _deletable(self, instance_uuid: str) -> tuple[str | None, set[str], set[str], list[str]]:
        """The instance's project, the ids of the volumes of its mappings to delete (and
        which of them are the user's own), and the names of those its boot made, found by
        name when no mapping recorded them.

        What the boot made (a blank volume, one made from an image) goes while the server
        never launched: the boot's own undo, and the delete of a server whose boot failed.
        The user's own volume never does then (an undo detaches it, left available). A
        delete of a server takes every volume marked delete_on_termination."""
        with self.sessions.begin() as session:
            instance = session.get(Instance, instance_uuid)
            if instance is None:
                return None, set(), set(), []
            undoing = instance.vm_state == VmState.BUILDING
            unlaunched = instance.launched_at is None
            ids = {
                b.volume_id
                for b in instance.block_devices
                if b.volume_id
                and (
                    (b.source_type != "volume" and unlaunched)
                    or (b.delete_on_termination and not undoing)
                )
            }
            users = {b.volume_id for b in instance.block_devices if b.source_type == "volume"}
            project_id = instance.project_id
        names = [volume_name(instance_uuid)]
        if unlaunched:
            names.append(volume_name(instance_uuid, from_image=True))
        return project_id, ids, {i for i in users if i in ids}, names

    @activity.defn(name=act.DETACH_VOLUMES.name)
    def detach_volumes(self, request: InstanceRef) -> int:
        """Delete every attachment of the instance. Key: instance_id in the volume
        service; attachments already gone are skipped."""
        project_id = self._project_of(request.instance_uuid)
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
        """Delete the volumes the boot created, or the server's marked delete_on_termination
        (``_deletable`` says which), and forget their mappings: the user's own volume keeps
        its mapping after an undo, so deleting the failed server still honours
        delete_on_termination, as Nova's kept mappings do. Key: the mapping rows and the
        volume names; volumes already gone are skipped."""
        project_id, ids, users, names = self._deletable(request.instance_uuid)
        if project_id is None:
            return 0
        client = self.volumes(project_id)
        for name in names:
            ids |= {v["id"] for v in client.list_volumes(name=name)}
        deleted = 0
        for volume_id in sorted(ids):
            try:
                client.delete_volume(volume_id)
                deleted += 1
            except NotFound:
                pass
            except BadRequest:
                # The user's volume, which a failed boot let go of, now another server's:
                # left to it, as Nova's delete leaves a volume it cannot delete.
                if volume_id not in users:
                    raise
                activity.logger.info("volume %s is in use elsewhere: kept", volume_id)
        with self.sessions.begin() as session:
            session.execute(
                delete(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == request.instance_uuid,
                    or_(
                        BlockDeviceMapping.volume_id.is_(None),
                        BlockDeviceMapping.volume_id.in_(ids),
                    ),
                )
            )
        return deleted
