"""Step 5 (network, seed steps 22-24): a port per NIC, with a MAC and a fixed IP."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.errors import service_errors
from bootflow import activity_defs as act
from bootflow.messages import AllocatePortInput, FixedIp, InstanceRef, PortSpec
from bootflow.states import TaskState
from clients.errors import NotFound
from clients.network import NetworkClient
from db.instances import set_task_state
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

    @activity.defn(name=act.ALLOCATE_PORT.name)
    def allocate_port(self, request: AllocatePortInput) -> PortSpec:
        """Create the instance's port on one network, bound to this host. Key: device_id
        (the instance uuid) and network: a retry finds the port the first try created (and
        rebinds it here if it was bound to a host the build left)."""
        assert self.host is not None, "allocate_port runs on a compute host's worker"
        set_task_state(self.sessions, request.instance_uuid, TaskState.NETWORKING)
        doing = f"allocate a port on network {request.network.name}"
        with service_errors(doing):
            existing = self.network.list_ports(
                device_id=request.instance_uuid, network_id=request.network.id
            )
            if existing:
                port = existing[0]
                if port.get("binding:host_id") != self.host:
                    # Made on a host the build left (a reschedule): bind it here instead.
                    port = self.network.update_port(port["id"], host=self.host)
                return _spec(port, request.network.name)
            port = self.network.create_port(
                request.network.id,
                device_id=request.instance_uuid,
                device_owner=DEVICE_OWNER,
                host=self.host,
                project_id=request.project_id,
            )
        return _spec(port, request.network.name)

    @activity.defn(name=act.DEALLOCATE_PORTS.name)
    def deallocate_ports(self, request: InstanceRef) -> int:
        """Delete every port whose device_id is the instance, as Nova's
        deallocate_for_instance. Key: device_id; ports already gone are skipped."""
        deleted = 0
        for port in self.network.list_ports(device_id=request.instance_uuid):
            try:
                self.network.delete_port(port["id"])
                deleted += 1
            except NotFound:
                pass
        return deleted
