"""The control steps of a rebuild: its begin (Nova's API checks, the new image checked as
at create, the record changed and its task_state set, in one transaction, with what the
host needs to spawn the server again) and its move to rebuild_spawning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from temporalio import activity

from activities.errors import service_errors
from activities.instances import visible_instance
from activities.quota import checked_image
from activities.server_actions import begun, take
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Session as HttpSession
from compute.config_drive import hostname_for
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import (
    AttachmentSpec,
    BeginActionInput,
    BeginRebuildInput,
    FixedIp,
    FlavorSpec,
    KeyPairSpec,
    PortSpec,
    RebuildChanges,
    RebuildStageInput,
    RebuildTarget,
)
from core.rebuild import volume_backed_refusal
from core.server_actions import REBUILD, refusal_of
from core.states import TaskState
from db.models.compute import Instance, InstanceMetadata
from db.session import SessionFactory


class RebuildActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        user_session: Callable[[str], HttpSession],
        networks: NetworkClient,
    ) -> None:
        self.sessions = sessions
        # The image is read with the user's token, as at create (its visibility rules).
        self.user_session = user_session
        self.networks = networks

    @activity.defn(name=act.BEGIN_REBUILD.name)
    def begin_rebuild(self, request: BeginRebuildInput) -> RebuildTarget:
        """Refuse as Nova's API would (locked, no host, wrong state; an image that is
        missing, not active or too big for the flavor; a new image for a volume-backed
        server), else set task_state rebuilding, apply the body's changes (name, metadata,
        key, hostname, ...) and the new image, and start the instance action "rebuild".
        Key: the workflow (a retry that finds its rebuild begun carries on)."""
        rebuild, context = request.request, request.context
        workflow_id = activity.info().workflow_id or ""
        with self.sessions.begin() as session:
            instance = visible_instance(session, rebuild.instance_uuid, context)
            resumed = instance.task_state == TaskState.REBUILDING and begun(session, workflow_id)
            if not resumed:
                _refuse(instance, rebuild.image_ref, context.is_admin)
            flavor = _flavor(instance)
            addresses = dict(instance.addresses or {})
        image = checked_image(
            ImageClient(self.user_session(rebuild.auth_token)), rebuild.image_ref, flavor
        )
        with service_errors(f"list the ports of instance {rebuild.instance_uuid}"):
            found = self.networks.list_ports(device_id=rebuild.instance_uuid)
        with self.sessions.begin() as session:
            instance = visible_instance(session, rebuild.instance_uuid, context)
            # Begun by an earlier try: the vm_state is still the one it began in.
            vm_state = instance.vm_state
            if not resumed:
                begin = BeginActionInput(instance.uuid, "rebuild", context, rebuild.request_id)
                take(session, instance, "rebuild", begin, workflow_id)
                _apply(session, instance, image.id, rebuild.changes)
            assert instance.host is not None  # (refused above otherwise)
            return RebuildTarget(
                instance_uuid=instance.uuid,
                host=instance.host,
                vm_state=vm_state,
                name=instance.name,
                project_id=instance.project_id,
                flavor=flavor,
                image=image,
                ports=[_port_spec(p, addresses) for p in found],
                attachments=_attachments(instance),
                key=_key(instance),
                metadata={m.key: m.value for m in instance.metadata_items},
                hostname=instance.hostname,
                user_data=instance.user_data,
            )

    @activity.defn(name=act.ADVANCE_REBUILD.name)
    def advance_rebuild(self, request: RebuildStageInput) -> bool:
        """Move the rebuild to its next task_state, only while it is in the one before:
        False when a delete took the server over. Key: the instance (a retry finds its
        own move made)."""
        with self.sessions.begin() as session:
            moved = session.execute(
                update(Instance)
                .where(
                    Instance.uuid == request.instance_uuid,
                    Instance.task_state == request.from_state,
                    Instance.deleted.is_(False),
                )
                .values(task_state=request.to_state)
            )
            if moved.rowcount:  # type: ignore[attr-defined]
                return True
            instance = session.get(Instance, request.instance_uuid)
            return (
                instance is not None
                and not instance.deleted
                and instance.task_state == request.to_state
            )


def _refuse(instance: Instance, image_ref: str, is_admin: bool) -> None:
    """Nova's API checks, in its order: lock, host and state, then a volume-backed server."""
    why = refusal_of(REBUILD, instance, is_admin)
    if why is not None:
        raise request_error(why.error_type, why.message)
    refused = volume_backed_refusal(instance.image_ref, image_ref)
    if refused is not None:
        raise request_error(ErrorType.INVALID_REQUEST, refused)


