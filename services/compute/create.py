"""``POST /servers``: the body, once its schema (schemas/servers.py) holds, turned into a
plan, or refused.

Everything Nova accepts is either carried out or refused with a 400 that says what bootflow
does instead; nothing is silently dropped. What bootflow cannot do (a body field with no
place in ``BootRequest``, or needing a different workflow) is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.messages import BootVolumeRequest, NetworkRequest
from services.common.app import ApiError
from services.compute.block_devices import disks_of, unsupported
from services.compute.context import ApiContext
from services.compute.schemas.base import BodyError, as_text, validated
from services.compute.schemas.servers import (
    MAX_NICS_PER_SERVER,
    Nic,
    ServerV21,
    create_schema,
)

__all__ = ["MAX_NICS_PER_SERVER", "CreatePlan", "parse_create", "unsupported"]

# NICs as asked for (a port's network_id is "" until the API looks the port up), "auto",
# "none", or None.
NetworkChoice = list[NetworkRequest] | Literal["auto", "none"] | None

# Server fields bootflow has no place for, refused when set: (field, what, instead).
_UNSUPPORTED = (
    ("personality", "Personality files", "boot without them."),
    ("user_data", "user_data", "bootflow's config drive carries no user data."),
)
_UNSUPPORTED_LATER = (
    ("tags", "Server tags", "boot without tags."),
    ("trusted_image_certificates", "trusted_image_certificates", "boot without them."),
)


@dataclass
class CreatePlan:
    """A create request as bootflow will carry it out (one BootInstance per server)."""

    name: str
    flavor_ref: str
    image_ref: str
    # NICs (a network id, or the user's port id), "auto" (the project's only network),
    # "none", or None (not given, before 2.37: as "auto", but no network at all is fine).
    networks: NetworkChoice
    volume_size_gb: int | None = None
    # Boot from a volume (image_ref is then ""): services/compute/block_devices.py.
    boot_volume: BootVolumeRequest | None = None
    availability_zone: str | None = None
    min_count: int = 1
    max_count: int = 1
    return_reservation_id: bool = False
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)
    # The caller's key pair for the guest (looked up when the boots are built).
    key_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Recorded as given (2.19+ for the description), as PUT /servers/{id} sets them.
    description: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    # The guest's hostname (2.90+), instead of the name's.
    hostname: str | None = None


def _policy(rule: str) -> ApiError:
    return ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def parse_create(ctx: ApiContext, body: Any) -> CreatePlan:
    """The plan for a create body, or the 400/403 Nova (or bootflow's limits) would answer."""
    request = validated(create_schema(ctx.version), body)
    server = request.server
    if not server.imageRef and not server.block_device_mapping_v2:
        raise ApiError(
            400,
            "Missing imageRef attribute: give the image to boot from, or boot from a volume "
            "(block_device_mapping_v2 with boot_index 0 and destination_type volume).",
        )
    disks = disks_of(server)
    max_count = server.min_count if server.max_count is None else server.max_count
    if server.min_count > max_count:
        raise ApiError(400, "min_count must be <= max_count")
    if max_count > 1 and disks.boot_volume and disks.boot_volume.source_type == "volume":
        # Nova's InvalidRequest: one volume cannot be every server's root disk.
        raise ApiError(400, "Cannot attach one or more volumes to multiple instances")
    _unsupported_fields(ctx, server)
    hostname = getattr(server, "hostname", None)
    if hostname is not None and max_count > 1:
        # Nova's AmbiguousHostnameForMultipleInstances.
        raise ApiError(400, "Unable to allocate a single hostname to multiple instances")
    networks = _networks(server.networks)
    if max_count > 1 and isinstance(networks, list) and any(n.port_id for n in networks):
        # Nova's MultiplePortsNotApplicable.
        raise ApiError(
            400,
            "Failed to launch instances: Unable to launch multiple instances with a single "
            "configured port ID. Please launch your instance one by one with different ports.",
        )
    return CreatePlan(
        name=server.name,
        flavor_ref=server.flavorRef,
        image_ref=server.imageRef,
        networks=networks,
        volume_size_gb=disks.blank_gb,
        boot_volume=disks.boot_volume,
        availability_zone=_availability_zone(ctx, server.availability_zone),
        min_count=server.min_count,
        max_count=max_count,
        return_reservation_id=server.return_reservation_id,
        scheduler_hints=request.hints.chosen() if request.hints else {},
        key_name=_key_name(server.key_name),
        metadata=server.metadata or {},
        description=getattr(server, "description", None),
        access_ip_v4=server.accessIPv4,
        access_ip_v6=server.accessIPv6,
        hostname=hostname,
    )


def _key_name(value: Any) -> str | None:
    """Nova's parameter_types.name; whether the key pair exists is checked with the boots."""
    if value is None:
        return None
    try:
        return as_text("key_name", value, min_length=1)
    except BodyError as exc:
        raise ApiError(400, exc.message) from None


def _availability_zone(ctx: ApiContext, zone: str | None) -> str | None:
    if zone is not None and ":" in zone:
        # Nova's "zone:host:node" forces a host (admins only).
        if not ctx.is_admin:
            raise _policy("os_compute_api:servers:create:forced_host")
        raise unsupported(
            "Forcing a host with availability_zone 'zone:host'",
            "disable the other hosts (PUT /os-services/{id}) or boot into the zone alone.",
        )
    return zone


def _networks(value: Any) -> NetworkChoice:
    """The NICs asked for; "auto", "none" and None (the schema allows no other) as they are."""
    if isinstance(value, list):
        return [_nic(entry) for entry in value]
    choice: NetworkChoice = value
    return choice


def _nic(entry: Nic) -> NetworkRequest:
    if entry.port and entry.fixed_ip:
        raise ApiError(
            400,
            f"Specified Fixed IP '{entry.fixed_ip}' cannot be used with port '{entry.port}': "
            "the two cannot be specified together.",
        )
    if entry.fixed_ip:
        raise unsupported(
            f"Requesting a fixed IP ({entry.fixed_ip})",
            "the network service assigns the next free address of the network's subnet.",
        )
    if getattr(entry, "tag", None):
        raise unsupported("Tagging a NIC (tag)", "boot without the tag.")
    if entry.port:
        # As Nova: a port's network is the port's own; a "uuid" beside it is ignored.
        return NetworkRequest(network_id="", port_id=entry.port)
    return NetworkRequest(str(entry.uuid))


def _unsupported_fields(ctx: ApiContext, server: ServerV21) -> None:
    """Fields Nova accepts that have no place in a bootflow boot: refused by name."""
    _refuse_set(server, _UNSUPPORTED)
    for group in server.security_groups or []:
        if group.name not in (None, "default"):
            raise ApiError(
                400,
                f"Security group {group.name} not found for project "
                f"{ctx.caller.project_id}: bootflow's servers are all in 'default'.",
            )
    _refuse_set(server, _UNSUPPORTED_LATER)
    _requested_host(ctx, server)


def _refuse_set(server: ServerV21, fields: tuple[tuple[str, str, str], ...]) -> None:
    for key, what, instead in fields:
        if getattr(server, key, None):
            raise unsupported(what, instead)


def _requested_host(ctx: ApiContext, server: ServerV21) -> None:
    if getattr(server, "host", None) or getattr(server, "hypervisor_hostname", None):
        if not ctx.is_admin:
            raise _policy("compute:servers:create:requested_destination")
        raise unsupported(
            "Requesting a host (host, hypervisor_hostname)",
            "disable the other hosts (PUT /os-services/{id}) to steer the scheduler.",
        )
