"""The walking skeleton, end to end, with every part real.

The Temporal dev server binary, the five HTTP services on loopback, the control worker and
two compute workers (each its own process with its own libvirt test driver), driven by the
``bootflow`` command as a user runs it. Each module's stack runs once per database.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import delete, func, select
from temporalio.client import WorkflowHistory

from bootflow.seed import stored_secret
from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from core.config import load_settings
from core.temporal import connect, data_converter
from db.models.compute import Instance, QuotaLimit
from tests.e2e.conftest import demo_project
from tests.support.databases import BACKENDS, new_database
from tests.support.history import assert_sealed, input_token
from tests.support.stack import (
    TINY_SERVER,
    CliResult,
    RunningStack,
    running_stack,
    stack_settings,
    wait_until,
)

pytestmark = pytest.mark.e2e


def boot(stack: RunningStack, name: str, *extra: str) -> CliResult:
    """``bootflow server create`` of a tiny cirros server on private, as JSON."""
    return stack.cli(
        "server",
        "create",
        name,
        *TINY_SERVER,
        *extra,
        "-f",
        "json",
    )


def create(stack: RunningStack, name: str, *extra: str) -> tuple[int, dict[str, object], str]:
    result = boot(stack, name, *extra)
    body = json.loads(result.out) if result.out.strip().startswith("{") else {}
    return result.code, body, result.err


def nothing_left(
    stack: RunningStack, instance_uuid: str, project_id: str, *, quota_held: bool = False
) -> None:
    """Nothing of the instance is left anywhere; its quota only while it is an ERROR server
    not yet deleted (``quota_held``), as Nova counts it."""
    assert stack.ports_of(instance_uuid) == []
    assert stack.volumes_of(instance_uuid, project_id) == []
    assert stack.claims(instance_uuid) == []
    assert stack.reservations(instance_uuid) == (1 if quota_held else 0)
    for host in ("node1", "node2"):
        assert instance_uuid not in {d.uuid for d in stack.domains(host).domains}


def test_boot_to_active_then_delete_leaves_nothing(stack: RunningStack) -> None:
    project = demo_project(stack)
    usage_before = stack.quota_usage(project)

    code, server, err = create(stack, "e2e-vm", "--volume-size", "1", "--wait")
    assert code == 0, err
    assert server["status"] == "ACTIVE"
    uuid = str(server["id"])
    record = stack.instance(uuid)
    assert record is not None and record.vm_state == "active" and record.task_state is None
    host = record.host
    assert host in ("node1", "node2")

    # The domain runs on the chosen host's hypervisor, and only there.
    other = "node2" if host == "node1" else "node1"
    running = {d.uuid: d for d in stack.domains(host).domains}
    assert uuid in running and running[uuid].state == 1
    assert uuid not in {d.uuid for d in stack.domains(other).domains}

    # The port and the volume exist and point at the instance.
    (port,) = stack.ports_of(uuid)
    assert port["binding:host_id"] == host and port["device_owner"] == "compute:nova"
    assert server["addresses"] == {"private": [port["fixed_ips"][0]["ip_address"]]}
    (volume,) = stack.volumes_of(uuid, project)
    assert volume["status"] == "in-use"
    assert [a["server_id"] for a in volume["attachments"]] == [uuid]
    assert server["volumes_attached"] == [volume["id"]]

    # Quota and the host's claim went up by the flavor.
    (claim,) = stack.claims(uuid)
    assert (claim.host, claim.vcpus, claim.memory_mb, claim.disk_gb) == (host, 1, 512, 1)
    usage = stack.quota_usage(project)
    assert usage["instances"] == usage_before.get("instances", 0) + 1
    assert usage["cores"] == usage_before.get("cores", 0) + 1
    assert usage["ram"] == usage_before.get("ram", 0) + 512

    deleted = stack.cli("server", "delete", "e2e-vm", "--wait")
    assert deleted.code == 0, deleted.err
    gone = stack.cli("server", "show", uuid)
    assert gone.code == 1 and "No server" in gone.err
    nothing_left(stack, uuid, project)
    assert stack.quota_usage(project) == usage_before
    record = stack.instance(uuid)
    assert record is not None and record.deleted and record.vm_state == "deleted"
    volume_steps = {"detach_volumes", "delete_volumes"}
    assert volume_steps <= set(_scheduled_activities(stack, f"delete-{uuid}"))


def test_failed_spawn_ends_in_error_and_undoes_everything(stack: RunningStack) -> None:
    project = demo_project(stack)
    usage_before = stack.quota_usage(project)
    code, server, err = create(stack, "e2e-failspawn", "--volume-size", "1", "--wait")
    assert code == 1
    # Progress lines, then the failure in one line.
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err
    assert "failed to boot" in errors[0]
    assert "injected: the domain failed to start" in errors[0]
    assert server["status"] == "ERROR"
    uuid = str(server["id"])

    shown = stack.cli("server", "show", uuid, "-f", "json").json()
    assert shown["OS-EXT-STS:vm_state"] == "error"
    assert shown["OS-EXT-STS:task_state"] is None
    assert "injected: the domain failed to start" in shown["fault"]["message"]
    nothing_left(stack, uuid, project, quota_held=True)
    assert stack.quota_usage(project)["instances"] == usage_before.get("instances", 0) + 1

    # An errored server can be deleted; that leaves nothing, its quota given back.
    assert stack.cli("server", "delete", uuid, "--wait").code == 0
    nothing_left(stack, uuid, project)
    assert stack.quota_usage(project) == usage_before


def _counts(stack: RunningStack) -> tuple[int, int]:
    with stack.sessions.begin() as s:
        instances = int(s.scalar(select(func.count()).select_from(Instance)) or 0)
    return instances, len(stack.all_ports())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("e2e-bad", "--flavor", "m1.huge", "--image", "cirros", "--network", "private"),
            "m1.huge",
        ),
        (
            ("e2e-bad", "--flavor", "m1.tiny", "--image", "not-a-uuid", "--network", "private"),
            "not-a-uuid",
        ),
        (
            ("e2e-bad", "--flavor", "m1.small", "--image", "cirros", "--network", "private"),
            "Quota exceeded for ram: requested 2048 MiB, but already used 0 MiB of 1024 MiB",
        ),
        (
            (" e2e-bad", "--flavor", "m1.tiny", "--image", "cirros", "--network", "private"),
            "must not start or end with whitespace",
        ),
    ],
    ids=["unknown-flavor", "malformed-image", "over-quota", "bad-name"],
)
def test_bad_input_is_one_line_and_leaves_no_records(
    stack: RunningStack, args: tuple[str, ...], expected: str
) -> None:
    project = demo_project(stack)
    with stack.sessions.begin() as s:
        s.add(QuotaLimit(project_id=project, resource="ram", hard_limit=1024))
    try:
        before = _counts(stack), stack.quota_usage(project)
        result = stack.cli("server", "create", *args)
        assert result.code == 1
        assert result.out == ""
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.err
        assert expected in lines[0]
        assert "Traceback" not in result.err
        assert (_counts(stack), stack.quota_usage(project)) == before
    finally:
        with stack.sessions.begin() as s:
            s.execute(delete(QuotaLimit).where(QuotaLimit.project_id == project))


def test_images_and_networks_are_checked_as_the_user_sees_them(stack: RunningStack) -> None:
    """Step 2 reads the image and network with the user's own token: another project's
    private image is not found, an image without data is not active, an unknown network is
    not found. Each is a 400 with Nova's message, and nothing is left."""
    demo, admin = stack.demo(), stack.admin()
    compute = f"{demo.endpoint('compute')}/servers"
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    queued = ImageClient(demo).create_image(
        name="no-data", disk_format="raw", container_format="bare"
    )["id"]
    private = ImageClient(admin).create_image(
        name="admins-only", disk_format="raw", container_format="bare", visibility="private"
    )["id"]
    missing_network = str(uuid4())
    try:
        before = _counts(stack), stack.quota_usage(demo_project(stack))
        for server, message in (
            ({"imageRef": private}, f"Image {private} could not be found."),
            ({"imageRef": queued}, f"Image {queued} is not active"),
            (
                {"networks": [{"uuid": missing_network}]},
                f"Network {missing_network} could not be found.",
            ),
        ):
            body = {
                "name": "checked",
                "flavorRef": "1",
                "imageRef": image,
                "networks": [{"uuid": network}],
                **server,
            }
            answer = httpx.post(
                compute, json={"server": body}, headers={"X-Auth-Token": demo.token}
            )
            assert answer.status_code == 400, answer.text
            assert message in answer.json()["badRequest"]["message"]
        assert (_counts(stack), stack.quota_usage(demo_project(stack))) == before
    finally:
        ImageClient(demo).delete_image(queued)
        ImageClient(admin).delete_image(private)


