"""``POST /servers``: the request body checked as Nova's schema for the request's
microversion (nova/api/openstack/compute/schemas/servers.py), and turned into a plan.

Everything Nova accepts is either carried out or refused with a 400 that says what bootflow
does instead; nothing is silently dropped. What bootflow cannot do (a body field with no
place in ``BootRequest``, or needing a different workflow) is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from core.messages import NetworkRequest
from core.validation import server_name_problem
from services.common.app import MAX_INT, ApiError
from services.compute import microversions as mv
from services.compute.context import ApiContext
from services.compute.validation import (
    boolean,
    invalid,
    is_uuid,
    no_extra,
    positive_integer,
    require_object,
    string,
)

# NICs one server may have. Each is a virtio PCI device on the guest's one PCI bus (32
# slots, some taken by the bridge, disks and balloon), and a port against the project's
# quota; docs/architecture.md says why 16.
MAX_NICS_PER_SERVER = 16

# NICs as asked for (a port's network_id is "" until the API looks the port up), "auto",
# "none", or None.
NetworkChoice = list[NetworkRequest] | Literal["auto", "none"] | None

_SERVER_FIELDS_V21 = {
    "name",
    "imageRef",
    "flavorRef",
    "adminPass",
    "metadata",
    "networks",
    "OS-DCF:diskConfig",
    "accessIPv4",
    "accessIPv6",
    "personality",
    "availability_zone",
    "block_device_mapping",
    "block_device_mapping_v2",
    "config_drive",
    "key_name",
    "min_count",
    "max_count",
    "return_reservation_id",
    "security_groups",
    "user_data",
}
_HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
_BDM_FIELDS = {
    "virtual_name",
    "volume_id",
    "snapshot_id",
    "volume_size",
    "device_name",
    "delete_on_termination",
    "no_device",
    "connection_info",
    "source_type",
    "uuid",
    "image_id",
    "destination_type",
    "guest_format",
    "device_type",
    "disk_bus",
    "boot_index",
}
# Block-device fields that describe the disk further than bootflow builds it.
_BDM_UNSUPPORTED = (
    "virtual_name",
    "volume_id",
    "snapshot_id",
    "no_device",
    "connection_info",
    "image_id",
    "guest_format",
    "device_type",
    "disk_bus",
    "tag",
    "volume_type",
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
    availability_zone: str | None = None
    min_count: int = 1
    max_count: int = 1
    return_reservation_id: bool = False
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)


def unsupported(what: str, instead: str) -> ApiError:
    return ApiError(400, f"{what} is not supported by bootflow's compute API; {instead}")


def ref_id(value: str) -> str:
    """Nova's get_id_from_href: a reference may be an id or a URL ending in one."""
    return urlsplit(value).path.rstrip("/").rsplit("/", 1)[-1]


def _server_fields(ctx: ApiContext) -> set[str]:
    allowed = set(_SERVER_FIELDS_V21)
    if ctx.at_least(mv.DESCRIPTION):
        allowed.add("description")
    if ctx.at_least(mv.CREATE_TAGS):
        allowed.add("tags")
    if ctx.at_least(mv.NO_PERSONALITY):
        allowed.discard("personality")
    if ctx.at_least(mv.TRUSTED_CERTS):
        allowed.add("trusted_image_certificates")
    if ctx.at_least(mv.REQUESTED_HOST):
        allowed |= {"host", "hypervisor_hostname"}
    if ctx.at_least(mv.HOSTNAME):
        allowed.add("hostname")
    return allowed


