"""The audit: count every resource at its own source and reconcile it with the servers that
survive, as the compute API lists them. Nothing is taken from bootflow's instance table.

Sources: the network service's ports (admin, every project); the volume service's volumes
(admin, all tenants) and their backing files on disk; the domains on every host (libvirt
itself for a real hypervisor; the HostDomains workflow for the test driver, whose domains
live in the worker process); each host's instance dirs; the claims and compute_nodes rows;
the quota usage and reservation rows, and the volume service's; the open Temporal
workflows; the leftovers (``os-leftovers``).

A finding is ``{"kind", "resource", "id", "server", "detail"}``; kinds: ``leak`` (something
no surviving server accounts for, or one more than it should have), ``missing`` (a server
lacks what it should hold), ``mismatch`` (a usage count disagrees with what it counts),
``stuck`` (a server or workflow that did not settle).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
from sqlalchemy import select

from clients.compute import ComputeClient
from clients.network import NetworkClient
from clients.session import Session
from clients.volume import VolumeClient
from compute import domain_xml
from db.models.compute import Claim, ComputeNode, QuotaReservation, QuotaUsage
from db.models.volume import VolumeQuotaUsage
from db.session import SessionFactory

Finding = dict[str, Any]
SETTLED = ("ACTIVE", "ERROR")
# Undo step (as a leftover names it) -> the resources it would have removed.
LEFTOVER_RESOURCES = {
    "deallocate_ports": {"port"},
    "delete_volumes": {"volume", "volume file"},
    "detach_volumes": {"volume"},
    "destroy_guest": {"domain", "instance dir"},
    "release_claim": {"claim"},
}


def holds_quota(server: dict[str, Any]) -> bool:
    """THE QUOTA RULE: which surviving servers count against their project's quota.

    Nova's: every server that is not deleted, ACTIVE or ERROR alike, holds its flavor's
    quota until it is deleted (a failed boot keeps it, so a user cannot loop on failing
    boots past their quota). Change this one function if the rule changes."""
    return server.get("status") != "DELETED"


def holds_host_resources(server: dict[str, Any]) -> bool:
    """Which surviving servers hold a port, volumes, a guest, an instance dir and a claim:
    the ACTIVE ones. A failed boot is undone, so an ERROR server holds nothing, except
    what its leftovers record or what a failed delete did not reach yet."""
    return server.get("status") == "ACTIVE"


@dataclass
class Census:
    """What each source holds, as read from it."""

    servers: list[dict[str, Any]]
    ports: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    volume_files: list[str]  # names in the volumes dir
    domains: dict[str, list[tuple[str, int]]]  # host -> [(instance uuid, state)]
    instance_dirs: dict[str, list[str]]  # host -> [instance uuid]
    claims: list[tuple[str, str, int, int, int]]  # (instance, host, vcpus, ram, disk)
    nodes: dict[str, tuple[int, int, int]]  # host -> used (vcpus, ram, disk)
    quota_usage: dict[tuple[str, str], int]  # (project, resource) -> in use
    reservations: dict[str, tuple[str, int, int, int, int]]  # instance -> (project, i, c, r, d)
    volume_quota: dict[tuple[str, str], int]  # (project, volumes|gigabytes) -> in use
    running_workflows: list[str]
    leftovers: list[dict[str, Any]]
    flavors: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "servers": len(self.servers),
            "active": sum(s["status"] == "ACTIVE" for s in self.servers),
            "error": sum(s["status"] == "ERROR" for s in self.servers),
            "ports": len(self.ports),
            "volumes": len(self.volumes),
            "volume_files": len(self.volume_files),
            "domains": sum(len(d) for d in self.domains.values()),
            "instance_dirs": sum(len(d) for d in self.instance_dirs.values()),
            "claims": len(self.claims),
            "quota_reservations": len(self.reservations),
            "running_workflows": len(self.running_workflows),
            "leftovers": len(self.leftovers),
        }


@dataclass
class Sources:
    """How to reach each source of one stack."""

    admin: Session
    sessions: SessionFactory
    hosts: list[str]
    data_dir: Path
    volumes_dir: Path
    deployment_id: str
    libvirt_uri: str
    test_domains: Callable[[str], list[tuple[str, int]]]  # for test:///: via HostDomains
    running_workflows: Callable[[], list[str]]


def take_census(src: Sources) -> Census:
    compute = ComputeClient(src.admin)
    servers = compute.list_servers(all_projects=True)
    flavors = {
        str(f["id"]): (int(f["vcpus"]), int(f["ram"]), int(f["disk"]))
        for f in compute.list_flavors()
    }
    flavors |= {f["name"]: flavors[str(f["id"])] for f in compute.list_flavors()}
    ports = NetworkClient(src.admin).list_ports()
    volumes = VolumeClient(src.admin).list_volumes(all_tenants=1)
    files = sorted(p.name for p in src.volumes_dir.iterdir()) if src.volumes_dir.is_dir() else []
    if src.libvirt_uri.startswith("test:"):
        domains = {host: src.test_domains(host) for host in src.hosts}
    else:
        domains = libvirt_domains(src.libvirt_uri, src.deployment_id, src.hosts)
    dirs = {}
    for host in src.hosts:
        root = src.data_dir / "hosts" / host / "instances"
        dirs[host] = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    with src.sessions.begin() as s:
        claims = [
            (c.instance_uuid, c.host, c.vcpus, c.memory_mb, c.disk_gb)
            for c in s.scalars(select(Claim))
        ]
        nodes = {
            n.host: (n.vcpus_used, n.memory_mb_used, n.local_gb_used)
            for n in s.scalars(select(ComputeNode))
        }
        usage = {(u.project_id, u.resource): u.in_use for u in s.scalars(select(QuotaUsage))}
        reservations = {
            r.instance_uuid: (r.project_id, r.instances, r.cores, r.ram, r.disk)
            for r in s.scalars(select(QuotaReservation))
        }
        volume_quota = {
            (u.project_id, u.resource): u.in_use for u in s.scalars(select(VolumeQuotaUsage))
        }
    return Census(
        servers=servers,
        ports=ports,
        volumes=volumes,
        volume_files=files,
        domains=domains,
        instance_dirs=dirs,
        claims=claims,
        nodes=nodes,
        quota_usage=usage,
        reservations=reservations,
        volume_quota=volume_quota,
        running_workflows=src.running_workflows(),
        leftovers=compute.list_leftovers(),
        flavors=flavors,
    )


def owned_domains(conn: libvirt.virConnect, deployment: str) -> Iterator[tuple[Any, str]]:
    """Each domain libvirtd holds for ``deployment`` (running or not), with the host its
    bootflow metadata names."""
    for domain in conn.listAllDomains():
        try:
            metadata = domain.metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain_xml.METADATA_NS, 0
            )
        except libvirt.libvirtError:
            continue  # not a bootflow domain
        owner = domain_xml.owner(metadata)
        if owner is not None and owner[0] == deployment:
            yield domain, owner[1]


def libvirt_domains(uri: str, deployment: str, hosts: Iterable[str]) -> dict[str, list[Any]]:
    """The stack's domains in libvirtd by host: (instance uuid, state)."""
    found: dict[str, list[Any]] = {h: [] for h in hosts}
    conn = libvirt.open(uri)
    try:
        for domain, host in owned_domains(conn, deployment):
            found.setdefault(host, []).append((domain.UUIDString(), domain.state()[0]))
    finally:
        conn.close()
    return found


