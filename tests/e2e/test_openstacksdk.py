"""Contract tests through openstacksdk, the library the openstack CLI is built on, against
the running stack: what a real OpenStack client negotiates (microversion 2.96), sends and
reads back, from create to delete, and what it is refused."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as sdk_exc
from openstack import utils as sdk_utils
from openstack.connection import Connection
from sqlalchemy import delete, select
from temporalio.client import WorkflowExecutionStatus

from bootflow.seed import read_openrc, stored_secret
from core.messages import BootRequest
from core.temporal import connect
from db.models.compute import ComputeNode, Instance, QuotaLimit
from tests.e2e.conftest import demo_project
from tests.support.stack import RunningStack, wait_until

pytestmark = [
    pytest.mark.e2e,
    # openstacksdk's warnings about its own deprecations (the test uses its current API).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def sdk(stack: RunningStack, user: str = "demo", password: str | None = None) -> Connection:
    """A connection as the openstack CLI makes one from the stack's openrc (or for ``user``)."""
    env = read_openrc(stack.settings.data_dir / "openrc")
    if user == "admin":
        password, project = stored_secret(stack.settings, "admin_password"), "admin"
    elif user == "demo":
        password, project = env["OS_PASSWORD"], env["OS_PROJECT_NAME"]
    else:
        project = user
    return openstack.connect(
        auth_url=env["OS_AUTH_URL"],
        username=user,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=env["OS_REGION_NAME"],
        load_yaml_config=False,
        load_envvars=False,
    )


def other_project_user(stack: RunningStack) -> str:
    """A member of a new project of its own (name = project = user; password 'pw-<name>')."""
    admin = stack.admin()
    name = f"sdk-other-{uuid.uuid4().hex[:6]}"
    project = admin.request("identity", "POST", "projects", json={"project": {"name": name}})
    project_id = project.json()["project"]["id"]
    user = admin.request(
        "identity",
        "POST",
        "users",
        json={"user": {"name": name, "password": f"pw-{name}", "default_project_id": project_id}},
    ).json()["user"]
    roles = {r["name"]: r["id"] for r in admin.request("identity", "GET", "roles").json()["roles"]}
    admin.request(
        "identity", "PUT", f"projects/{project_id}/users/{user['id']}/roles/{roles['member']}"
    )
    return name


def refs(conn: Connection, flavor: str = "m1.tiny") -> dict[str, str]:
    return {
        "image_id": conn.image.find_image("cirros", ignore_missing=False).id,
        "flavor_id": conn.compute.find_flavor(flavor, ignore_missing=False).id,
    }


def private(conn: Connection) -> list[dict[str, str]]:
    return [{"uuid": conn.network.find_network("private", ignore_missing=False).id}]


def nothing_left(stack: RunningStack, server_id: str) -> None:
    assert stack.ports_of(server_id) == []
    assert stack.claims(server_id) == []
    assert stack.reservations(server_id) == 0


def delete_all(conn: Connection, servers: list[Any]) -> None:
    for server in servers:
        conn.compute.delete_server(server)
    for server in servers:
        conn.compute.wait_for_delete(server, wait=120)


@contextmanager
def quota(stack: RunningStack, resource: str, limit: int) -> Iterator[None]:
    project = demo_project(stack)
    with stack.sessions.begin() as s:
        s.add(QuotaLimit(project_id=project, resource=resource, hard_limit=limit))
    try:
        yield
    finally:
        with stack.sessions.begin() as s:
            s.execute(delete(QuotaLimit).where(QuotaLimit.project_id == project))


def boot_request(stack: RunningStack, server_id: str) -> BootRequest:
    """The BootInstance input the API started, decoded from the workflow's history."""

    async def read() -> BootRequest:
        client = await connect(stack.settings)
        history = await client.get_workflow_handle(f"boot-{server_id}").fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        (request,) = await client.data_converter.decode(started.input.payloads, [BootRequest])
        assert isinstance(request, BootRequest)
        return request

    return asyncio.run(read())