def _policy(rule: str) -> ApiError:
    return ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def parse_create(ctx: ApiContext, body: Any) -> CreatePlan:
    """The plan for a create body, or the 400/403 Nova (or bootflow's limits) would answer."""
    server = require_object(body, "server")
    no_extra("server", server, _server_fields(ctx))
    assert isinstance(body, dict)
    extra_top = set(body) - {"server", *_HINT_KEYS}
    if extra_top:
        names = ", ".join(repr(x) for x in sorted(extra_top))
        raise ApiError(400, f"Additional properties are not allowed ({names} was unexpected)")
    for required in ("name", "flavorRef"):
        if required not in server:
            raise invalid("server", server, f"'{required}' is a required property")
    if ctx.at_least(mv.NETWORKS_REQUIRED) and "networks" not in server:
        raise invalid(
            "server",
            server,
            "'networks' is a required property. Give networks: [{\"uuid\": ...}] or "
            '[{"port": ...}], '
            '"auto" (the project\'s only network) or "none".',
        )

    name = string("name", server["name"], min_length=1)
    assert name is not None
    problem = server_name_problem(name)
    if problem:
        raise ApiError(400, problem)

    flavor = server["flavorRef"]
    if isinstance(flavor, bool) or not isinstance(flavor, (str, int)) or flavor == "":
        raise invalid("flavorRef", flavor, f"{flavor!r} is not of type 'string', 'integer'")
    flavor_ref = ref_id(str(flavor))

    image = server.get("imageRef", "")
    if not isinstance(image, str) or (image and not is_uuid(ref_id(image))):
        raise ApiError(
            400,
            f"Invalid imageRef provided: {image!r} is not an image id (a UUID); give the "
            "image's id, not its name.",
        )
    image_ref = ref_id(image) if image else ""

    volume_size = _block_devices(server, image_ref)
    if not image_ref:
        raise ApiError(
            400,
            "Missing imageRef attribute: bootflow boots servers from an image (booting from "
            "a volume is not supported).",
        )

    min_count = positive_integer("min_count", server.get("min_count", 1))
    max_count = positive_integer("max_count", server.get("max_count", min_count))
    if min_count > max_count:
        raise ApiError(400, "min_count must be <= max_count")

    _unsupported_fields(ctx, server)
    networks = _networks(ctx, server.get("networks"))
    if max_count > 1 and isinstance(networks, list) and any(n.port_id for n in networks):
        # Nova's MultiplePortsNotApplicable.
        raise ApiError(
            400,
            "Failed to launch instances: Unable to launch multiple instances with a single "
            "configured port ID. Please launch your instance one by one with different ports.",
        )
    return CreatePlan(
        name=name,
        flavor_ref=flavor_ref,
        image_ref=image_ref,
        networks=networks,
        volume_size_gb=volume_size,
        availability_zone=_availability_zone(ctx, server.get("availability_zone")),
        min_count=min_count,
        max_count=max_count,
        return_reservation_id=boolean(
            "return_reservation_id", server.get("return_reservation_id", False)
        ),
        scheduler_hints=_hints(body),
    )


def _availability_zone(ctx: ApiContext, value: Any) -> str | None:
    if value is None:
        return None
    zone = string("availability_zone", value, min_length=1)
    assert zone is not None
    if ":" in zone:
        # Nova's "zone:host:node" forces a host (admins only).
        if not ctx.is_admin:
            raise _policy("os_compute_api:servers:create:forced_host")
        raise unsupported(
            "Forcing a host with availability_zone 'zone:host'",
            "disable the other hosts (PUT /os-services/{id}) or boot into the zone alone.",
        )
    return zone