def test_usage_errors_exit_2(stack: RunningStack) -> None:
    result = stack.cli("server", "create", "x", "--image", "cirros")
    assert result.code == 2 and "--flavor" in result.err


def test_boot_survives_killed_workers(stack: RunningStack) -> None:
    """SIGKILL the control worker and the chosen host's worker while the guest is spawning;
    once they are restarted the same boot finishes."""
    result = boot(stack, "e2e-slowspawn")
    assert result.code == 0, result.err
    uuid = result.json()["id"]

    def spawning() -> str | None:
        record = stack.instance(uuid)
        return record.host if record and record.task_state == "spawning" else None

    host = wait_until(spawning, timeout=60)
    for name in ("control", host):
        stack.child(name).send_signal(signal.SIGKILL)
        stack.child(name).wait()
    stack.stack.supervise_once()  # restarts them, as the running supervisor would

    def finished() -> Instance | None:
        record = stack.instance(uuid)
        return record if record and record.vm_state != "building" else None

    record = wait_until(finished, timeout=120, interval=0.5)
    assert record.vm_state == "active", stack.cli("server", "show", uuid).out
    assert uuid in {d.uuid for d in stack.domains(record.host or "").domains}
    assert len(stack.ports_of(uuid)) == 1  # the retried steps did not make a second one
    assert stack.cli("server", "delete", uuid, "--wait").code == 0