def test_sdk_negotiates_the_highest_microversion(stack: RunningStack) -> None:
    conn = sdk(stack)
    data = conn.compute.get_endpoint_data()
    assert (data.min_microversion, data.max_microversion) == ((2, 1), (2, 96))
    assert sdk_utils.supports_microversion(conn.compute, "2.96")
    assert not sdk_utils.supports_microversion(conn.compute, "2.97")
    url = data.url.rstrip("/")
    too_new = httpx.get(
        f"{url}/servers",
        headers={"X-Auth-Token": conn.auth_token, "OpenStack-API-Version": "compute 2.100"},
    )
    assert too_new.status_code == 406 and "notAcceptable" in too_new.json()


def test_server_lifecycle(stack: RunningStack) -> None:
    conn = sdk(stack)
    started = time.monotonic()
    server = conn.compute.create_server(name="sdk-vm", networks=private(conn), **refs(conn))
    assert server.admin_password is None  # enable_instance_password=False semantics
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    assert time.monotonic() - started < 120

    assert (server.vm_state, server.task_state, server.power_state) == ("active", None, 1)
    assert server.flavor.original_name == "m1.tiny" and server.flavor.ram == 512  # 2.47+
    (address,) = server.addresses["private"]
    assert address["OS-EXT-IPS:type"] == "fixed" and address["version"] == 4
    (port,) = stack.ports_of(server.id)
    assert address["addr"] == port["fixed_ips"][0]["ip_address"]
    assert address["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    assert server.hostname == "sdk-vm" and server.pinned_availability_zone is None
    assert server.compute_host is None  # the host is for admins
    assert server.server_groups == []

    assert server.id in {s.id for s in conn.compute.servers()}
    assert [s.name for s in conn.compute.servers(name="^sdk-vm$")] == ["sdk-vm"]
    assert conn.compute.find_server("sdk-vm", ignore_missing=False).id == server.id

    (action,) = conn.compute.server_actions(server)
    assert action.action == "create" and action.project_id == demo_project(stack)
    detail = conn.compute.get_server_action(action.request_id, server)
    events = [e.event for e in detail.events]
    assert {"schedule_and_claim", "spawn"} <= set(events) and events[-1] == "mark_active"
    assert {e.result for e in detail.events} == {"Success"}

    console = conn.compute.get_server_console_output(server)
    assert isinstance(console["output"], str)  # the test driver's console may be empty
    last = conn.compute.get_server_console_output(server, length=5)
    assert isinstance(last["output"], str)

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server(server.id)
    nothing_left(stack, server.id)
    (delete_action,) = [
        a for a in conn.compute.server_actions(server.id) if a.action == "delete"
    ]  # actions outlive the server (2.21+)
    assert delete_action.request_id.startswith("req-")


def test_refusals_are_novas(stack: RunningStack) -> None:
    conn = sdk(stack)
    with stack.sessions.begin() as s:
        before = len(list(s.scalars(select(Instance.uuid))))

    with quota(stack, "ram", 1024), pytest.raises(sdk_exc.ForbiddenException) as over:
        conn.compute.create_server(
            name="sdk-over", networks=private(conn), **refs(conn, "m1.small")
        )
    assert over.value.status_code == 403
    assert "Quota exceeded for ram: requested 2048 MiB" in str(over.value)

    with pytest.raises(sdk_exc.BadRequestException) as bad:
        conn.compute.create_server(
            name="sdk-bad", networks=private(conn), image_id=refs(conn)["image_id"], flavor_id="99"
        )
    assert "Flavor 99 could not be found" in str(bad.value)
    assert "m1.tiny" in str(bad.value)  # the message names the flavors there are

    missing = str(uuid.uuid4())
    with pytest.raises(sdk_exc.BadRequestException) as port:
        conn.compute.create_server(name="sdk-port", networks=[{"port": missing}], **refs(conn))
    assert f"Port id {missing} could not be found." in str(port.value)

    with pytest.raises(sdk_exc.BadRequestException) as no_network:
        conn.compute.create_server(name="sdk-nonet", **refs(conn))  # 2.37+: networks required
    assert "'networks' is a required property" in str(no_network.value)

    with stack.sessions.begin() as s:
        assert len(list(s.scalars(select(Instance.uuid)))) == before  # nothing was recorded


def unbound(conn: Connection, port_id: str) -> bool:
    port = conn.network.get_port(port_id)  # NotFoundException if it was deleted
    return (port.device_id, port.device_owner, port.binding_host_id) == ("", "", "")


def test_boot_on_a_users_port(stack: RunningStack) -> None:
    """networks: [{"port": id}]: the server's NIC is the user's port, bound to the server and
    its host; delete unbinds it and keeps it (Nova's preserve_on_delete)."""
    conn = sdk(stack)
    network_id = private(conn)[0]["uuid"]
    port = conn.network.create_port(network_id=network_id, name="sdk-own-port")
    (fixed,) = port.fixed_ips
    try:
        server = conn.compute.create_server(
            name="sdk-on-port", networks=[{"port": port.id}], **refs(conn)
        )
        assert boot_request(stack, server.id).networks[0].port_id == port.id
        server = conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
        (address,) = server.addresses["private"]
        assert address["addr"] == fixed["ip_address"]
        assert address["OS-EXT-IPS-MAC:mac_addr"] == port.mac_address
        bound = conn.network.get_port(port.id)
        assert (bound.device_id, bound.device_owner) == (server.id, "compute:nova")
        assert bound.binding_host_id in ("node1", "node2")
        assert [p["id"] for p in stack.ports_of(server.id)] == [port.id]  # no port made

        # Bound to a server now: Nova's 409 PortInUse.
        with pytest.raises(sdk_exc.ConflictException) as in_use:
            conn.compute.create_server(
                name="sdk-port-taken", networks=[{"port": port.id}], **refs(conn)
            )
        assert in_use.value.status_code == 409
        assert f"Port {port.id} is still in use." in str(in_use.value)

        delete_all(conn, [server])
        nothing_left(stack, server.id)
        assert unbound(conn, port.id)
        assert conn.network.get_port(port.id).fixed_ips == [fixed]  # its address is kept

        # A boot that fails (spawn fails on every host) undoes its binding, not the port.
        failed = conn.compute.create_server(
            name="sdk-port-failspawn", networks=[{"port": port.id}], **refs(conn)
        )
        failed = conn.compute.wait_for_server(failed, status="ERROR", failures=[], wait=120)
        assert unbound(conn, port.id)
        delete_all(conn, [failed])
        nothing_left(stack, failed.id)
        assert unbound(conn, port.id)
    finally:
        conn.network.delete_port(port.id)


def test_another_projects_server_is_404(stack: RunningStack) -> None:
    conn = sdk(stack)
    server = conn.compute.create_server(name="sdk-private", networks="none", **refs(conn))
    other_name = other_project_user(stack)
    other = sdk(stack, other_name, f"pw-{other_name}")
    with pytest.raises(sdk_exc.NotFoundException):
        other.compute.get_server(server.id)
    with pytest.raises(sdk_exc.NotFoundException):
        other.compute.delete_server(server.id, ignore_missing=False)
    with pytest.raises(sdk_exc.NotFoundException):
        other.compute.get_server_console_output(server.id)
    assert list(other.compute.servers()) == []
    assert other.compute.find_server("sdk-private") is None

    admin = sdk(stack, "admin")
    assert server.id in {s.id for s in admin.compute.servers(all_projects=True)}
    assert server.id not in {s.id for s in admin.compute.servers()}
    with pytest.raises(sdk_exc.ForbiddenException):
        list(other.compute.servers(all_projects=True))
    conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    seen = admin.compute.get_server(server.id)
    assert seen.compute_host in ("node1", "node2")
    assert seen.hypervisor_hostname and seen.instance_name == f"instance-{server.id}"
    assert seen.reservation_id.startswith("r-") and seen.launch_index == 0
    assert seen.host_status == "UP"
    delete_all(conn, [server])
    nothing_left(stack, server.id)


def test_multi_create_boots_one_workflow_per_server(stack: RunningStack) -> None:
    conn = sdk(stack)
    first = conn.compute.create_server(
        name="sdk-multi", networks="none", min_count=2, max_count=3, **refs(conn)
    )
    servers = sorted(conn.compute.servers(name="^sdk-multi-"), key=lambda s: s.name)
    assert [s.name for s in servers] == ["sdk-multi-1", "sdk-multi-2", "sdk-multi-3"]
    assert first.id == servers[0].id
    requests = [boot_request(stack, s.id) for s in servers]
    assert [r.instance_uuid for r in requests] == [s.id for s in servers]
    assert len({r.request_id for r in requests}) == 1  # one request, as Nova's
    assert all(r.networks == [] for r in requests)
    for server in servers:
        conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    admin = sdk(stack, "admin")
    indexes = sorted(admin.compute.get_server(s.id).launch_index for s in servers)
    assert indexes == [0, 1, 2]
    reservation = admin.compute.get_server(servers[0].id).reservation_id
    assert {s.id for s in conn.compute.servers(reservation_id=reservation)} == {
        s.id for s in servers
    }
    delete_all(conn, servers)

    # return_reservation_id: the answer is the reservation, not a server.
    answer = conn.compute.post(
        "/servers",
        json={
            "server": {
                "name": "sdk-resv",
                "flavorRef": refs(conn)["flavor_id"],
                "imageRef": refs(conn)["image_id"],
                "networks": "none",
                "return_reservation_id": True,
            }
        },
        microversion="2.96",
    )
    assert answer.status_code == 202
    reservation = answer.json()["reservation_id"]
    assert re.fullmatch(r"r-[0-9a-f]{8}", reservation)
    (resv,) = conn.compute.servers(reservation_id=reservation)
    assert resv.name == "sdk-resv"
    # The create's instance action carries the id of the API request that made it.
    (action,) = conn.compute.server_actions(resv)
    assert action.request_id == answer.headers["X-OpenStack-Request-ID"]
    delete_all(conn, [resv])

    # Fewer than min_count fit in the quota: 403 naming it, and nothing is left behind.
    used = int(conn.compute.get_limits().absolute.instances_used)
    with quota(stack, "instances", used + 1), pytest.raises(sdk_exc.ForbiddenException) as over:
        conn.compute.create_server(
            name="sdk-multi-over", networks="none", min_count=2, **refs(conn)
        )
    assert "Quota exceeded for instances: requested 2" in str(over.value)
    with stack.sessions.begin() as s:
        rows = s.scalars(select(Instance).where(Instance.name.like("sdk-multi-over%")))
        assert list(rows) == []
    # The quota holds some but not all: as many as fit are booted (Nova's max_count rule).
    with quota(stack, "instances", used + 2):
        conn.compute.create_server(
            name="sdk-fit", networks="none", min_count=1, max_count=5, **refs(conn)
        )
    fitted = sorted(conn.compute.servers(name="^sdk-fit"), key=lambda s: s.name)
    assert [s.name for s in fitted] == ["sdk-fit-1", "sdk-fit-2"]
    delete_all(conn, fitted)


def test_networks_auto_and_none(stack: RunningStack) -> None:
    conn = sdk(stack)
    auto = conn.compute.create_server(name="sdk-auto", networks="auto", **refs(conn))
    none = conn.compute.create_server(name="sdk-none", networks="none", **refs(conn))
    auto = conn.compute.wait_for_server(auto, status="ACTIVE", wait=120)
    none = conn.compute.wait_for_server(none, status="ACTIVE", wait=120)
    assert list(auto.addresses) == ["private"]  # the project's only network
    assert none.addresses == {} and stack.ports_of(none.id) == []
    delete_all(conn, [auto, none])


def test_server_group_hint_reaches_the_boot(stack: RunningStack) -> None:
    conn = sdk(stack)
    group = conn.compute.create_server_group(name="sdk-group", policy="anti-affinity")
    assert (group.policy, group.rules, group.member_ids) == ("anti-affinity", {}, [])
    with pytest.raises(sdk_exc.BadRequestException) as unknown:
        conn.compute.create_server(
            name="sdk-nogroup",
            networks="none",
            scheduler_hints={"group": str(uuid.uuid4())},
            **refs(conn),
        )
    assert "could not be found" in str(unknown.value)

    server = conn.compute.create_server(
        name="sdk-grouped",
        networks="none",
        scheduler_hints={"group": group.id, "different_host": [str(uuid.uuid4())]},
        **refs(conn),
    )
    hints = boot_request(stack, server.id).scheduler_hints
    assert hints["group"] == [group.id] and len(hints["different_host"]) == 1
    conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    assert group.id in [g.id for g in conn.compute.server_groups()]
    delete_all(conn, [server])
    conn.compute.delete_server_group(group)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server_group(group.id)


def test_delete_while_building_cancels_the_boot(stack: RunningStack) -> None:
    conn = sdk(stack)
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    # The stack's fault plan holds *-slowspawn in spawn for 4 s: time to delete it there.
    server = conn.compute.create_server(
        name="sdk-delete-slowspawn", networks=private(conn), **refs(conn)
    )
    wait_until(lambda: conn.compute.get_server(server.id).task_state == "spawning", timeout=60)
    assert conn.compute.get_server(server.id).status == "BUILD"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    nothing_left(stack, server.id)
    assert stack.quota_usage(project) == usage

    async def boot_status() -> WorkflowExecutionStatus | None:
        client = await connect(stack.settings)
        return (await client.get_workflow_handle(f"boot-{server.id}").describe()).status

    assert asyncio.run(boot_status()) == WorkflowExecutionStatus.CANCELED


def test_operator_views_of_hosts(stack: RunningStack) -> None:
    admin = sdk(stack, "admin")
    hypervisors = sorted(admin.compute.hypervisors(details=True), key=lambda h: h.name)
    assert [(h.service_details["host"], h.state, h.status) for h in hypervisors] == [
        ("node1", "up", "enabled"),
        ("node2", "up", "enabled"),
    ]
    with pytest.raises(sdk_exc.ForbiddenException):
        list(sdk(stack).compute.hypervisors())

    services = {s.host: s for s in admin.compute.services()}
    assert {s.binary for s in services.values()} == {"nova-compute"}
    node2 = services["node2"]
    try:
        admin.compute.disable_service(node2, node2.host, node2.binary, "sdk maintenance")
        with stack.sessions.begin() as s:
            row = s.scalar(select(ComputeNode).where(ComputeNode.host == "node2"))
            assert row is not None and row.disabled and row.disabled_reason == "sdk maintenance"
        shown = {s.host: s for s in admin.compute.services()}["node2"]
        assert (shown.status, shown.disabled_reason) == ("disabled", "sdk maintenance")
    finally:
        admin.compute.enable_service(node2, node2.host, node2.binary)
    assert {s.host: s.status for s in admin.compute.services()}["node2"] == "enabled"

    zones = list(sdk(stack).compute.availability_zones())
    assert [(z.name, z.state) for z in zones] == [("nova", {"available": True})]
    limits = sdk(stack).compute.get_limits().absolute
    assert limits.instances == 10 and limits.total_cores == 20
    assert limits.instances_used == stack.quota_usage(demo_project(stack))["instances"]
