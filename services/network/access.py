"""Who sees and changes what, as Neutron's default policy has it.

A project sees its own networks and shared ones, the subnets of networks it sees, and only
its own ports; admin sees everything. What a caller cannot see answers 404, exactly as if it
did not exist; what it sees but may not change (another project's shared network) is 403.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from db.models.network import Network, Port, Router, Subnet
from services.common.auth import AuthContext
from services.network.errors import (
    bad_request,
    network_not_found,
    policy_denied,
    port_not_found,
    subnet_not_found,
)


def network_visible(caller: AuthContext) -> ColumnElement[bool] | None:
    """A WHERE clause for the networks ``caller`` sees; None for admin (all)."""
    if caller.is_admin:
        return None
    return or_(Network.project_id == caller.project_id, Network.shared.is_(True))


def subnet_visible(caller: AuthContext) -> ColumnElement[bool] | None:
    visible = network_visible(caller)
    if visible is None:
        return None
    return Subnet.network_id.in_(select(Network.id).where(visible))


def port_visible(caller: AuthContext) -> ColumnElement[bool] | None:
    return None if caller.is_admin else Port.project_id == caller.project_id


def owns(caller: AuthContext, project_id: str) -> bool:
    return caller.is_admin or caller.project_id == project_id


# PostgreSQL row locks (SQLite serializes writers anyway). Every request locks its network
# before any subnet, so locks are always taken in one order and cannot deadlock:
#   "use":    FOR KEY SHARE, a port being created; blocks only deletes and unsharing.
#   "write":  FOR NO KEY UPDATE, subnets being added or removed; one at a time per network.
#   "delete": FOR UPDATE, deleting or unsharing; waits for ports being created to commit.
Lock = Literal["use", "write", "delete"] | None


_Row = TypeVar("_Row", Network, Subnet)
_Seen = TypeVar("_Seen", Network, Subnet, Port, Router)


def only_visible(query: Select[_Seen], visible: ColumnElement[bool] | None) -> Select[_Seen]:
    """``query`` limited to what a caller sees (``visible`` None: everything)."""
    return query if visible is None else query.where(visible)


def locked(query: Select[_Row], lock: Lock) -> Select[_Row]:
    if lock == "use":
        return query.with_for_update(read=True, key_share=True)
    if lock == "write":
        return query.with_for_update(key_share=True)
    if lock == "delete":
        return query.with_for_update()
    return query


def get_network(
    session: Session, caller: AuthContext, network_id: str, *, lock: Lock = None
) -> Network:
    """A network ``caller`` sees, or 404; locked as ``lock`` says.

    Under READ COMMITTED a locking read that waited re-checks the row it gets, so a network
    deleted or unshared meanwhile is a clean 404 here, never a foreign key error later.
    """
    query = only_visible(select(Network).where(Network.id == network_id), network_visible(caller))
    network = session.scalar(locked(query, lock).execution_options(populate_existing=True))
    if network is None:
        raise network_not_found(network_id)
    return network


def get_subnet(
    session: Session, caller: AuthContext, subnet_id: str, *, lock: Lock = None
) -> Subnet:
    """A subnet of a network ``caller`` sees, or 404; locked as ``lock`` says."""
    query = only_visible(select(Subnet).where(Subnet.id == subnet_id), subnet_visible(caller))
    subnet = session.scalar(locked(query, lock).execution_options(populate_existing=True))
    if subnet is None:
        raise subnet_not_found(subnet_id)
    return subnet


def get_port(session: Session, caller: AuthContext, port_id: str, *, lock: bool = False) -> Port:
    """A port of ``caller``'s project (any, for admin), or 404; ``lock`` for an update."""
    port = session.get(Port, port_id, with_for_update=lock or None, populate_existing=lock)
    if port is None or not owns(caller, port.project_id):
        raise port_not_found(port_id)
    return port


def require_owner(caller: AuthContext, project_id: str, action: str) -> None:
    """403 unless ``caller`` owns the resource (it sees it, e.g. a shared network)."""
    if not owns(caller, project_id):
        raise policy_denied(f"rule:{action}")


def owner_project(caller: AuthContext, project_id: str | None, tenant_id: str | None) -> str:
    """The project a new resource belongs to: the caller's, or (admin only) the one named."""
    if project_id and tenant_id and project_id != tenant_id:
        raise bad_request("'project_id' and 'tenant_id' do not match")
    named = project_id or tenant_id
    if named is None or named == caller.project_id:
        return caller.project_id
    if not caller.is_admin:
        raise bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
            "request requires admin privileges"
        )
    return named