def test_token_and_password_never_in_history_plaintext(stack: RunningStack) -> None:
    demo = stack.demo()
    compute = ComputeClient(demo)
    images = ImageClient(demo).find_image("cirros")
    network = NetworkClient(demo).find_network("private")
    server = compute.create_server("e2e-secret", "1", images["id"], [network["id"]])
    uuid = server["id"]
    wait_until(lambda: compute.get_server(uuid)["status"] != "BUILD", timeout=60)
    assert compute.get_server(uuid)["status"] == "ACTIVE"

    async def history() -> WorkflowHistory:
        client = await connect(stack.settings)
        return await client.get_workflow_handle(f"boot-{uuid}").fetch_history()

    found = asyncio.run(history())
    # The history does carry the user's token, sealed: it is the secret to look for.
    codec = data_converter(stack.settings).payload_codec
    assert codec is not None
    assert asyncio.run(input_token(found, codec)) == demo.token
    password = stored_secret(stack.settings, "demo_password")
    # Every payload is encrypted (search attributes and the data of SDK core's markers, for
    # patches and local steps, are plain by design) and neither secret is in any payload's
    # decoded bytes nor anywhere else in an event.
    sealed = assert_sealed(found, [demo.token, demo.token[:32], password])
    assert len([p for p in sealed if p.encoding == "binary/encrypted"]) > 10
    text = json.dumps(found.to_json_dict())
    assert demo.token[:32] not in text and password not in text
    # (The server's name is in the InstanceName search attribute: indexed, so not sealed.)
    compute.delete_server(uuid)
    wait_until(lambda: stack.instance(uuid).deleted, timeout=60)  # type: ignore[union-attr]
    # Nor in any log of the stack: Temporal, the services, the workers, the codec server.
    logs = sorted(stack.settings.logs_dir.glob("*.log"))
    assert {p.stem for p in logs} >= {"temporal", "identity", "compute", "control", "node1"}
    for log in logs:
        content = log.read_text(errors="replace")
        assert demo.token[:32] not in content, log.name
        assert password not in content, log.name


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_up_keeps_instances(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(backend, tmp_path, request)
    with running_stack(stack_settings(tmp_path, url), hosts=1) as first:
        created = boot(first, "keep-me", "--wait")
        assert created.code == 0, created.err
        uuid = created.json()["id"]
    with running_stack(load_settings(tmp_path), hosts=1) as second:
        shown = second.cli("server", "show", "keep-me", "-f", "json")
        assert shown.code == 0 and shown.json()["id"] == uuid
        assert shown.json()["status"] == "ACTIVE"
        # The test hypervisor forgot it; the host's worker started it again from libvirt.xml.
        assert uuid in {d.uuid for d in second.domains("node1").domains}
        assert second.cli("server", "delete", "keep-me", "--wait").code == 0


def test_compute_api_answers_as_nova_does(stack: RunningStack) -> None:
    demo = stack.demo()
    compute_url = demo.endpoint("compute")
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]

    def post(server: dict[str, object], token: str | None = demo.token) -> httpx.Response:
        headers = {"X-Auth-Token": token} if token else {}
        body = {
            "name": "api-vm",
            "flavorRef": "1",
            "imageRef": image,
            "networks": [{"uuid": network}],
            **server,
        }
        return httpx.post(f"{compute_url}/servers", json={"server": body}, headers=headers)

    bad_image = post({"imageRef": "not-a-uuid"})
    assert bad_image.status_code == 400
    assert "Invalid imageRef" in bad_image.json()["badRequest"]["message"]
    bad_flavor = post({"flavorRef": "99"})
    assert bad_flavor.status_code == 400
    assert "Flavor 99 could not be found" in bad_flavor.json()["badRequest"]["message"]
    assert "m1.tiny" in bad_flavor.json()["badRequest"]["message"]
    assert post({"name": ""}).status_code == 400
    assert post({}, token=None).status_code == 401
    assert post({}, token="forged").status_code == 401
    assert post({"flavorRef": 7}).status_code == 400  # wrong type, not a 500

    created = post({})
    assert created.status_code == 202
    server_id = created.json()["server"]["id"]
    assert created.headers["Location"].endswith(f"/servers/{server_id}")

    # Another project never sees it: 404, as if it did not exist.
    admin = stack.admin()
    project = admin.request(
        "identity", "POST", "projects", json={"project": {"name": f"other-{uuid4().hex[:6]}"}}
    ).json()
    user = admin.request(
        "identity",
        "POST",
        "users",
        json={
            "user": {
                "name": f"other-{uuid4().hex[:6]}",
                "password": "pw-other",
                "default_project_id": project["project"]["id"],
            }
        },
    ).json()["user"]
    roles = {r["name"]: r["id"] for r in admin.request("identity", "GET", "roles").json()["roles"]}
    admin.request(
        "identity",
        "PUT",
        f"projects/{project['project']['id']}/users/{user['id']}/roles/{roles['member']}",
    )
    other = Session(
        Credentials(stack.settings.auth_url, user["name"], "pw-other", project["project"]["name"])
    )
    seen = httpx.get(f"{compute_url}/servers/{server_id}", headers={"X-Auth-Token": other.token})
    assert seen.status_code == 404 and "itemNotFound" in seen.json()
    assert (
        httpx.delete(
            f"{compute_url}/servers/{server_id}", headers={"X-Auth-Token": other.token}
        ).status_code
        == 404
    )
    listed = httpx.get(f"{compute_url}/servers", headers={"X-Auth-Token": other.token})
    assert listed.json() == {"servers": []}

    compute = ComputeClient(demo)
    wait_until(lambda: compute.get_server(server_id)["status"] != "BUILD", timeout=60)
    shown = httpx.get(
        f"{compute_url}/servers/{server_id}", headers={"X-Auth-Token": demo.token}
    ).json()["server"]
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:vm_state"] == "active"
    assert "OS-EXT-SRV-ATTR:host" not in shown  # admin only
    as_admin = httpx.get(
        f"{compute_url}/servers/{server_id}", headers={"X-Auth-Token": admin.token}
    ).json()["server"]
    assert as_admin["OS-EXT-SRV-ATTR:host"] in ("node1", "node2")
    gone = httpx.delete(f"{compute_url}/servers/{server_id}", headers={"X-Auth-Token": demo.token})
    assert gone.status_code == 204
    wait_until(lambda: stack.instance(server_id).deleted, timeout=60)  # type: ignore[union-attr]


def _scheduled_activities(stack: RunningStack, workflow_id: str) -> list[str]:
    async def fetch() -> WorkflowHistory:
        client = await connect(stack.settings)
        return await client.get_workflow_handle(workflow_id).fetch_history()

    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in asyncio.run(fetch()).events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def test_a_server_without_a_volume_is_deleted_without_asking_for_volumes(
    stack: RunningStack,
) -> None:
    """Block storage is asked about a server's volumes on delete only if its boot asked for
    one (only then can a host have made one: the delete in
    test_boot_to_active_then_delete_leaves_nothing runs both volume steps)."""
    project = demo_project(stack)
    code, server, err = create(stack, "e2e-plain", "--wait")
    assert code == 0 and server["status"] == "ACTIVE", err
    uuid = str(server["id"])
    deleted = stack.cli("server", "delete", "e2e-plain", "--wait")
    assert deleted.code == 0, deleted.err
    nothing_left(stack, uuid, project)
    steps = _scheduled_activities(stack, f"delete-{uuid}")
    assert "deallocate_ports" in steps
    assert not {"detach_volumes", "delete_volumes"} & set(steps)