def _finding(kind: str, resource: str, ident: str, server: str | None, detail: str) -> Finding:
    return {"kind": kind, "resource": resource, "id": ident, "server": server, "detail": detail}


@dataclass
class _Owner:
    server: dict[str, Any]
    excused: set[str]  # resources its leftovers (or a failed delete) account for


def reconcile(census: Census, deleted: set[str]) -> list[Finding]:
    """Every mismatch between the sources and the surviving servers. ``deleted``: servers
    the campaign deleted (so must be gone, and own nothing)."""
    findings: list[Finding] = []
    owners: dict[str, _Owner] = {}
    leftovers_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in census.leftovers:
        leftovers_of[x["instance_uuid"]].append(x)
    for server in census.servers:
        sid = server["id"]
        excused: set[str] = set()
        for x in leftovers_of.get(sid, []):
            excused |= LEFTOVER_RESOURCES.get(x["step"], set())
        fault = server.get("fault") or {}
        if "delete (" in str(fault.get("message", "")) + str(fault.get("details", "")):
            excused |= {"port", "volume", "volume file", "domain", "instance dir", "claim"}
        owners[sid] = _Owner(server, excused)
        findings += _settled(server, deleted)
    for x in census.leftovers:
        if x["instance_uuid"] not in owners:
            findings.append(
                _finding(
                    "leak",
                    "leftover",
                    f"{x['step']}@{x.get('host')}",
                    x["instance_uuid"],
                    f"unresolved leftover of a server that is gone: {x['error'][:200]}",
                )
            )
    findings += _by_owner(census, owners, deleted)
    findings += _accounting(census, owners)
    findings += [
        _finding("stuck", "workflow", w, _server_of_workflow(w), "still running after settle")
        for w in census.running_workflows
    ]
    return findings


