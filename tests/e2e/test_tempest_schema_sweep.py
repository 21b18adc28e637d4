"""Every read bootflow's compute API serves, at every microversion from 2.1 to 2.96, and
every read of its volume API at 3.0 to 3.70, answered through Tempest 47.0.0's own service
clients: each validates the body with the schema it picks for that microversion, so a
document Tempest's client would refuse fails here. The routes come from the services' own
apps: a new GET route fails until it is swept or listed with the reason Tempest cannot.

The content is real: servers booted on the stack's hosts (libvirt's test driver) in
ACTIVE with a volume, metadata and a key pair in a server group, one stopped and locked
with a reason, one in ERROR with its fault, one deleted; their instance actions; volumes
available, made from an image and in use; one host in an availability zone of its own (an
aggregate) with its compute service disabled with a reason. Where Tempest's newest schema
refuses Nova's own answer, tests/support/tempest_gaps.py puts Nova's in its place.

Tempest 47.0.0 has response schemas for compute and volume only (its image, network and
identity clients check status codes alone), so those services have nothing to sweep here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tempest.lib.api_schema.response as tempest_schemas
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select
from tempest.lib import auth, exceptions
from tempest.lib.services.compute import (
    aggregates_client,
    availability_zone_client,
    flavors_client,
    hypervisor_client,
    keypairs_client,
    limits_client,
    quota_classes_client,
    quotas_client,
    server_groups_client,
    servers_client,
    services_client,
    versions_client,
)
from tempest.lib.services.network import networks_client, subnets_client
from tempest.lib.services.volume.v3 import attachments_client, volumes_client
from tempest.lib.services.volume.v3 import limits_client as volume_limits_client
from tempest.lib.services.volume.v3 import quota_classes_client as volume_quota_classes_client
from tempest.lib.services.volume.v3 import quotas_client as volume_quotas_client
from tempest.lib.services.volume.v3 import versions_client as volume_versions_client

from bootflow.seed import IMAGE_NAME, stored_secret
from clients.image import ImageClient
from db.models.compute import ComputeNode
from tests.support.stack import RunningStack
from tests.support.tempest import PASSWORD, _account
from tests.support.tempest_gaps import nova_ahead_of_tempest
from tests.support.tempest_sweep import (
    Account,
    Read,
    Sweep,
    auth_provider,
    compute_microversion,
    fetched,
    get_routes,
    microversions,
    volume_microversion,
)

pytestmark = pytest.mark.e2e
# The views build the same documents on either database (both swept clean when this was
# written, docs/conformance.md): the shared SQLite stack is enough.
ON_SQLITE = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)

COMPUTE_VERSIONS = microversions(2, 1, 96)
VOLUME_VERSIONS = microversions(3, 0, 70)
ZONE = "sweep-zone"
DISABLED_REASON = "sweep: maintenance"

# GET routes Tempest has no client (or no schema) for, each with why.
COMPUTE_NOT_IN_TEMPEST = {
    "/v2.1/os-leftovers": "bootflow's own: what failed undos left (Nova has no such API)",
    "/bootflow/v1/hypervisors": "bootflow's own API beside Nova's: allocation ratios, boot times",
    "/bootflow/v1/limits": "bootflow's own API beside Nova's: the disk quota",
    "/bootflow/v1/conductor/hosts/{host}/active-instances": "the conductor API of compute hosts",
    "/bootflow/v1/conductor/instances/{instance_uuid}/name": "the conductor API of compute hosts",
}
VOLUME_NOT_IN_TEMPEST = {
    "/attachments": "Tempest's attachments client has no list",
    "/attachments/detail": "Tempest's attachments client has no list",
}


@dataclass
class Clients:
    """One account's Tempest clients, as its tests hold them."""

    provider: auth.KeystoneV3AuthProvider
    region: str

    def __post_init__(self) -> None:
        args = (self.provider, "compute", self.region)
        self.servers = servers_client.ServersClient(*args, enable_instance_password=False)
        self.flavors = flavors_client.FlavorsClient(*args)
        self.limits = limits_client.LimitsClient(*args)
        self.groups = server_groups_client.ServerGroupsClient(*args)
        self.keypairs = keypairs_client.KeyPairsClient(*args)
        self.hypervisors = hypervisor_client.HypervisorClient(*args)
        self.aggregates = aggregates_client.AggregatesClient(*args)
        self.zones = availability_zone_client.AvailabilityZoneClient(*args)
        self.services = services_client.ServicesClient(*args)
        self.quotas = quotas_client.QuotasClient(*args)
        self.quota_classes = quota_classes_client.QuotaClassesClient(*args)
        self.versions = versions_client.VersionsClient(*args)
        self.networks = networks_client.NetworksClient(self.provider, "network", self.region)
        self.subnets = subnets_client.SubnetsClient(self.provider, "network", self.region)
        volume = (self.provider, "volumev3", self.region)
        self.volumes = volumes_client.VolumesClient(*volume)
        self.attachments = attachments_client.AttachmentsClient(*volume)
        self.volume_limits = volume_limits_client.LimitsClient(*volume)
        self.volume_quotas = volume_quotas_client.QuotasClient(*volume)
        self.volume_quota_classes = volume_quota_classes_client.QuotaClassesClient(*volume)
        self.volume_versions = volume_versions_client.VersionsClient(*volume)


