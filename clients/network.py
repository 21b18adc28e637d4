"""A Neutron v2.0 client (networks, subnets, ports) over an authenticated ``Session``.

Works against bootflow's network service and a real Neutron alike: the catalog's network
endpoint has no version suffix, so every path starts with ``v2.0/``. Methods return the API's
JSON objects as dicts and raise the typed errors of ``clients.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from clients.errors import Conflict, NotFound
from clients.session import Session

SERVICE_TYPE: Final = "network"

# A filter value; a list or tuple sends the parameter once per value (matching any of them).
FilterValue = str | int | bool | Sequence[str]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Not given", as distinct from None (e.g. ``gateway_ip=None`` asks for no gateway).
UNSET: Final = _Unset()


def _param(value: str | int | bool) -> str:
    # Neutron reads booleans in query strings as "true"/"false".
    return str(value).lower() if isinstance(value, bool) else str(value)


def query_params(filters: Mapping[str, FilterValue]) -> list[tuple[str, str]]:
    """Neutron's query string: repeated keys for several values of one attribute."""
    params: list[tuple[str, str]] = []
    for key, value in filters.items():
        if isinstance(value, str | int | bool):
            params.append((key, _param(value)))
        else:
            params.extend((key, _param(v)) for v in value)
    return params


class NetworkClient:
    """Neutron's networks, subnets and ports; one client may be shared by threads."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- plumbing --------------------------------------------------------------------------

    def _get(self, path: str, filters: Mapping[str, FilterValue] | None = None) -> Any:
        params = query_params(filters or {})
        return self.session.request(SERVICE_TYPE, "GET", path, params=params).json()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self.session.request(SERVICE_TYPE, "POST", path, json=body).json()

    def _put(self, path: str, body: dict[str, Any]) -> Any:
        return self.session.request(SERVICE_TYPE, "PUT", path, json=body).json()

    def _delete(self, path: str) -> None:
        self.session.request(SERVICE_TYPE, "DELETE", path)

    @staticmethod
    def _item(collection: str, item_id: str) -> str:
        # Quoted, dots too: an id (or a name tried as one) must never name another path.
        return f"v2.0/{collection}/{quote(item_id, safe='').replace('.', '%2E')}"

    # Neutron wraps one resource in its singular name ("network") and a list in the plural.
    def _list(self, collection: str, filters: Mapping[str, FilterValue]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(f"v2.0/{collection}", filters)[collection]
        return found

    def _show(self, collection: str, item_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._get(self._item(collection, item_id))[collection[:-1]]
        return found

    def _create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        one = collection[:-1]
        created: dict[str, Any] = self._post(f"v2.0/{collection}", {one: body})[one]
        return created

    def _update(self, collection: str, item_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        one = collection[:-1]
        updated: dict[str, Any] = self._put(self._item(collection, item_id), {one: fields})[one]
        return updated

    # -- networks --------------------------------------------------------------------------

    def list_networks(
        self, filters: Mapping[str, FilterValue] | None = None, **more: FilterValue
    ) -> list[dict[str, Any]]:
        """Networks visible to the session's project, filtered like ``?name=x&shared=true``."""
        return self._list("networks", {**(filters or {}), **more})

    def get_network(self, network_id: str) -> dict[str, Any]:
        return self._show("networks", network_id)

    def find_network(self, name_or_id: str) -> dict[str, Any]:
        """The network with this id, else the one network with this name.

        Raises ``NotFound`` when none matches and ``Conflict`` when the name is ambiguous.
        """
        if not name_or_id:
            raise NotFound(404, "A network name or ID is required.", "NetworkNotFound")
        try:
            return self.get_network(name_or_id)
        except NotFound:
            pass
        matches = self.list_networks(name=name_or_id)
        if not matches:
            raise NotFound(
                404, f"No network with a name or ID of '{name_or_id}' exists.", "NetworkNotFound"
            )
        if len(matches) > 1:
            raise Conflict(
                409,
                f"More than one network exists with the name '{name_or_id}'; use its ID.",
                "DuplicateResource",
            )
        return matches[0]

    def create_network(
        self,
        name: str,
        *,
        shared: bool = False,
        admin_state_up: bool = True,
        mtu: int | None = None,
        project_id: str | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "admin_state_up": admin_state_up,
            "description": description,
        }
        if shared:
            body["shared"] = True
        if mtu is not None:
            body["mtu"] = mtu
        if project_id is not None:
            body["project_id"] = project_id
        return self._create("networks", body)

    def update_network(self, network_id: str, **fields: Any) -> dict[str, Any]:
        return self._update("networks", network_id, fields)

    def delete_network(self, network_id: str) -> None:
        self._delete(self._item("networks", network_id))

    # -- subnets ---------------------------------------------------------------------------

    def create_subnet(
        self,
        network_id: str,
        cidr: str,
        *,
        name: str = "",
        ip_version: int = 4,
        gateway_ip: str | _Unset | None = UNSET,
        allocation_pools: Sequence[Mapping[str, str]] | None = None,
        enable_dhcp: bool = True,
        dns_nameservers: Sequence[str] = (),
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """A subnet of ``network_id``; ``gateway_ip=None`` means none, unset the first host."""
        body: dict[str, Any] = {
            "network_id": network_id,
            "cidr": cidr,
            "ip_version": ip_version,
            "name": name,
            "enable_dhcp": enable_dhcp,
            "dns_nameservers": list(dns_nameservers),
        }
        if not isinstance(gateway_ip, _Unset):
            body["gateway_ip"] = gateway_ip
        if allocation_pools is not None:
            body["allocation_pools"] = [dict(p) for p in allocation_pools]
        if project_id is not None:
            body["project_id"] = project_id
        return self._create("subnets", body)

    def list_subnets(
        self, filters: Mapping[str, FilterValue] | None = None, **more: FilterValue
    ) -> list[dict[str, Any]]:
        return self._list("subnets", {**(filters or {}), **more})

    def get_subnet(self, subnet_id: str) -> dict[str, Any]:
        return self._show("subnets", subnet_id)

    def update_subnet(self, subnet_id: str, **fields: Any) -> dict[str, Any]:
        return self._update("subnets", subnet_id, fields)

    def delete_subnet(self, subnet_id: str) -> None:
        self._delete(self._item("subnets", subnet_id))

    # -- ports -----------------------------------------------------------------------------

    def create_port(
        self,
        network_id: str,
        *,
        device_id: str,
        device_owner: str,
        host: str,
        project_id: str | None = None,
        name: str = "",
        fixed_ips: Sequence[Mapping[str, str]] | None = None,
        mac_address: str | None = None,
    ) -> dict[str, Any]:
        """A port on ``network_id`` bound to ``host`` (empty: unbound) for ``device_id``.

        ``project_id`` (admin only) creates it for another project, as Nova's service user
        does for an instance's owner. Without ``fixed_ips`` one address is allocated from the
        network's first subnet with room.
        """
        body: dict[str, Any] = {
            "network_id": network_id,
            "name": name,
            "device_id": device_id,
            "device_owner": device_owner,
        }
        if host:
            # Naming a host at all is admin-only in Neutron's policy, even an empty one.
            body["binding:host_id"] = host
        if project_id is not None:
            body["project_id"] = project_id
        if fixed_ips is not None:
            body["fixed_ips"] = [dict(ip) for ip in fixed_ips]
        if mac_address is not None:
            body["mac_address"] = mac_address
        return self._create("ports", body)

    def update_port(self, port_id: str, **fields: Any) -> dict[str, Any]:
        """Change a port; ``host=`` is accepted for ``binding:host_id``."""
        if "host" in fields:
            fields["binding:host_id"] = fields.pop("host")
        return self._update("ports", port_id, fields)

    def get_port(self, port_id: str) -> dict[str, Any]:
        return self._show("ports", port_id)

    def list_ports(
        self, filters: Mapping[str, FilterValue] | None = None, **more: FilterValue
    ) -> list[dict[str, Any]]:
        """Ports, e.g. ``list_ports(device_id=[a, b])`` or ``list_ports({"binding:host_id": h})``.

        ``host=`` is accepted for ``binding:host_id``.
        """
        merged = {**(filters or {}), **more}
        if "host" in merged:
            merged["binding:host_id"] = merged.pop("host")
        return self._list("ports", merged)

    def delete_port(self, port_id: str) -> None:
        self._delete(self._item("ports", port_id))
