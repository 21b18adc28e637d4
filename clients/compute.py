"""A client of the compute API (Nova v2.1 and its microversions).

Each call names the microversion whose shape it reads, so a newer server never changes
what a caller sees: servers and flavors at 2.37 (``networks: "none"`` exists; the flavor is
still referenced by id, as before 2.47), instance actions at 2.62 (events for the owner,
their host for admins), host and server-group calls at 2.64 (uuids, policy).
"""

from __future__ import annotations

import re
from typing import Any, Final

from clients.errors import NotFound
from clients.session import Session
from core.validation import is_uuid

SERVERS_VERSION: Final = "2.37"
ACTIONS_VERSION: Final = "2.62"
HOSTS_VERSION: Final = "2.64"
# Server actions: lock's reason is read from 2.73.
LOCK_REASON_VERSION: Final = "2.73"
# A rebuild's hostname may be an FQDN from 2.94.
REBUILD_VERSION: Final = "2.94"


class AmbiguousName(LookupError):
    pass


def _server_body(
    name: str,
    flavor_id: str,
    image_id: str,
    network_ids: list[str],
    volume_size_gb: int | None,
    availability_zone: str | None,
) -> dict[str, Any]:
    """The ``server`` of a create request: on the image, with a blank volume of
    ``volume_size_gb`` attached when that is given."""
    server: dict[str, Any] = {
        "name": name,
        "flavorRef": flavor_id,
        "imageRef": image_id,
        "networks": [{"uuid": n} for n in network_ids] or "none",
    }
    if volume_size_gb:
        server["block_device_mapping_v2"] = [
            {
                "boot_index": 0,
                "uuid": image_id,
                "source_type": "image",
                "destination_type": "local",
            },
            {
                "source_type": "blank",
                "destination_type": "volume",
                "volume_size": volume_size_gb,
                "delete_on_termination": True,
            },
        ]
    if availability_zone:
        server["availability_zone"] = availability_zone
    return server


class ComputeClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _call(self, method: str, path: str, version: str = SERVERS_VERSION, **kwargs: Any) -> Any:
        headers = {"OpenStack-API-Version": f"compute {version}"}
        response = self.session.request("compute", method, path, headers=headers, **kwargs)
        return response.json() if response.content else None

    # -- servers ----------------------------------------------------------------------------

    def create_server(
        self,
        name: str,
        flavor_id: str,
        image_id: str,
        network_ids: list[str],
        *,
        volume_size_gb: int | None = None,
        availability_zone: str | None = None,
        scheduler_hints: dict[str, Any] | None = None,
        min_count: int = 1,
        max_count: int | None = None,
    ) -> dict[str, Any]:
        """Boot a server (``min_count``..``max_count`` of them: name-1, name-2, ...); the
        first server's id and links, as Nova answers."""
        server = _server_body(
            name, flavor_id, image_id, network_ids, volume_size_gb, availability_zone
        )
        if min_count != 1 or max_count is not None:
            server["min_count"] = min_count
            server["max_count"] = max_count or min_count
        body: dict[str, Any] = {"server": server}
        if scheduler_hints:
            body["os:scheduler_hints"] = scheduler_hints
        result: dict[str, Any] = self._call("POST", "servers", json=body)["server"]
        return result

    def create_servers(
        self,
        name: str,
        flavor_id: str,
        image_id: str,
        network_ids: list[str],
        *,
        min_count: int,
        max_count: int,
        **options: Any,
    ) -> list[str]:
        """Boot several servers in one request (name-1..name-N); the ids of those accepted,
        found by the request's reservation id as Nova's clients do."""
        server = _server_body(
            name,
            flavor_id,
            image_id,
            network_ids,
            options.get("volume_size_gb"),
            options.get("availability_zone"),
        )
        server.update(min_count=min_count, max_count=max_count, return_reservation_id=True)
        body: dict[str, Any] = {"server": server}
        if options.get("scheduler_hints"):
            body["os:scheduler_hints"] = options["scheduler_hints"]
        reservation = self._call("POST", "servers", json=body)["reservation_id"]
        servers = self.list_servers(reservation_id=reservation)
        return [str(s["id"]) for s in sorted(servers, key=lambda s: str(s["name"]))]

    def get_server(self, server_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"servers/{server_id}")["server"]
        return result

    def list_servers(self, *, all_projects: bool = False, **filters: str) -> list[dict[str, Any]]:
        """Servers in detail. Filters are Nova's: ``name`` is a regular expression."""
        params = dict(filters)
        if all_projects:
            params["all_tenants"] = "1"
        result: list[dict[str, Any]] = self._call("GET", "servers/detail", params=params)["servers"]
        return result

    def find_server(self, name_or_id: str, *, all_projects: bool = False) -> dict[str, Any]:
        """By id (an admin's reaches any project's), else by a unique name: the caller's
        project's, or with ``all_projects`` (admins) every project's (the openstack CLI's
        lookup and messages)."""
        if is_uuid(name_or_id):
            try:
                return self.get_server(name_or_id)
            except NotFound:
                pass
        # Nova's name filter is a regular expression: ask for the exact name, keep exact hits.
        pattern = f"^{re.escape(name_or_id)}$"
        found = self.list_servers(all_projects=all_projects, name=pattern)
        matches = [s for s in found if s["name"] == name_or_id]
        if not matches:
            raise NotFound(404, f"No server with a name or ID of '{name_or_id}' exists.")
        if len(matches) > 1:
            raise AmbiguousName(
                f"More than one server exists with the name '{name_or_id}'; use its ID."
            )
        return matches[0]

    def delete_server(self, server_id: str) -> None:
        self._call("DELETE", f"servers/{server_id}")

    def console_output(self, server_id: str, length: int | None = None) -> str:
        body = {"os-getConsoleOutput": {"length": length}}
        return str(self._call("POST", f"servers/{server_id}/action", json=body)["output"])

    def server_action(self, server_id: str, action: str, args: Any = None) -> None:
        """A server action (os-stop, os-start, reboot, lock, unlock): Nova's 202."""
        body = {action: args}
        self._call("POST", f"servers/{server_id}/action", LOCK_REASON_VERSION, json=body)

    def rebuild_server(self, server_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Nova's rebuild: 202 with the server as the rebuild began (status REBUILD)."""
        answer = self._call(
            "POST", f"servers/{server_id}/action", REBUILD_VERSION, json={"rebuild": body}
        )
        server: dict[str, Any] = answer["server"]
        return server

    # -- instance actions -------------------------------------------------------------------

    def list_actions(self, server_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", f"servers/{server_id}/os-instance-actions", ACTIONS_VERSION
        )["instanceActions"]
        return result

    def get_action(self, server_id: str, request_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", f"servers/{server_id}/os-instance-actions/{request_id}", ACTIONS_VERSION
        )["instanceAction"]
        return result

    def list_leftovers(self, server_id: str | None = None) -> list[dict[str, Any]]:
        """The unresolved leftovers visible to the caller (of one server, if given)."""
        params = {"instance_uuid": server_id} if server_id else {}
        result: list[dict[str, Any]] = self._call("GET", "os-leftovers", params=params)["leftovers"]
        return result

    # -- flavors and limits -----------------------------------------------------------------

    def list_flavors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "flavors/detail")["flavors"]
        return result

    def find_flavor(self, name_or_id: str) -> dict[str, Any]:
        flavors = self.list_flavors()
        for flavor in flavors:
            if name_or_id in (flavor["id"], flavor["name"]):
                return flavor
        names = ", ".join(f["name"] for f in flavors) or "none"
        raise NotFound(
            404, f"No flavor with a name or ID of '{name_or_id}' exists; flavors: {names}."
        )

    def get_limits(self) -> dict[str, Any]:
        """The project's absolute limits and usage (maxTotalInstances, totalInstancesUsed...)."""
        result: dict[str, Any] = self._call("GET", "limits")["limits"]["absolute"]
        return result

    # -- server groups ----------------------------------------------------------------------

    def create_server_group(self, name: str, policy: str) -> dict[str, Any]:
        body = {"server_group": {"name": name, "policy": policy}}
        result: dict[str, Any] = self._call("POST", "os-server-groups", HOSTS_VERSION, json=body)[
            "server_group"
        ]
        return result

    def list_server_groups(self, *, all_projects: bool = False) -> list[dict[str, Any]]:
        params = {"all_projects": "1"} if all_projects else {}
        result: list[dict[str, Any]] = self._call(
            "GET", "os-server-groups", HOSTS_VERSION, params=params
        )["server_groups"]
        return result

    def get_server_group(self, group_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"os-server-groups/{group_id}", HOSTS_VERSION)[
            "server_group"
        ]
        return result

    def delete_server_group(self, group_id: str) -> None:
        self._call("DELETE", f"os-server-groups/{group_id}", HOSTS_VERSION)

    # -- hosts (admin) ----------------------------------------------------------------------

    def list_hypervisors(self) -> list[dict[str, Any]]:
        """Every host in detail: capacity and usage (vcpus, memory_mb, local_gb and their
        ``_used``), running_vms, state up/down, status enabled/disabled and the service."""
        result: list[dict[str, Any]] = self._call("GET", "os-hypervisors/detail", HOSTS_VERSION)[
            "hypervisors"
        ]
        return result

    def hypervisor_facts(self) -> list[dict[str, Any]]:
        """bootflow's own facts of every host: ``host``, ``allocation_ratios`` (cpu, ram,
        disk), ``booted_at``."""
        result: list[dict[str, Any]] = self.session.request(
            "compute", "GET", "bootflow/v1/hypervisors", unversioned=True
        ).json()["hypervisors"]
        return result

    def own_limits(self, project_id: str | None = None) -> dict[str, Any]:
        """The project's limit and use of what bootflow counts (instances, cores, ram,
        disk): ``{resource: {"limit": n, "in_use": n}}``; -1 is unlimited."""
        params = {"project_id": project_id} if project_id else {}
        result: dict[str, Any] = self.session.request(
            "compute", "GET", "bootflow/v1/limits", unversioned=True, params=params
        ).json()["limits"]
        return result

    def list_services(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "os-services", HOSTS_VERSION)["services"]
        return result

    def find_service(self, host: str) -> dict[str, Any]:
        for service in self.list_services():
            if service["host"] == host:
                return service
        raise NotFound(404, f"No compute service on host '{host}'.")

    def set_service_enabled(
        self, host: str, enabled: bool, reason: str | None = None
    ) -> dict[str, Any]:
        """Enable or disable scheduling to a host (``openstack compute service set``)."""
        service = self.find_service(host)
        body: dict[str, Any] = {"status": "enabled" if enabled else "disabled"}
        if not enabled and reason:
            body["disabled_reason"] = reason
        result: dict[str, Any] = self._call(
            "PUT", f"os-services/{service['id']}", HOSTS_VERSION, json=body
        )["service"]
        return result

    def list_availability_zones(self, *, detail: bool = False) -> list[dict[str, Any]]:
        path = "os-availability-zone/detail" if detail else "os-availability-zone"
        result: list[dict[str, Any]] = self._call("GET", path, HOSTS_VERSION)[
            "availabilityZoneInfo"
        ]
        return result