def _networks(ctx: ApiContext, value: Any) -> NetworkChoice:
    if value is None:
        return None
    if isinstance(value, str):
        if value in ("auto", "none") and ctx.at_least(mv.NETWORKS_REQUIRED):
            return "auto" if value == "auto" else "none"
        raise invalid("networks", value, f"{value!r} is not valid under any of the given schemas")
    if not isinstance(value, list):
        raise invalid("networks", value, f"{value!r} is not of type 'array'")
    if len(value) > MAX_NICS_PER_SERVER:
        raise ApiError(
            400,
            f"Too many networks: {len(value)} NICs asked for, but a server has at most "
            f"{MAX_NICS_PER_SERVER} (one per PCI slot bootflow's guests keep for NICs).",
        )
    entry_fields = {"fixed_ip", "port", "uuid"}
    # NIC tags: 2.32-2.36, and again from 2.42 (rest_api_version_history.rst).
    if mv.v("2.32") <= ctx.version < mv.NETWORKS_REQUIRED or ctx.at_least(mv.v("2.42")):
        entry_fields.add("tag")
    nics: list[NetworkRequest] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise invalid("networks", entry, f"{entry!r} is not of type 'object'")
        no_extra("networks", entry, entry_fields)
        port = entry.get("port")
        if port is not None and (not isinstance(port, str) or not is_uuid(port)):
            raise invalid("port", port, f"{port!r} is not a 'uuid'")
        if port and entry.get("fixed_ip"):
            raise ApiError(
                400,
                f"Specified Fixed IP '{entry['fixed_ip']}' cannot be used with port '{port}': "
                "the two cannot be specified together.",
            )
        if entry.get("fixed_ip"):
            raise unsupported(
                f"Requesting a fixed IP ({entry['fixed_ip']})",
                "the network service assigns the next free address of the network's subnet.",
            )
        if entry.get("tag"):
            raise unsupported("Tagging a NIC (tag)", "boot without the tag.")
        if port:
            # As Nova: a port's network is the port's own; a "uuid" beside it is ignored.
            nics.append(NetworkRequest(network_id="", port_id=str(port)))
            continue
        if "uuid" not in entry:
            raise ApiError(400, "Bad network format: missing 'uuid'")
        network_id = entry["uuid"]
        if not is_uuid(network_id):
            if ctx.at_least(mv.NETWORKS_REQUIRED):
                raise invalid("uuid", network_id, f"{network_id!r} is not a 'uuid'")
            raise ApiError(
                400, f"Bad networks format: network uuid is not in proper format ({network_id})"
            )
        nics.append(NetworkRequest(str(network_id)))
    return nics


def _block_devices(server: dict[str, Any], image_ref: str) -> int | None:
    """The size of the one new blank volume asked for, if any. bootflow boots from the image
    (source image, destination local, boot_index 0: what the openstack CLI always sends)
    and can add one blank volume that is deleted with the server."""
    if server.get("block_device_mapping"):
        raise unsupported(
            "The legacy block_device_mapping", "use block_device_mapping_v2 for a new volume."
        )
    mappings = server.get("block_device_mapping_v2") or []
    if not isinstance(mappings, list):
        raise invalid("block_device_mapping_v2", mappings, f"{mappings!r} is not of type 'array'")
    volume_size = None
    for bdm in mappings:
        if not isinstance(bdm, dict):
            raise invalid("block_device_mapping_v2", bdm, f"{bdm!r} is not of type 'object'")
        no_extra("block_device_mapping_v2", bdm, _BDM_FIELDS | {"tag", "volume_type"})
        source = bdm.get("source_type")
        destination = bdm.get("destination_type") or "local"
        for key in _BDM_UNSUPPORTED:
            if bdm.get(key) not in (None, ""):
                raise unsupported(
                    f"The block device field {key}",
                    "bootflow attaches only new blank volumes (source_type blank, "
                    "destination_type volume, volume_size).",
                )
        boot_index = bdm.get("boot_index")
        if boot_index is not None and str(boot_index).lstrip("-").isdigit():
            boot_index = int(boot_index)
        if source == "image" and destination == "local":
            if boot_index != 0 or (bdm.get("uuid") and bdm.get("uuid") != image_ref):
                raise unsupported(
                    "An image block device other than the boot image (imageRef, boot_index 0)",
                    "boot from imageRef; add data disks as blank volumes.",
                )
            continue
        if source == "blank" and destination == "volume":
            if boot_index not in (None, -1):
                raise unsupported(
                    "Booting from a volume", "boot from imageRef; the blank volume is a data disk."
                )
            if volume_size is not None:
                raise unsupported(
                    "More than one new volume", "ask for one blank volume per server."
                )
            if "volume_size" not in bdm:
                raise ApiError(
                    400, "Invalid block device mapping: a blank volume needs a volume_size."
                )
            # Nova's schema bounds it at db.MAX_INT (GiB), as Cinder's does a volume's size.
            size = positive_integer("volume_size", bdm["volume_size"], maximum=MAX_INT)
            if bdm.get("device_name") not in (None, "", "vdb", "/dev/vdb"):
                raise unsupported(
                    f"Naming the device {bdm['device_name']}", "the volume is attached as vdb."
                )
            if not boolean("delete_on_termination", bdm.get("delete_on_termination", False)):
                raise unsupported(
                    "Keeping a boot-time volume after the server is deleted",
                    "bootflow deletes it with the server: set delete_on_termination to true.",
                )
            volume_size = size
            continue
        raise unsupported(
            f"A block device from {source or 'nothing'} to {destination}",
            "bootflow attaches only new blank volumes (source_type blank, destination_type "
            "volume, volume_size, delete_on_termination true).",
        )
    return volume_size


