"""``/v2.0/ports``: create (MAC and fixed IPs allocated), list, show, update, delete ports."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.base import new_uuid
from db.models.network import Network, Port, Subnet
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import bulk, fixed_ips, ipam, quotas
from services.network.access import (
    get_network,
    get_port,
    get_subnet,
    owner_project,
    owns,
    port_visible,
)
from services.network.claims import claim
from services.network.errors import (
    invalid_attribute,
    ip_generation_failure,
    mac_generation_failure,
    mac_in_use,
    policy_denied,
)
from services.network.filters import PORT_FILTERS
from services.network.listing import add_list_and_show
from services.network.quotas import Quotas
from services.network.routers import check_not_an_interface
from services.network.schemas import (
    PORT_ATTRIBUTES,
    JsonBody,
    PortCreate,
    PortUpdate,
    apply_update,
    parse_body,
)
from services.network.views import port_status, port_view

router = common_router(prefix="/v2.0/ports")
add_list_and_show(
    router, Port, PORT_FILTERS, port_visible, get_port, port_view, selectinload(Port.fixed_ips)
)

# Neutron's default base_mac: OpenStack's OUI, the last three octets random.
MAC_PREFIX = "fa:16:3e"
# Neutron's mac_generation_retries; a collision among 16M addresses is already rare.
MAC_RETRIES = 16
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def random_mac() -> str:
    return ":".join([MAC_PREFIX, *(f"{b:02x}" for b in secrets.token_bytes(3))])


def parse_mac(value: str) -> str:
    """A unicast MAC in Neutron's lowercase form, or 400."""
    mac = value.lower().replace("-", ":")
    if not _MAC.match(mac) or mac == "00:00:00:00:00:00" or int(mac[:2], 16) & 1:
        raise invalid_attribute("mac_address", f"'{value}' is not a valid MAC address")
    return mac


def require_binding_admin(caller: AuthContext, body: PortCreate | PortUpdate, action: str) -> None:
    """Neutron's policy: only an admin names a port's host (``binding:host_id``), any value,
    on create or update; Nova's compute hosts do it with their service account."""
    if "binding_host_id" in body.model_fields_set and not caller.is_admin:
        raise policy_denied(f"(rule:{action} and rule:{action}:binding:host_id)")


def insert_port(session: Session, port: Port, mac: str | None) -> None:
    """Insert ``port`` with ``mac``, or with a random unique MAC when none was asked for."""
    if mac is not None:
        port.mac_address = mac
        if session.scalar(select(Port.id).where(Port.mac_address == mac)) or not claim(
            session, port
        ):
            raise mac_in_use(port.network_id, mac)
        return
    for _attempt in range(MAC_RETRIES):
        port.mac_address = random_mac()
        if claim(session, port):
            return
    raise mac_generation_failure(port.network_id)


def _use_subnet(session: Session, caller: AuthContext, subnet_id: str) -> Subnet:
    # FOR KEY SHARE: a concurrent delete of the subnet waits for this port, or wins first and
    # this request answers 404 instead of tripping over a foreign key.
    return get_subnet(session, caller, subnet_id, lock="use")


def _allocate(
    session: Session,
    caller: AuthContext,
    port: Port,
    network: Network,
    requests: list[fixed_ips.FixedIpRequest] | None,
) -> None:
    if requests is None:
        # No fixed_ips given: one address from the first subnet that has one, as Neutron.
        for candidate in list(network.subnets):
            try:
                subnet = _use_subnet(session, caller, candidate.id)
                ipam.allocate(session, subnet, port.id)
                return
            except ApiError as exc:
                if exc.kind not in ("IpAddressGenerationFailure", "SubnetNotFound"):
                    raise
        if network.subnets:
            raise ip_generation_failure(network.id)
        return
    fixed_ips.allocate_all(session, caller, port, requests)


@router.post("", status_code=201)
def create_port(body: JsonBody, caller: Auth, session: DbSession, limits: Quotas) -> dict[str, Any]:
    items, is_bulk = bulk.bodies(body, "port")
    news = [parse_body(b, "port", PortCreate, PORT_ATTRIBUTES, "POST") for b in items]
    ports = [_insert_new_port(session, caller, new) for new in news]
    # Last: its lock is held to commit, and nothing after it waits on another request.
    for project_id in sorted({p.project_id for p in ports}):
        quotas.check(session, limits, "port", project_id)
    for port in ports:
        # The allocations were inserted on their own; load them for the answer.
        session.expire(port, ["fixed_ips"])
    return bulk.answer("port", [port_view(p) for p in ports], is_bulk)


def _insert_new_port(session: Session, caller: AuthContext, new: PortCreate) -> Port:
    """The port ``new`` asks for, with its MAC and addresses; its quota is not checked."""
    require_binding_admin(caller, new, "create_port")
    project_id = owner_project(caller, new.project_id, new.tenant_id)
    network = get_network(session, caller, new.network_id, lock="use")
    # Neutron's policy: only the network's owner (or admin) picks MACs and addresses.
    network_owner = owns(caller, network.project_id)
    mac = None if new.mac_address is None else parse_mac(new.mac_address)
    if mac is not None and not network_owner:
        raise policy_denied("(rule:create_port and rule:create_port:mac_address)")
    requests = None
    if new.fixed_ips is not None:
        requests = fixed_ips.resolve(session, caller, network, new.fixed_ips)
        if not network_owner and any(r.ip is not None for r in requests):
            raise policy_denied("(rule:create_port and rule:create_port:fixed_ips:ip_address)")
    port = Port(
        id=new_uuid(),
        network_id=network.id,
        project_id=project_id,
        name=new.name,
        description=new.description,
        device_id=new.device_id,
        device_owner=new.device_owner,
        binding_host_id=new.binding_host_id,
        admin_state_up=new.admin_state_up,
    )
    port.status = port_status(port)
    insert_port(session, port, mac)
    _allocate(session, caller, port, network, requests)
    return port


@router.put("/{port_id}")
def update_port(port_id: str, body: JsonBody, caller: Auth, session: DbSession) -> dict[str, Any]:
    update = parse_body(body, "port", PortUpdate, PORT_ATTRIBUTES, "PUT")
    require_binding_admin(caller, update, "update_port")
    # Locked: two concurrent updates must not both bump the revision from the same number.
    port = get_port(session, caller, port_id, lock=True)
    moved = "fixed_ips" in update.model_fields_set and fixed_ips.update(
        session, caller, port, update.fixed_ips
    )
    # One revision for the whole update, whichever attributes it changed.
    changed = apply_update(port, update, skip=frozenset({"fixed_ips"}))
    if moved and not changed:
        port.revision_number += 1
    if moved or changed:
        port.status = port_status(port)
        session.flush()
    return {"port": port_view(port)}


@router.delete("/{port_id}", status_code=204)
def delete_port(port_id: str, caller: Auth, session: DbSession) -> Response:
    port = get_port(session, caller, port_id)
    check_not_an_interface(session, port)
    # The allocations go with it (delete-orphan), so its addresses are free once committed.
    session.delete(port)
    session.flush()
    return Response(status_code=204)
