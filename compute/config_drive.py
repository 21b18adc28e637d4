"""The config drive: what a guest learns about itself, in OpenStack's format.

A guest finds a filesystem labelled ``config-2`` and reads ``openstack/latest/`` from it
(cloud-init's ConfigDrive source; bootflow's guest does the same in a few lines of sh).
``meta_data.json`` says who it is, ``network_data.json`` how its NICs are addressed.
Written as ISO9660 with genisoimage, as Nova's default ``config_drive_format`` does.

The JSON builders are pure, so they are tested without a hypervisor.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABEL = "config-2"
# The dates cloud-init looks for besides "latest"; the content is the same in each.
VERSIONS = ("2012-08-10", "latest")
MKISOFS_TIMEOUT = 60.0


@dataclass
class NicNetwork:
    """One NIC as the guest must configure it: its port and the subnet of its fixed IP."""

    port_id: str
    mac_address: str
    network_id: str
    ip_address: str | None = None
    cidr: str | None = None
    gateway_ip: str | None = None
    dns_nameservers: list[str] = field(default_factory=list)
    mtu: int = 1500


def hostname_for(name: str, instance_uuid: str) -> str:
    """A hostname from the server's name, as Nova's ``sanitize_hostname`` makes it: spaces,
    dots and underscores become dashes, anything else that is not a letter, digit or dash
    goes, lower case, at most 63 characters; ``Server-<uuid>`` if nothing is left."""
    host = re.sub(r"[ _.]", "-", name[:63])
    host = re.sub(r"[^a-zA-Z0-9-]+", "", host, flags=re.ASCII).lower().strip(".-")
    return host or f"Server-{instance_uuid}"


def meta_data(
    *,
    instance_uuid: str,
    name: str,
    project_id: str,
    availability_zone: str | None,
    launch_index: int = 0,
    key: tuple[str, str, str] | None = None,
    meta: dict[str, str] | None = None,
    hostname: str | None = None,
) -> dict[str, Any]:
    """``openstack/latest/meta_data.json`` (the fields of Nova's InstanceMetadata); ``key``
    the boot's key pair (name, type, public key) as ``public_keys`` and ``keys``; ``meta`` the
    server's metadata; ``hostname`` the one the user set (else the name's)."""
    public_keys, keys = {}, []
    if key is not None:
        key_name, kind, data = key
        public_keys[key_name] = data
        keys.append({"name": key_name, "type": kind, "data": data})
    return {
        "uuid": instance_uuid,
        "name": name,
        "hostname": hostname or hostname_for(name, instance_uuid),
        "launch_index": launch_index,
        "availability_zone": availability_zone or "nova",
        "project_id": project_id,
        "meta": dict(meta or {}),
        "public_keys": public_keys,
        "keys": keys,
        "devices": [],
    }


def _link_id(port_id: str) -> str:
    # Nova names a link after its tap device: "tap" and the port id's first 11 characters.
    return f"tap{port_id[:11]}"


def network_data(nics: list[NicNetwork]) -> dict[str, Any]:
    """``openstack/latest/network_data.json``: links (NICs by MAC), networks (static IPv4
    addresses with netmask and default route), services (DNS), keys in Nova's order."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    dns: list[str] = []
    for nic in nics:
        link = _link_id(nic.port_id)
        links.append(
            {
                "id": link,
                "vif_id": nic.port_id,
                "type": "ethernet",
                "mtu": nic.mtu,
                "ethernet_mac_address": nic.mac_address,
            }
        )
        if not (nic.ip_address and nic.cidr):
            continue
        subnet = ipaddress.ip_network(nic.cidr, strict=False)
        routes = []
        if nic.gateway_ip:
            any_net = "0.0.0.0" if subnet.version == 4 else "::"
            netmask = "0.0.0.0" if subnet.version == 4 else "::"
            routes.append({"network": any_net, "netmask": netmask, "gateway": nic.gateway_ip})
        services = [{"type": "dns", "address": a} for a in nic.dns_nameservers]
        networks.append(
            {
                "id": f"network{len(networks)}",
                "type": "ipv4" if subnet.version == 4 else "ipv6",
                "link": link,
                "ip_address": nic.ip_address,
                "netmask": str(subnet.netmask),
                "routes": routes,
                "network_id": nic.network_id,
                "services": services,
            }
        )
        dns += [a for a in nic.dns_nameservers if a not in dns]
    return {
        "links": links,
        "networks": networks,
        "services": [{"type": "dns", "address": a} for a in dns],
    }


def files(
    meta: dict[str, Any], network: dict[str, Any], user_data: bytes | None = None
) -> dict[str, bytes]:
    """The drive's files by path, for each metadata version a guest may ask for (with
    ``user_data`` when the server has some, as Nova writes it: decoded)."""
    out: dict[str, bytes] = {}
    for version in VERSIONS:
        out[f"openstack/{version}/meta_data.json"] = json.dumps(meta).encode()
        out[f"openstack/{version}/network_data.json"] = json.dumps(network).encode()
        if user_data is not None:
            out[f"openstack/{version}/user_data"] = user_data
    return out


def write_iso(path: Path, contents: dict[str, bytes]) -> Path:
    """An ISO9660 image labelled config-2 holding ``contents``; replaced atomically."""
    mkisofs = shutil.which("genisoimage") or shutil.which("mkisofs")
    if mkisofs is None:
        raise RuntimeError("genisoimage is not installed (apt-get install genisoimage)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        root = Path(tmp) / "root"
        for name, data in contents.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        partial = Path(tmp) / "config.iso"
        # Nova's flags: Rock Ridge and Joliet names, so lower case and long names survive.
        # fmt: off
        subprocess.run(
            [
                mkisofs, "-o", str(partial), "-ldots", "-allow-lowercase", "-allow-multidot",
                "-l", "-publisher", "bootflow", "-quiet", "-J", "-r", "-V", LABEL, str(root),
            ],
            check=True, capture_output=True, text=True, timeout=MKISOFS_TIMEOUT,
        )
        # fmt: on
        partial.replace(path)
    return path