def _settled(server: dict[str, Any], deleted: set[str]) -> list[Finding]:
    sid = server["id"]
    status, task = server.get("status"), server.get("OS-EXT-STS:task_state")
    if sid in deleted:
        return [_finding("stuck", "server", sid, sid, f"deleted, but still {status}/{task}")]
    if status not in SETTLED or task:
        return [_finding("stuck", "server", sid, sid, f"{server['name']} is {status}/{task}")]
    if status == "ERROR" and not server.get("fault"):
        return [_finding("stuck", "server", sid, sid, f"{server['name']} is ERROR with no fault")]
    return []


def _server_of_workflow(workflow_id: str) -> str | None:
    head, _, rest = workflow_id.partition("-")
    return rest if head in ("boot", "delete") else None


def _by_owner(census: Census, owners: dict[str, _Owner], deleted: set[str]) -> list[Finding]:
    """Ports, volumes, files, domains, dirs and claims, each against its owner."""
    findings: list[Finding] = []
    held: dict[str, Counter[str]] = defaultdict(Counter)

    def place(resource: str, ident: str, owner: str | None, where: str | None = None) -> None:
        """One resource found, belonging to ``owner`` (on host ``where``, if it has one)."""
        if owner is None or owner not in owners:
            why = "its server was deleted" if owner in deleted else "no surviving server owns it"
            findings.append(_finding("leak", resource, ident, owner, why))
            return
        o = owners[owner]
        if not holds_host_resources(o.server):
            if resource not in o.excused:
                findings.append(
                    _finding(
                        "leak",
                        resource,
                        ident,
                        owner,
                        f"held by {o.server['status']} server {o.server['name']}, "
                        "and no leftover records it",
                    )
                )
            return
        host = o.server.get("OS-EXT-SRV-ATTR:host")
        if where is not None and where != host:
            if resource in o.excused:
                return  # left on a host it was rescheduled from, and recorded
            findings.append(
                _finding("leak", resource, ident, owner, f"on {where}, but the server is on {host}")
            )
            return
        held[owner][resource] += 1

    for port in census.ports:
        if port.get("device_owner", "").startswith("network:"):
            continue
        place("port", port["id"], port.get("device_id") or None, port.get("binding:host_id"))
    volume_ids = set()
    for vol in census.volumes:
        volume_ids.add(vol["id"])
        owner = (vol.get("metadata") or {}).get("instance_uuid") or next(
            (a.get("server_id") for a in vol.get("attachments") or []), None
        )
        place("volume", vol["id"], owner)
        attached = len(vol.get("attachments") or [])
        if (
            owner in owners
            and holds_host_resources(owners[owner].server)
            and (vol["status"] != "in-use" or attached != 1)
        ):
            findings.append(
                _finding(
                    "mismatch", "volume", vol["id"], owner, f"{vol['status']}, {attached} attached"
                )
            )
    volume_owner = {v["id"]: (v.get("metadata") or {}).get("instance_uuid") for v in census.volumes}
    for name in census.volume_files:
        vid = name.removeprefix("volume-")
        if name.startswith(".") or vid not in volume_ids:
            findings.append(_finding("leak", "volume file", name, None, "no volume owns it"))
    files = set(census.volume_files)
    for vid in volume_ids:
        if f"volume-{vid}" not in files:
            findings.append(
                _finding("missing", "volume file", vid, volume_owner.get(vid), "no backing file")
            )
    for host, domains in census.domains.items():
        seen = Counter(u for u, _ in domains)
        for uuid, state in domains:
            place("domain", f"{uuid}@{host}", uuid, host)
            if uuid in owners and holds_host_resources(owners[uuid].server) and state != 1:
                findings.append(
                    _finding("mismatch", "domain", uuid, uuid, f"state {state}, not running")
                )
        findings += [
            _finding("leak", "domain", u, u, f"{n} domains on {host}")
            for u, n in seen.items()
            if n > 1
        ]
    for host, dirs in census.instance_dirs.items():
        for uuid in dirs:
            place("instance dir", f"{host}/instances/{uuid}", uuid, host)
    for uuid, host, *_ in census.claims:
        place("claim", f"{uuid}@{host}", uuid, host)

    wanted_volumes = {
        s["id"]: len(s.get("os-extended-volumes:volumes_attached") or []) for s in census.servers
    }
    for sid, o in owners.items():
        if not holds_host_resources(o.server):
            continue
        want = {
            "port": len(o.server.get("addresses") or {}) or 1,
            "volume": wanted_volumes[sid],
            "domain": 1,
            "instance dir": 1,
            "claim": 1,
        }
        for resource, n in want.items():
            have = held[sid][resource]
            if have < n:
                findings.append(
                    _finding("missing", resource, sid, sid, f"{o.server['name']} has {have} of {n}")
                )
            elif have > n:
                findings.append(
                    _finding("leak", resource, sid, sid, f"{o.server['name']} has {have}, not {n}")
                )
    return findings