def _flavor(instance: Instance) -> FlavorSpec:
    """The flavor the server was built with, as its record copied it."""
    return FlavorSpec(
        instance.flavor_id,
        instance.flavor_name,
        instance.vcpus,
        instance.memory_mb,
        instance.root_gb,
    )


def _apply(session: Session, instance: Instance, image_id: str, changes: RebuildChanges) -> None:
    """The new image and the body's changes, as Nova's API sets them before the host
    rebuilds (``given`` says which; metadata given replaces all of it)."""
    given = set(changes.given)
    instance.image_ref = image_id
    if "name" in given and changes.name is not None and changes.name != instance.name:
        # The guest keeps the hostname it had (as a rename keeps it), unless one is given.
        instance.hostname = instance.hostname or hostname_for(instance.name, instance.uuid)
        instance.name = changes.name
    for field in ("description", "access_ip_v4", "access_ip_v6", "hostname", "user_data"):
        if field in given:
            setattr(instance, field, getattr(changes, field))
    if "key_name" in given:
        key = changes.key
        instance.key_name = key.name if key else None
        instance.key_data = key.public_key if key else None
    if "metadata" in given:
        _replace_metadata(instance, changes.metadata)
    session.flush()


def _replace_metadata(instance: Instance, items: dict[str, str]) -> None:
    """``items`` as the server's whole metadata: rows changed in place, so a key kept never
    meets its own unique constraint on the way."""
    rows = {m.key: m for m in instance.metadata_items}
    for key in rows.keys() - items.keys():
        instance.metadata_items.remove(rows[key])
    for key, value in items.items():
        if key in rows:
            rows[key].value = value
        else:
            instance.metadata_items.append(InstanceMetadata(key=key, value=value))


def _port_spec(port: dict[str, Any], addresses: dict[str, Any]) -> PortSpec:
    """A port of the server as its host needs it again; its network's name from the
    server's addresses (by MAC), as they were recorded at boot."""
    mac = str(port.get("mac_address") or "")
    network_name = next(
        (
            name
            for name, ips in addresses.items()
            if any(ip.get("OS-EXT-IPS-MAC:mac_addr") == mac for ip in ips)
        ),
        str(port.get("network_id") or ""),
    )
    return PortSpec(
        id=str(port["id"]),
        network_id=str(port.get("network_id") or ""),
        network_name=network_name,
        mac_address=mac,
        fixed_ips=[
            FixedIp(str(ip["ip_address"]), str(ip["subnet_id"]))
            for ip in port.get("fixed_ips") or []
        ],
    )


def _attachments(instance: Instance) -> list[AttachmentSpec]:
    return [
        AttachmentSpec(
            attachment_id=b.attachment_id or "",
            volume_id=b.volume_id,
            device_name=b.device_name,
            connection_info=dict(b.connection_info or {}),
        )
        for b in instance.block_devices
        if b.volume_id and b.connection_info
    ]


def _key(instance: Instance) -> KeyPairSpec | None:
    if not (instance.key_name and instance.key_data):
        return None
    # The record keeps a key's name and data; the type of the rare x509 key is not kept.
    return KeyPairSpec(instance.key_name, instance.key_data)
