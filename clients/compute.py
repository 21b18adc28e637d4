"""A client of the compute API (Nova v2.1 subset)."""

from __future__ import annotations

from typing import Any

from bootflow.validation import is_uuid
from clients.errors import NotFound
from clients.session import Session


class AmbiguousName(LookupError):
    pass


class ComputeClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request("compute", method, path, **kwargs)
        return response.json() if response.content else None

    def create_server(
        self,
        name: str,
        flavor_id: str,
        image_id: str,
        network_ids: list[str],
        *,
        volume_size_gb: int | None = None,
        availability_zone: str | None = None,
    ) -> dict[str, Any]:
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
        result: dict[str, Any] = self._call("POST", "servers", json={"server": server})["server"]
        return result

    def get_server(self, server_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"servers/{server_id}")["server"]
        return result

    def list_servers(self, *, all_projects: bool = False, **filters: str) -> list[dict[str, Any]]:
        params = dict(filters)
        if all_projects:
            params["all_tenants"] = "1"
        result: list[dict[str, Any]] = self._call("GET", "servers/detail", params=params)["servers"]
        return result

    def find_server(self, name_or_id: str) -> dict[str, Any]:
        """By id, else by a unique name (the openstack CLI's lookup and messages)."""
        if is_uuid(name_or_id):
            try:
                return self.get_server(name_or_id)
            except NotFound:
                pass
        matches = self.list_servers(name=name_or_id)
        if not matches:
            raise NotFound(404, f"No server with a name or ID of '{name_or_id}' exists.")
        if len(matches) > 1:
            raise AmbiguousName(
                f"More than one server exists with the name '{name_or_id}'; use its ID."
            )
        return matches[0]

    def delete_server(self, server_id: str) -> None:
        self._call("DELETE", f"servers/{server_id}")

    def list_actions(self, server_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", f"servers/{server_id}/os-instance-actions"
        )["instanceActions"]
        return result

    def get_action(self, server_id: str, request_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", f"servers/{server_id}/os-instance-actions/{request_id}"
        )["instanceAction"]
        return result

    def list_leftovers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "os-leftovers")["leftovers"]
        return result

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
