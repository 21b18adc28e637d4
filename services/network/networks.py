"""``/v2.0/networks``: create, list, show, update and delete networks."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from db.models.network import Network, Port
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import bulk, quotas
from services.network.access import get_network, network_visible, owner_project, require_owner
from services.network.errors import invalid_shared_setting, network_in_use, policy_denied
from services.network.filters import NETWORK_FILTERS
from services.network.listing import add_list_and_show
from services.network.quotas import Quotas
from services.network.schemas import (
    NETWORK_ATTRIBUTES,
    JsonBody,
    NetworkCreate,
    NetworkUpdate,
    apply_update,
    parse_body,
)
from services.network.views import network_view

router = common_router(prefix="/v2.0/networks")
add_list_and_show(
    router,
    Network,
    NETWORK_FILTERS,
    network_visible,
    get_network,
    network_view,
    selectinload(Network.subnets),
)


@router.post("", status_code=201)
def create_network(
    body: JsonBody, caller: Auth, session: DbSession, limits: Quotas
) -> dict[str, Any]:
    items, is_bulk = bulk.bodies(body, "network")
    news = [parse_body(b, "network", NetworkCreate, NETWORK_ATTRIBUTES, "POST") for b in items]
    networks = [_insert_network(session, caller, new) for new in news]
    session.flush()
    # Once per project, after every insert: a bulk counts all it adds (and takes no lock
    # while holding a quota lock).
    for project_id in sorted({n.project_id for n in networks}):
        quotas.check(session, limits, "network", project_id)
    return bulk.answer("network", [network_view(n) for n in networks], is_bulk)


def _insert_network(session: DbSession, caller: AuthContext, new: NetworkCreate) -> Network:
    project_id = owner_project(caller, new.project_id, new.tenant_id)
    if new.shared and not caller.is_admin:
        raise policy_denied("(rule:create_network and rule:create_network:shared)")
    network = Network(
        name=new.name,
        description=new.description,
        project_id=project_id,
        shared=new.shared,
        admin_state_up=new.admin_state_up,
        mtu=new.mtu,
        subnets=[],
    )
    session.add(network)
    return network


@router.put("/{network_id}")
def update_network(
    network_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    update = parse_body(body, "network", NetworkUpdate, NETWORK_ATTRIBUTES, "PUT")
    unsharing = "shared" in update.model_fields_set and not update.shared
    network = get_network(session, caller, network_id, lock="delete" if unsharing else "write")
    require_owner(caller, network.project_id, "update_network")
    if "shared" in update.model_fields_set and update.shared != network.shared:
        if not caller.is_admin:
            raise policy_denied("(rule:update_network and rule:update_network:shared)")
        if unsharing and _used_by_others(session, network):
            raise invalid_shared_setting(network.id)
    if apply_update(network, update):
        session.flush()
    return {"network": network_view(network)}


def _used_by_others(session: DbSession, network: Network) -> bool:
    foreign = select(Port.id).where(
        Port.network_id == network.id, Port.project_id != network.project_id
    )
    return session.scalar(foreign.limit(1)) is not None


@router.delete("/{network_id}", status_code=204)
def delete_network(network_id: str, caller: Auth, session: DbSession) -> Response:
    # FOR UPDATE waits for ports being created on it; any that commit are then seen below.
    network = get_network(session, caller, network_id, lock="delete")
    require_owner(caller, network.project_id, "delete_network")
    if session.scalar(select(Port.id).where(Port.network_id == network.id).limit(1)):
        raise network_in_use(network.id)
    # Without ports no subnet holds an allocation, so they go with it, as in Neutron.
    for subnet in list(network.subnets):
        session.delete(subnet)
    session.delete(network)
    session.flush()
    return Response(status_code=204)