def _flavor_of(census: Census, server: dict[str, Any]) -> tuple[int, int, int]:
    flavor = server.get("flavor") or {}
    if "vcpus" in flavor:
        return int(flavor["vcpus"]), int(flavor["ram"]), int(flavor["disk"])
    return census.flavors[str(flavor.get("id") or flavor.get("original_name"))]


def _accounting(census: Census, owners: dict[str, _Owner]) -> list[Finding]:
    """Host usage against the claims, quota usage against the quota rule's servers."""
    findings: list[Finding] = []
    claimed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, host, vcpus, ram, disk in census.claims:
        for i, n in enumerate((vcpus, ram, disk)):
            claimed[host][i] += n
    for host, used in census.nodes.items():
        if list(used) != claimed[host]:
            findings.append(
                _finding(
                    "mismatch",
                    "compute node usage",
                    host,
                    None,
                    f"(vcpus, ram, disk) used {tuple(used)}, claims add up to "
                    f"{tuple(claimed[host])}",
                )
            )
    for uuid, host, vcpus, ram, disk in census.claims:
        owner = owners.get(uuid)
        if (
            owner is not None
            and holds_host_resources(owner.server)
            and (vcpus, ram, disk) != _flavor_of(census, owner.server)
        ):
            findings.append(
                _finding("mismatch", "claim", uuid, uuid, f"{(vcpus, ram, disk)} on {host}")
            )

    expected: dict[tuple[str, str], int] = Counter()
    holders = {sid for sid, o in owners.items() if holds_quota(o.server)}
    for sid in holders:
        server = owners[sid].server
        project = server["tenant_id"]
        vcpus, ram, disk = _flavor_of(census, server)
        for resource, n in (("instances", 1), ("cores", vcpus), ("ram", ram), ("disk", disk)):
            expected[(project, resource)] += n
    findings += _usage("quota usage", census.quota_usage, expected, "the quota rule's servers")
    for uuid in set(census.reservations) ^ holders:
        has = "a reservation" if uuid in census.reservations else "no reservation"
        status = owners[uuid].server["status"] if uuid in owners else "gone"
        findings.append(
            _finding("mismatch", "quota reservation", uuid, uuid, f"{status} server with {has}")
        )

    volumes: dict[tuple[str, str], int] = Counter()
    for vol in census.volumes:
        project = vol.get("os-vol-tenant-attr:tenant_id") or vol.get("project_id") or "?"
        volumes[(project, "volumes")] += 1
        volumes[(project, "gigabytes")] += int(vol["size"])
    findings += _usage("volume quota usage", census.volume_quota, volumes, "the volumes")
    return findings


def _usage(
    resource: str,
    recorded: dict[tuple[str, str], int],
    counted: dict[tuple[str, str], int],
    what: str,
) -> list[Finding]:
    """A mismatch for each (project, resource) whose recorded usage is not what it counts."""
    return [
        _finding(
            "mismatch",
            resource,
            f"{key[0]}/{key[1]}",
            None,
            f"in use {recorded.get(key, 0)}, {what} hold {counted.get(key, 0)}",
        )
        for key in sorted(set(recorded) | set(counted))
        if recorded.get(key, 0) != counted.get(key, 0)
    ]