def _unsupported_fields(ctx: ApiContext, server: dict[str, Any]) -> None:
    """Fields Nova accepts that have no place in a bootflow boot: refused by name."""
    metadata = server.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("metadata", metadata, f"{metadata!r} is not of type 'object'")
    if metadata:
        raise unsupported("Server metadata", "boot without metadata.")
    for key in ("accessIPv4", "accessIPv6"):
        if server.get(key):
            raise unsupported(key, "the server's addresses come from its ports.")
    if server.get("personality"):
        raise unsupported("Personality files", "boot without them.")
    if server.get("user_data"):
        raise unsupported("user_data", "bootflow's config drive carries no user data.")
    if server.get("key_name"):
        raise ApiError(400, "Invalid key_name provided: bootflow has no key pairs.")
    if "config_drive" in server and server["config_drive"] is not None:
        boolean("config_drive", server["config_drive"])  # every bootflow guest has one
    disk_config = server.get("OS-DCF:diskConfig")
    if disk_config is not None and disk_config not in ("AUTO", "MANUAL"):
        raise invalid(
            "OS-DCF:diskConfig", disk_config, f"{disk_config!r} is not one of ['AUTO', 'MANUAL']"
        )
    if "adminPass" in server:
        # Accepted and not used, as Nova with enable_instance_password=False and libvirt's
        # inject_password=False (its defaults for guests without an agent).
        string("adminPass", server["adminPass"], max_length=1 << 20)
    groups = server.get("security_groups")
    if groups is not None:
        if not isinstance(groups, list):
            raise invalid("security_groups", groups, f"{groups!r} is not of type 'array'")
        for group in groups:
            if not isinstance(group, dict):
                raise invalid("security_groups", group, f"{group!r} is not of type 'object'")
            no_extra("security_groups", group, {"name"})
            if group.get("name") not in (None, "default"):
                raise ApiError(
                    400,
                    f"Security group {group.get('name')} not found for project "
                    f"{ctx.caller.project_id}: bootflow's servers are all in 'default'.",
                )
    if server.get("description") is not None:
        raise unsupported("A server description", "boot without one.")
    if server.get("tags"):
        raise unsupported("Server tags", "boot without tags.")
    if server.get("trusted_image_certificates"):
        raise unsupported("trusted_image_certificates", "boot without them.")
    if server.get("host") or server.get("hypervisor_hostname"):
        if not ctx.is_admin:
            raise _policy("compute:servers:create:requested_destination")
        raise unsupported(
            "Requesting a host (host, hypervisor_hostname)",
            "disable the other hosts (PUT /os-services/{id}) to steer the scheduler.",
        )
    if server.get("hostname"):
        raise unsupported(
            "Setting a hostname", "the hostname is made from the server's name, as by default."
        )


def _hints(body: dict[str, Any]) -> dict[str, list[str]]:
    """Nova's scheduler hints: group (one server group), same_host and different_host
    (server ids). Other hints Nova defines are accepted and, as with filters not enabled
    in Nova, have no effect."""
    raw: Any = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("os:scheduler_hints", raw, f"{raw!r} is not of type 'object'")
    hints: dict[str, list[str]] = {}
    for key in ("group", "same_host", "different_host"):
        if key not in raw:
            continue
        value = raw[key]
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(x, str) for x in values) or not values:
            raise invalid(key, value, f"{value!r} is not valid under any of the given schemas")
        if key in ("group", "different_host") and not all(is_uuid(x) for x in values):
            raise invalid(key, value, f"{value!r} is not valid under any of the given schemas")
        hints[key] = [str(x) for x in values]
    if len(hints.get("group", [])) > 1:
        raise ApiError(400, "Only one server group can be given in the 'group' scheduler hint.")
    return hints
