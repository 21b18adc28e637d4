"""Step 5 (network, seed steps 22-24): a port per NIC, with a MAC and a fixed IP; or the
user's own port (``networks: [{"port": ...}]``) bound to the instance and its host."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.errors import service_errors
from clients.errors import NotFound
from clients.network import NetworkClient
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import AllocatePortInput, FixedIp, InstanceRef, PortSpec
from core.states import TaskState
from db.instances import set_task_state
from db.models.compute import Instance
from db.session import SessionFactory

DEVICE_OWNER = "compute:nova"


def _spec(port: dict[str, Any], network_name: str) -> PortSpec:
    return PortSpec(
        id=port["id"],
        network_id=port["network_id"],
        network_name=network_name,
        mac_address=port["mac_address"],
        fixed_ips=[FixedIp(ip["ip_address"], ip["subnet_id"]) for ip in port["fixed_ips"]],
    )


class PortActivities:
    def __init__(self, network: NetworkClient, sessions: SessionFactory, host: str | None) -> None:
        self.network = network
        self.sessions = sessions
        self.host = host

    def _preserved(self, instance_uuid: str) -> set[str]:
        """The user's own ports the instance was booted on (unbound, never deleted)."""
        with self.sessions.begin() as session:
            ports = session.scalar(
                select(Instance.preserved_ports).where(Instance.uuid == instance_uuid)
            )
        return set(ports or [])

    @activity.defn(name=act.ALLOCATE_PORT.name)
    def allocate_port(self, request: AllocatePortInput) -> PortSpec:
        """Create the instance's port on one network, bound to this host, or bind the user's
        port (``request.port_id``). Key: device_id (the instance uuid): a retry finds the port
        the first try created or bound (and rebinds it here if it was bound to a host the
        build left)."""
        assert self.host is not None, "allocate_port runs on a compute host's worker"
        set_task_state(self.sessions, request.instance_uuid, TaskState.NETWORKING)
        if request.port_id:
            return self._bind(request, request.port_id)
        doing = f"allocate a port on network {request.network.name}"
        with service_errors(doing):
            if request.after_reschedule or activity.info().attempt > 1:
                existing = self._earlier_port(request)
                if existing is not None:
                    return _spec(existing, request.network.name)
            port = self.network.create_port(
                request.network.id,
                device_id=request.instance_uuid,
                device_owner=DEVICE_OWNER,
                host=self.host,
                project_id=request.project_id,
            )
        return _spec(port, request.network.name)

    def _earlier_port(self, request: AllocatePortInput) -> dict[str, Any] | None:
        """The port an earlier attempt made for this NIC, bound here: one of the instance's
        ports on the network that no NIC before this one holds."""
        skip = self._preserved(request.instance_uuid) | set(request.taken)
        for port in self.network.list_ports(
            device_id=request.instance_uuid, network_id=request.network.id
        ):
            if port["id"] in skip:
                continue
            if port.get("binding:host_id") != self.host:
                # Made on a host the build left (a reschedule): bind it here instead.
                return self.network.update_port(port["id"], host=self.host)
            return port
        return None

    def _bind(self, request: AllocatePortInput, port_id: str) -> PortSpec:
        """Bind the user's port to the instance on this host, as Nova's allocate_for_instance
        updates a requested port: device_id, device_owner and binding:host_id. The compute
        API checked it; it is checked again here, as it may have changed since."""
        with service_errors(f"bind port {port_id}"):
            try:
                port = self.network.get_port(port_id)
            except NotFound as exc:
                raise request_error(
                    ErrorType.PORT_NOT_FOUND, f"Port id {port_id} could not be found."
                ) from exc
            device_id = port.get("device_id") or ""
            if device_id not in ("", request.instance_uuid):
                raise request_error(ErrorType.PORT_IN_USE, f"Port {port_id} is still in use.")
            if (
                device_id != request.instance_uuid
                or port.get("binding:host_id") != self.host
                or port.get("device_owner") != DEVICE_OWNER
            ):
                port = self.network.update_port(
                    port_id,
                    device_id=request.instance_uuid,
                    device_owner=DEVICE_OWNER,
                    host=self.host,
                )
        return _spec(port, request.network.name)

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
