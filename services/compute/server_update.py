"""``PUT /servers/{id}``: the owner (or an admin) renames a server, sets its access IPs and,
from 2.19, its description; the answer is Nova's update view (from 2.75 the whole show).

Only the record changes: the guest keeps the hostname it booted with until a rebuild makes
its config drive again, as Nova's does; from 2.90 a hostname can be set."""

from __future__ import annotations

from typing import Any, Final

from db.models.compute import Instance
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute import views
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.create import unsupported
from services.compute.schemas.base import validated
from services.compute.schemas.server_update import UpdateV21, update_schema
from services.compute.server_api import visible_instance

router = common_router()

# What the show adds that Nova's update view leaves out before 2.75 (its show_* flags off).
_SHOW_ONLY_PREFIXES: Final = (
    "OS-EXT-SRV-ATTR:",
    "OS-EXT-STS:",
    "OS-EXT-AZ:",
    "OS-SRV-USG:",
    "os-extended-volumes:",
)
_SHOW_ONLY: Final = frozenset({"key_name", "security_groups", "config_drive", "host_status"})
_ADDRESS_EXTENSIONS: Final = ("OS-EXT-IPS:type", "OS-EXT-IPS-MAC:mac_addr")


def _apply(instance: Instance, update: UpdateV21) -> None:
    changed = update.model_fields_set
    if update.disk_config == "AUTO":
        raise unsupported("OS-DCF:diskConfig AUTO", "bootflow's guests are MANUAL.")
    if update.name is not None and update.name != instance.name:
        instance.hostname = views.server_hostname(instance)
        instance.name = update.name
    hostname = getattr(update, "hostname", None)
    if hostname is not None:
        # The record's (shown, and the guest's from its next rebuild), as Nova's.
        instance.hostname = hostname
    if "access_ip_v4" in changed:
        instance.access_ip_v4 = update.access_ip_v4
    if "access_ip_v6" in changed:
        instance.access_ip_v6 = update.access_ip_v6
    if "description" in changed:
        instance.description = getattr(update, "description", None)


def update_view(ctx: ApiContext, view: dict[str, Any]) -> dict[str, Any]:
    """Nova's update answer: the show without the extensions before 2.75."""
    if ctx.at_least(mv.STRICT_QUERY):
        return view
    out = {
        key: value
        for key, value in view.items()
        if key not in _SHOW_ONLY and not key.startswith(_SHOW_ONLY_PREFIXES)
    }
    out["addresses"] = {
        network: [{k: v for k, v in ip.items() if k not in _ADDRESS_EXTENSIONS} for ip in ips]
        for network, ips in view["addresses"].items()
    }
    return out


@router.put("/v2.1/servers/{server_id}")
def update_server(
    server_id: str, ctx: Ctx, session: DbSession, body: Any = JSON_BODY
) -> dict[str, Any]:
    update = validated(update_schema(ctx.version), body).server
    instance = visible_instance(session, server_id, ctx)
    _apply(instance, update)
    session.flush()
    extras = views.ServerExtras.load(session, ctx, [instance], groups=True)
    view = views.server_detail(ctx, instance, extras, show_groups=True)
    return {"server": update_view(ctx, view)}
