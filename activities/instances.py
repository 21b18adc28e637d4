"""Steps 3 and 6, and the record's side of faults and deletes: the instance row's writer."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from temporalio import activity

from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import (
    BeginDeleteInput,
    CreateInstanceInput,
    InstanceForDelete,
    InstanceRecord,
    InstanceRef,
    MarkActiveInput,
    RecordBlockDeviceInput,
    RecordFaultInput,
    RecordLeftoversInput,
    RequestContext,
    TaskStateInput,
    VolumeRef,
)
from core.states import TaskState, VmState
from db import actions
from db.base import utcnow
from db.instances import record_of, set_task_state
from db.models.compute import (
    BlockDeviceMapping,
    ComputeNode,
    Instance,
    InstanceFault,
    InstanceMetadata,
    Leftover,
    ServerGroup,
    ServerGroupMember,
)
from db.session import SessionFactory


def _start_action(
    session: Session, instance_uuid: str, action: str, request_id: str, context: RequestContext
) -> None:
    """This workflow's instance action (Nova's os-instance-actions), for the caller."""
    actions.start_action(
        session,
        instance_uuid=instance_uuid,
        action=action,
        request_id=request_id,
        user_id=context.user_id,
        project_id=context.project_id,
        workflow_id=activity.info().workflow_id or "",
    )


class InstanceActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=act.CREATE_INSTANCE_RECORD.name)
    def create_instance_record(self, request: CreateInstanceInput) -> InstanceRecord:
        """Insert the record as building/scheduling (seed step 7). Key: the instance uuid
        (a retry returns the row the first try inserted)."""
        with self.sessions.begin() as session:
            instance = session.get(Instance, request.instance_uuid)
            if instance is None:
                instance = Instance(
                    uuid=request.instance_uuid,
                    name=request.name,
                    project_id=request.context.project_id,
                    user_id=request.context.user_id,
                    request_id=request.request_id,
                    flavor_id=request.flavor.flavorid,
                    flavor_name=request.flavor.name,
                    vcpus=request.flavor.vcpus,
                    memory_mb=request.flavor.memory_mb,
                    root_gb=request.flavor.root_gb,
                    image_ref=request.image.id,
                    vm_state=VmState.BUILDING,
                    task_state=TaskState.SCHEDULING,
                    availability_zone=request.availability_zone,
                    addresses={},
                    preserved_ports=list(request.preserved_ports),
                    key_name=request.key.name if request.key else None,
                    key_data=request.key.public_key if request.key else None,
                    metadata_items=[
                        InstanceMetadata(key=k, value=v) for k, v in request.metadata.items()
                    ],
                    description=request.description,
                    access_ip_v4=request.access_ip_v4,
                    access_ip_v6=request.access_ip_v6,
                    hostname=request.hostname,
                    volumes_requested=request.volumes_requested,
                )
                session.add(instance)
                session.flush()
            _join_group(session, instance, request.scheduler_hints)
            _start_action(session, instance.uuid, "create", request.request_id, request.context)
            return record_of(instance)

    @activity.defn(name=act.DELETE_INSTANCE_RECORD.name)
    def delete_instance_record(self, request: InstanceRef) -> bool:
        """Undo of create_instance_record for a request that was not accepted, which leaves
        no record: the row (with its faults and mappings) and its group membership go. The
        create action stays, finished, saying so. Key: the instance uuid; False when there is
        no record (never written, or already removed), or it is past building."""
        with self.sessions.begin() as session:
            instance = session.get(Instance, request.instance_uuid)
            if instance is None or instance.vm_state != VmState.BUILDING:
                return False
            session.execute(
                delete(ServerGroupMember).where(ServerGroupMember.instance_uuid == instance.uuid)
            )
            session.delete(instance)
            actions.finish_action(
                session,
                activity.info().workflow_id or "",
                "The request was not accepted; its instance record was removed.",
            )
            return True

    @activity.defn(name=act.SET_TASK_STATE.name)
    def set_task_state(self, request: TaskStateInput) -> bool:
        """Move a building instance to the task_state its boot's stage has (as Nova's
        compute manager saves it through the conductor). Key: the instance uuid."""
        set_task_state(self.sessions, request.instance_uuid, request.task_state)
        return True

    @activity.defn(name=act.RECORD_BLOCK_DEVICE.name)
    def record_block_device(self, request: RecordBlockDeviceInput) -> bool:
        """Record the volume the host created (or the user's own) and attached as the
        instance's block device mapping. Key: the instance and device (a retry updates the
        row the first made)."""
        volume, attachment = request.volume, request.attachment
        with self.sessions.begin() as session:
            row = session.scalar(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == request.instance_uuid,
                    BlockDeviceMapping.device_name == volume.device_name,
                )
            )
            if row is None:
                row = BlockDeviceMapping(
                    instance_uuid=request.instance_uuid,
                    device_name=volume.device_name,
                    volume_size=volume.size_gb,
                )
                session.add(row)
            row.volume_id = volume.id
            row.volume_size = volume.size_gb
            row.attachment_id = attachment.attachment_id
            row.connection_info = attachment.connection_info
            row.delete_on_termination = request.delete_on_termination
            row.source_type = request.source_type
            row.boot_index = request.boot_index
        return True

    @activity.defn(name=act.MARK_ACTIVE.name)
    def mark_active(self, request: MarkActiveInput) -> InstanceRecord:
        """vm_state active with host, addresses and launch time. Key: the instance uuid."""
        addresses: dict[str, list[dict[str, object]]] = {}
        for port in request.ports:
            for ip in port.fixed_ips:
                addresses.setdefault(port.network_name, []).append(
                    {
                        "version": 6 if ":" in ip.ip_address else 4,
                        "addr": ip.ip_address,
                        "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                    }
                )
        with self.sessions.begin() as session:
            instance = _get(session, request.instance_uuid)
            instance.vm_state = VmState.ACTIVE
            instance.task_state = None
            instance.power_state = request.power_state
            instance.host = request.host
            instance.addresses = addresses
            if instance.launched_at is None:
                instance.launched_at = utcnow()
            # A build succeeded here: the host is trusted again (Nova's _build_succeeded).
            session.execute(
                update(ComputeNode).where(ComputeNode.host == request.host).values(failed_builds=0)
            )
            actions.finish_action(session, activity.info().workflow_id or "")
            return record_of(instance)

    @activity.defn(name=act.RECORD_FAULT.name)
    def record_fault(self, request: RecordFaultInput) -> InstanceRecord:
        """vm_state error, no task, and the fault. Key: the instance uuid and the fault's
        message (a retry does not add the same fault twice)."""
        with self.sessions.begin() as session:
            instance = _get(session, request.instance_uuid)
            instance.vm_state = VmState.ERROR
            instance.task_state = request.task_state
            last = instance.faults[-1] if instance.faults else None
            if last is None or last.message != request.fault.message:
                instance.faults.append(
                    InstanceFault(
                        code=request.fault.code,
                        message=request.fault.message,
                        details=request.fault.details,
                        host=request.host,
                    )
                )
            actions.finish_action(session, activity.info().workflow_id or "", request.fault.message)
            return record_of(instance)

    @activity.defn(name=act.BEGIN_DELETE.name)
    def begin_delete(self, request: BeginDeleteInput) -> InstanceForDelete:
        """Check the caller may delete it, set task_state deleting, say what to undo.
        Key: the instance uuid (deleting an instance already deleting continues it)."""
        with self.sessions.begin() as session:
            instance = visible_instance(session, request.instance_uuid, request.context)
            _start_action(session, instance.uuid, "delete", request.request_id, request.context)
            # A server still building is not marked: its boot is cancelled first, and the
            # boot's own undo steps write the record until they are done.
            if instance.vm_state != VmState.BUILDING:
                instance.task_state = TaskState.DELETING
            return InstanceForDelete(
                instance_uuid=instance.uuid,
                project_id=instance.project_id,
                vm_state=instance.vm_state,
                host=instance.host,
                volumes=[
                    VolumeRef(b.volume_id, b.attachment_id)
                    for b in instance.block_devices
                    if b.volume_id
                ],
                name=instance.name,
                guest_hosts=_leftover_guest_hosts(session, instance),
                volumes_requested=instance.volumes_requested,
            )

    @activity.defn(name=act.MARK_DELETED.name)
    def mark_deleted(self, request: InstanceRef) -> InstanceRecord:
        """Soft-delete the record, as Nova keeps deleted rows. Key: the instance uuid."""
        with self.sessions.begin() as session:
            instance = _get(session, request.instance_uuid)
            session.execute(
                delete(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid == instance.uuid)
            )
            now = utcnow()
            instance.vm_state = VmState.DELETED
            instance.task_state = None
            instance.power_state = 0
            instance.deleted = True
            instance.deleted_at = instance.deleted_at or now
            instance.terminated_at = instance.terminated_at or now
            # The delete removed everything the instance had: what a failed undo left too.
            session.execute(
                update(Leftover)
                .where(Leftover.instance_uuid == instance.uuid, Leftover.resolved_at.is_(None))
                .values(resolved_at=now)
            )
            actions.finish_action(session, activity.info().workflow_id or "")
            return record_of(instance)

    @activity.defn(name=act.RECORD_LEFTOVERS.name)
    def record_leftovers(self, request: RecordLeftoversInput) -> int:
        """Keep what an undo could not remove, for `server show` and `bootflow leftovers`.
        Key: instance and step (a retry updates the row it wrote)."""
        with self.sessions.begin() as session:
            instance = _get(session, request.instance_uuid)
            for spec in request.leftovers:
                row = session.scalar(
                    select(Leftover).where(
                        Leftover.instance_uuid == instance.uuid,
                        Leftover.step == spec.step,
                        Leftover.resolved_at.is_(None),
                    )
                )
                if row is None:
                    session.add(
                        Leftover(
                            instance_uuid=instance.uuid,
                            project_id=instance.project_id,
                            step=spec.step,
                            error=spec.error,
                            host=spec.host,
                        )
                    )
                else:
                    row.error, row.host = spec.error, spec.host
            return len(request.leftovers)


def _leftover_guest_hosts(session: Session, instance: Instance) -> list[str]:
    """The hosts besides the instance's own where an undo failed to destroy its guest."""
    hosts = session.scalars(
        select(Leftover.host).where(
            Leftover.instance_uuid == instance.uuid,
            Leftover.step == act.DESTROY_GUEST.name,
            Leftover.resolved_at.is_(None),
        )
    )
    return sorted({h for h in hosts if h and h != instance.host})


