"""Step 5 (network, seed steps 22-24): a port per NIC, with a MAC and a fixed IP; or the
user's own port (``networks: [{"port": ...}]``) bound to the instance and its host."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.errors import service_errors
from clients.errors import NotFound
from clients.network import NetworkClient
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import AllocatePortInput, FixedIp, PortSpec

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
    def __init__(self, network: NetworkClient, host: str) -> None:
        self.network = network
        self.host = host

    @activity.defn(name=act.ALLOCATE_PORT.name)
    def allocate_port(self, request: AllocatePortInput) -> PortSpec:
        """Create the instance's port on one network, bound to this host, or bind the user's
        port (``request.port_id``). Key: device_id (the instance uuid): a retry finds the port
        the first try created or bound (and rebinds it here if it was bound to a host the
        build left)."""
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
        ports on the network that is not ``request.taken``."""
        skip = set(request.taken)
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