@dataclass
class Content:
    """What the sweep reads, made through the APIs as a user and an admin would."""

    user: Clients
    admin: Clients
    project_id: str
    user_id: str
    image_id: str
    network_id: str = ""
    subnet_id: str = ""
    keypair: str = "sweep-key"
    group_id: str = ""
    servers: dict[str, str] = field(default_factory=dict)
    actions: dict[str, list[str]] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    node2_service: str = ""
    deleted: str = ""
    deleted_actions: list[str] = field(default_factory=list)


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{raw.decode()} sweep@bootflow"


def _wait(read: Any, done: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled: {value}")
        time.sleep(0.5)


def _wait_gone(show: Any, ident: str) -> None:
    def gone() -> bool:
        try:
            show(ident)
        except exceptions.NotFound:
            return True
        return False

    _wait(gone, bool)


def _server(content: Content, name: str, status: str, group: bool = True, **extra: Any) -> str:
    """A server booted as the user (at 2.19, for a description), once it is in ``status``;
    ``group``: in the server group (anti-affinity, one server a host)."""
    if group:
        extra["scheduler_hints"] = {"group": content.group_id}
    with compute_microversion("2.19"):
        created = content.user.servers.create_server(
            name=name,
            flavorRef="1",
            imageRef=content.image_id,
            networks=[{"uuid": content.network_id}],
            key_name=content.keypair,
            metadata={"role": "sweep", "tier": "1"},
            description=f"{name}, booted for the schema sweep",
            **extra,
        )["server"]
    server_id = str(created["id"])
    content.servers[name] = server_id
    show = content.user.servers.show_server
    _wait(lambda: show(server_id)["server"]["status"], lambda s: s in (status, "ERROR"))
    assert show(server_id)["server"]["status"] == status
    return server_id


def _boot_servers(content: Content) -> None:
    blank = {
        "source_type": "blank",
        "destination_type": "volume",
        "volume_size": 1,
        "delete_on_termination": True,
        "boot_index": -1,
    }
    image = {
        "source_type": "image",
        "destination_type": "local",
        "uuid": content.image_id,
        "boot_index": 0,
    }
    _server(content, "sweep-active", "ACTIVE", block_device_mapping_v2=[image, blank])
    stopped = _server(content, "sweep-stopped", "ACTIVE")
    content.user.servers.stop_server(stopped)
    show = content.user.servers.show_server
    _wait(lambda: show(stopped)["server"], lambda s: s["status"] == "SHUTOFF")
    _wait(lambda: show(stopped)["server"], lambda s: s["OS-EXT-STS:task_state"] is None)
    with compute_microversion("2.73"):
        content.user.servers.lock_server(stopped, locked_reason="sweep: keep as it is")
    _server(content, "sweep-failspawn", "ERROR")  # the stack's fault plan fails its spawn
    deleted = _server(content, "sweep-deleted", "ACTIVE", group=False)
    content.user.servers.delete_server(deleted)
    _wait_gone(show, deleted)
    content.deleted = content.servers.pop("sweep-deleted")


def _make_volumes(content: Content) -> None:
    volumes = content.user.volumes
    with volume_microversion("3.0"):
        plain = volumes.create_volume(size=1, name="sweep-vol", metadata={"purpose": "sweep"})
        from_image = volumes.create_volume(
            size=1, name="sweep-image-vol", imageRef=content.image_id
        )
    made = [str(plain["volume"]["id"]), str(from_image["volume"]["id"])]
    for volume_id in made:
        _wait(lambda v=volume_id: volumes.show_volume(v)["volume"]["status"], "available".__eq__)
    in_use = [
        v["id"] for v in volumes.list_volumes(detail=True)["volumes"] if v["status"] == "in-use"
    ]
    assert len(in_use) == 1, in_use
    content.volumes = made + in_use
    shown = volumes.show_volume(in_use[0])["volume"]
    content.attachments = [a["attachment_id"] for a in shown["attachments"]]


def _zone_and_disabled_service(stack: RunningStack, content: Content) -> None:
    """node2 in a zone of its own (Nova would show it as an aggregate), its service disabled
    with a reason: what an operator does to a host."""
    with stack.sessions.begin() as s:
        node = s.scalar(select(ComputeNode).where(ComputeNode.host == "node2"))
        assert node is not None
        node.availability_zone = ZONE
    with compute_microversion("2.53"):
        services = content.admin.services.list_services(host="node2")["services"]
        content.node2_service = str(services[0]["id"])
        content.admin.services.update_service(
            content.node2_service, status="disabled", disabled_reason=DISABLED_REASON
        )


def _restore(stack: RunningStack, content: Content) -> None:
    with compute_microversion("2.53"):
        if content.node2_service:
            content.admin.services.update_service(content.node2_service, status="enabled")
    with stack.sessions.begin() as s:
        node = s.scalar(select(ComputeNode).where(ComputeNode.host == "node2"))
        if node is not None:
            node.availability_zone = "nova"


def _clean_up(content: Content) -> None:
    """Everything the sweep made goes (the stack is shared with other tests); a step that
    fails does not keep the others from running."""
    admin, user = content.admin, content.user
    steps: list[Any] = []
    for server_id in content.servers.values():
        steps += [
            lambda i=server_id: admin.servers.unlock_server(i),
            lambda i=server_id: admin.servers.delete_server(i),
        ]
    steps += [
        lambda i=i: _wait_gone(admin.servers.show_server, i) for i in content.servers.values()
    ]
    steps += [lambda i=i: user.volumes.delete_volume(i) for i in content.volumes]
    steps += [lambda i=i: user.volumes.wait_for_resource_deletion(i) for i in content.volumes]
    steps += [
        lambda: user.keypairs.delete_keypair(content.keypair),
        lambda: user.groups.delete_server_group(content.group_id),
        lambda: user.networks.delete_network(content.network_id),
    ]
    for step in steps:
        try:
            step()
        except exceptions.RestClientException:
            continue


def _accounts(stack: RunningStack) -> tuple[Clients, Clients]:
    settings = stack.settings
    admin = stack.admin()
    try:
        roles = {
            r["name"]: r["id"] for r in admin.request("identity", "GET", "roles").json()["roles"]
        }
        _account(admin, roles, "sweep-member", "sweep", "member")
    finally:
        admin.close()
    member = Account("sweep-member", PASSWORD, "sweep")
    admins = Account("admin", stored_secret(settings, "admin_password"), "admin")
    return (
        Clients(auth_provider(settings.auth_url, member), settings.region),
        Clients(auth_provider(settings.auth_url, admins), settings.region),
    )


@pytest.fixture(scope="module")
def content(stack: RunningStack) -> Iterator[Content]:
    user, admin = _accounts(stack)
    image_id = _seeded_image(stack)
    creds = user.provider.credentials
    found = Content(user, admin, creds.project_id, creds.user_id, image_id)
    try:
        network = user.networks.create_network(name="sweep-net")["network"]
        found.network_id = network["id"]
        subnet = user.subnets.create_subnet(
            network_id=network["id"], cidr="10.77.0.0/24", ip_version=4, name="sweep-subnet"
        )
        found.subnet_id = subnet["subnet"]["id"]
        user.keypairs.create_keypair(name=found.keypair, public_key=_public_key())
        with compute_microversion("2.64"):
            group = user.groups.create_server_group(
                name="sweep-group", policy="anti-affinity", rules={"max_server_per_host": 1}
            )
        found.group_id = group["server_group"]["id"]
        _boot_servers(found)
        _make_volumes(found)
        for server_id in found.servers.values():
            listed = user.servers.list_instance_actions(server_id)["instanceActions"]
            found.actions[server_id] = [a["request_id"] for a in listed]
        with compute_microversion("2.21"):  # a deleted server's actions, from 2.21
            listed = admin.servers.list_instance_actions(found.deleted)["instanceActions"]
        found.deleted_actions = [a["request_id"] for a in listed]
        _zone_and_disabled_service(stack, found)
        yield found
    finally:
        try:
            _restore(stack, found)
        finally:
            _clean_up(found)


def _seeded_image(stack: RunningStack) -> str:
    admin = stack.admin()
    try:
        images = ImageClient(admin).list_images(name=IMAGE_NAME)
        return next(str(i["id"]) for i in images if i["status"] == "active")
    finally:
        admin.close()


# --- compute ------------------------------------------------------------------------------------


def _server_reads(k: Content) -> list[Read]:
    s, a = k.user.servers, k.admin.servers
    mine = {"all_tenants": 1, "project_id": k.project_id}
    ids = list(k.servers.values())
    active = k.servers["sweep-active"]
    pairs = [(sid, req) for sid, reqs in k.actions.items() for req in reqs]
    return [
        Read(
            "/v2.1/servers",
            [s.list_servers, lambda: s.list_servers(limit=1), lambda: a.list_servers(**mine)],
        ),
        Read(
            "/v2.1/servers/detail",
            [
                lambda: s.list_servers(detail=True),
                lambda: s.list_servers(detail=True, limit=1),
                lambda: a.list_servers(detail=True, **mine),
            ],
        ),
        Read(
            "/v2.1/servers/{server_id}",
            [lambda c=c, i=i: c.show_server(i) for i in ids for c in (s, a)],
        ),
        Read("/v2.1/servers/{server_id}/metadata", [lambda: s.list_server_metadata(active)]),
        Read(
            "/v2.1/servers/{server_id}/metadata/{key}",
            [lambda: s.show_server_metadata_item(active, "role")],
        ),
        Read(
            "/v2.1/servers/{server_id}/os-instance-actions",
            [lambda c=c, i=i: c.list_instance_actions(i) for i in ids for c in (s, a)],
        ),
        Read(
            "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
            [lambda c=c, p=p: c.show_instance_action(*p) for p in pairs for c in (s, a)],
        ),
        # A deleted server: in an admin's list of deleted ones, its actions from 2.21.
        Read(
            "/v2.1/servers/detail",
            [lambda: a.list_servers(detail=True, deleted=True, **mine)],
        ),
        Read(
            "/v2.1/servers/{server_id}/os-instance-actions",
            [lambda: a.list_instance_actions(k.deleted)],
            since="2.21",
        ),
        Read(
            "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
            [lambda r=r: a.show_instance_action(k.deleted, r) for r in k.deleted_actions],
            since="2.21",
        ),
    ]


def _flavor_and_project_reads(k: Content) -> list[Read]:
    u, a = k.user, k.admin
    flavors = [f["id"] for f in fetched(u.flavors.list_flavors(), "flavors")]
    return [
        Read("/v2.1/flavors", [u.flavors.list_flavors, lambda: u.flavors.list_flavors(limit=1)]),
        Read(
            "/v2.1/flavors/detail",
            [
                lambda: u.flavors.list_flavors(detail=True),
                lambda: u.flavors.list_flavors(detail=True, limit=1),
            ],
        ),
        Read("/v2.1/flavors/{flavor_id}", [lambda f=f: u.flavors.show_flavor(f) for f in flavors]),
        Read("/v2.1/limits", [u.limits.show_limits, a.limits.show_limits]),
        Read(
            "/v2.1/os-server-groups",
            [u.groups.list_server_groups, lambda: a.groups.list_server_groups(all_projects=True)],
        ),
        Read("/v2.1/os-server-groups/{group_id}", [lambda: u.groups.show_server_group(k.group_id)]),
        Read("/v2.1/os-keypairs", [u.keypairs.list_keypairs]),
        Read("/v2.1/os-keypairs/{name}", [lambda: u.keypairs.show_keypair(k.keypair)]),
        # A full page (one key pair, limit=1) has its keypairs_links.
        Read("/v2.1/os-keypairs", [lambda: u.keypairs.list_keypairs(limit=1)], asks_from="2.35"),
        Read(
            "/v2.1/os-quota-sets/{project_id}",
            [
                lambda: u.quotas.show_quota_set(k.project_id),
                lambda: a.quotas.show_quota_set(k.project_id, user_id=k.user_id),
            ],
        ),
        Read(
            "/v2.1/os-quota-sets/{project_id}/detail",
            [lambda: u.quotas.show_quota_set(k.project_id, detail=True)],
        ),
        Read(
            "/v2.1/os-quota-sets/{project_id}/defaults",
            [lambda: u.quotas.show_default_quota_set(k.project_id)],
        ),
        Read(
            "/v2.1/os-quota-class-sets/{name}",
            [lambda: a.quota_classes.show_quota_class_set("default")],
        ),
    ]


def _host_reads(k: Content) -> list[Read]:
    u, a = k.user, k.admin
    hv = a.hypervisors

    def each_hypervisor(show: Any, up_only: bool = False) -> None:
        for found in fetched(hv.list_hypervisors(), "hypervisors"):
            if not up_only or found["state"] == "up":
                show(found["id"])

    def each_aggregate() -> None:
        for found in fetched(a.aggregates.list_aggregates(), "aggregates"):
            a.aggregates.show_aggregate(found["id"])

    return [
        Read("/v2.1/os-hypervisors", [hv.list_hypervisors]),
        Read(
            "/v2.1/os-hypervisors",
            [
                lambda: hv.list_hypervisors(with_servers=True),
                lambda: hv.list_hypervisors(hypervisor_hostname_pattern="node"),
            ],
            asks_from="2.53",
        ),
        Read(
            "/v2.1/os-hypervisors/detail",
            [lambda: hv.list_hypervisors(detail=True, with_servers=True)],
            asks_from="2.53",
        ),
        Read("/v2.1/os-hypervisors/detail", [lambda: hv.list_hypervisors(detail=True)]),
        Read("/v2.1/os-hypervisors/{hypervisor_id}", [lambda: each_hypervisor(hv.show_hypervisor)]),
        Read("/v2.1/os-hypervisors/statistics", [hv.show_hypervisor_statistics], until="2.88"),
        Read(
            "/v2.1/os-hypervisors/{hypervisor_id}/uptime",
            [lambda: each_hypervisor(hv.show_hypervisor_uptime, up_only=True)],
            until="2.88",
        ),
        Read(
            "/v2.1/os-hypervisors/{name}/search",
            [lambda: hv.search_hypervisor("node")],
            until="2.53",
        ),
        Read(
            "/v2.1/os-hypervisors/{name}/servers",
            [lambda: hv.list_servers_on_hypervisor("node")],
            until="2.53",
        ),
        Read("/v2.1/os-aggregates", [a.aggregates.list_aggregates]),
        Read("/v2.1/os-aggregates/{aggregate_id}", [each_aggregate]),
        Read("/v2.1/os-availability-zone", [u.zones.list_availability_zones]),
        Read(
            "/v2.1/os-availability-zone/detail",
            [lambda: a.zones.list_availability_zones(detail=True)],
        ),
        Read(
            "/v2.1/os-services",
            [a.services.list_services, lambda: a.services.list_services(host="node2")],
        ),
    ]


def _compute_versions_reads(k: Content) -> list[Read]:
    versions = k.user.versions
    endpoint = versions.base_url.rstrip("/")
    return [
        Read("/", [versions.list_versions]),
        Read("/v2.1", [lambda: versions.get_version_by_url(endpoint)]),
        Read("/v2.1/", [lambda: versions.get_version_by_url(endpoint + "/")]),
    ]


def _assert_real(k: Content) -> None:
    """The documents the sweep reads hold what it means them to: each kind of server, its
    volume, fault, lock and actions, an aggregate and a disabled service."""
    with compute_microversion("2.96"), nova_ahead_of_tempest("2.96"):
        listed = k.admin.servers.list_servers(detail=True, all_tenants=1, project_id=k.project_id)
        servers = {s["name"]: s for s in listed["servers"]}
        aggregates = k.admin.aggregates.list_aggregates()["aggregates"]
        services = k.admin.services.list_services()["services"]
        paged_keys = k.user.keypairs.list_keypairs(limit=1)
    assert {n: s["status"] for n, s in servers.items()} == {
        "sweep-active": "ACTIVE",
        "sweep-stopped": "SHUTOFF",
        "sweep-failspawn": "ERROR",
    }
    active, stopped = servers["sweep-active"], servers["sweep-stopped"]
    assert active["os-extended-volumes:volumes_attached"] and active["addresses"]
    assert active["key_name"] == k.keypair and active["metadata"]["role"] == "sweep"
    assert stopped["locked"] and stopped["locked_reason"] == "sweep: keep as it is"
    assert servers["sweep-failspawn"]["fault"]["message"]
    assert len(k.actions[stopped["id"]]) >= 3  # create, stop, lock
    with compute_microversion("2.96"):
        gone = k.admin.servers.list_servers(detail=True, deleted=True, all_tenants=1)
    assert [s["status"] for s in gone["servers"] if s["id"] == k.deleted] == ["DELETED"]
    assert len(k.deleted_actions) == 2  # create, delete
    assert [(a["name"], a["hosts"]) for a in aggregates] == [(ZONE, ["node2"])]
    assert paged_keys["keypairs_links"][0]["rel"] == "next"
    assert [s["disabled_reason"] for s in services if s["status"] == "disabled"] == [
        DISABLED_REASON
    ]


@ON_SQLITE
def test_every_compute_read_passes_tempests_schema_at_every_microversion(
    content: Content, tmp_path: Path
) -> None:
    _assert_real(content)
    reads = _server_reads(content) + _flavor_and_project_reads(content) + _host_reads(content)
    unversioned = _compute_versions_reads(content)
    served = get_routes("compute", tmp_path)
    swept = {r.route for r in reads + unversioned}
    assert served == swept | set(COMPUTE_NOT_IN_TEMPEST), (
        f"not swept: {sorted(served - swept - set(COMPUTE_NOT_IN_TEMPEST))}; "
        f"not served: {sorted((swept | set(COMPUTE_NOT_IN_TEMPEST)) - served)}"
    )
    sweep = Sweep()
    with compute_microversion(None):
        sweep.run(unversioned, None)
    for version in COMPUTE_VERSIONS:
        with compute_microversion(version), nova_ahead_of_tempest(version):
            sweep.run(reads, version)
    (tmp_path / "sweep.txt").write_text(f"{sweep.calls} calls\n{sweep.report()}\n")
    assert not sweep.failures, sweep.report()


# --- volume -------------------------------------------------------------------------------------


def _volume_reads(k: Content) -> list[Read]:
    u, a = k.user, k.admin
    every = {"all_tenants": 1, "project_id": k.project_id}
    return [
        Read(
            "/volumes",
            [u.volumes.list_volumes, lambda: u.volumes.list_volumes(params={"limit": 1})],
        ),
        Read(
            "/volumes/detail",
            [
                lambda: u.volumes.list_volumes(detail=True),
                lambda: u.volumes.list_volumes(detail=True, params={"limit": 1}),
                lambda: a.volumes.list_volumes(detail=True, params=every),
            ],
        ),
        Read(
            "/volumes/{volume_id}",
            [lambda c=c, v=v: c.volumes.show_volume(v) for v in k.volumes for c in (u, a)],
        ),
        Read("/volumes/summary", [u.volumes.show_volume_summary], since="3.12"),
        Read(
            "/attachments/{attachment_id}",
            [lambda i=i: u.attachments.show_attachment(i) for i in k.attachments],
            since="3.27",
        ),
        Read(
            "/os-quota-sets/{target_project_id}",
            [
                lambda: a.volume_quotas.show_quota_set(k.project_id),
                lambda: a.volume_quotas.show_quota_set(k.project_id, params={"usage": True}),
            ],
        ),
        Read(
            "/os-quota-sets/{target_project_id}/defaults",
            [lambda: a.volume_quotas.show_default_quota_set(k.project_id)],
        ),
        Read(
            "/os-quota-class-sets/{class_name}",
            [lambda: a.volume_quota_classes.show_quota_class_set("default")],
        ),
        Read("/limits", [u.volume_limits.show_limits]),
    ]


def _volume_route(path: str) -> str:
    """A volume route without the API's prefix (each resource is under /v3 and
    /v3/{project_id}, the same handler)."""
    for prefix in ("/v3/{project_id}", "/v3"):
        if path.startswith(prefix + "/") and path != prefix + "/":
            return path.removeprefix(prefix)
    return path


@ON_SQLITE
def test_every_volume_read_passes_tempests_schema_at_every_microversion(
    content: Content, tmp_path: Path
) -> None:
    reads = _volume_reads(content)
    versions = content.user.volume_versions
    unversioned = [
        Read("/", [versions.list_versions]),
        Read("/v3/", [lambda: versions.show_version("v3")]),
    ]
    served = {_volume_route(p) for p in get_routes("volume", tmp_path)}
    covered = {r.route for r in reads + unversioned} | {"/v3"} | set(VOLUME_NOT_IN_TEMPEST)
    assert served == covered, (
        f"not swept: {sorted(served - covered)}; not served: {sorted(covered - served)}"
    )
    sweep = Sweep()
    with volume_microversion(None):
        sweep.run(unversioned, None)
    for version in VOLUME_VERSIONS:
        with volume_microversion(version):
            sweep.run(reads, version)
    assert not sweep.failures, sweep.report()


def test_tempest_has_response_schemas_for_compute_and_volume_only() -> None:
    """Why image, network and identity reads are not swept: Tempest validates none."""
    schemas = Path(tempest_schemas.__file__).parent
    assert sorted(p.name for p in schemas.iterdir() if p.is_dir() and p.name[0] != "_") == [
        "compute",
        "volume",
    ]