def _join_group(session: Session, instance: Instance, hints: dict[str, list[str]]) -> None:
    """Make the instance a member of the server group its hints name (the compute API checked
    the group is the project's); the scheduler's group filters count members."""
    for group_uuid in hints.get("group", [])[:1]:
        group = session.get(ServerGroup, group_uuid)
        if group is None or group.deleted or group.project_id != instance.project_id:
            continue
        if session.get(ServerGroupMember, (group_uuid, instance.uuid)) is None:
            session.add(ServerGroupMember(group_uuid=group_uuid, instance_uuid=instance.uuid))


def visible_instance(session: Session, instance_uuid: str, context: RequestContext) -> Instance:
    """The instance, if the caller may see it (its project's, or an admin); else Nova's
    InstanceNotFound, as for one that does not exist."""
    instance = session.get(Instance, instance_uuid)
    if (
        instance is None
        or instance.deleted
        or not (context.is_admin or instance.project_id == context.project_id)
    ):
        raise request_error(
            ErrorType.INSTANCE_NOT_FOUND, f"Instance {instance_uuid} could not be found."
        )
    return instance


def _get(session: Session, instance_uuid: str) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.uuid == instance_uuid))
    if instance is None:
        raise request_error(
            ErrorType.INSTANCE_NOT_FOUND, f"Instance {instance_uuid} could not be found."
        )
    return instance
