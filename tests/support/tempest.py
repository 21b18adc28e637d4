"""Tempest 47.0.0 against a running stack: its accounts provisioned through bootflow's own
APIs, a tempest.conf for what bootflow offers, a run through stestr, and its results.

Used by ``make conformance`` (bench/conformance.py) and ``make test``
(tests/e2e/test_conformance.py), on the selection of tests/support/tempest_selection.py.
Everything Tempest writes goes in a workspace directory the caller chooses (never the git
tree).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE
from typing import Any

import subunit
import tempest
import testtools
import yaml

from bootflow.seed import IMAGE_NAME, admin_session, stand_in_image, stored_secret
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Session
from core.config import Settings
from tests.support.cleanup import when_this_process_ends

PASSWORD = "tempest-secret-1"
# Tempest's servers boot on this network, shared so every account's project can use it.
NETWORK = "tempest-shared"
NETWORK_CIDR = "10.99.0.0/24"
ALT_IMAGE = "tempest-alt"
# Account sets: one per stestr worker, and one spare (a class holds its accounts while it
# runs; a worker that starts the next class before the lock files go would need another).
ACCOUNT_SETS = 3
MAX_WORKERS = 2

# What bootflow does not offer, each switched off with the reason (README, "Conformance").
# Tempest then skips the tests that need it; they count as skipped, never as failures.
FEATURE_FLAGS = """
[compute-feature-enabled]
# bootflow sets no password in its guests, so it returns none (Nova's
# enable_instance_password = False).
enable_instance_password = false
# No resize, migration or evacuation: a server stays on the host it was booted on.
resize = false
cold_migration = false
live_migration = false
# No pause, suspend, shelve, rescue, snapshot (createImage) or password change actions.
pause = false
suspend = false
shelve = false
shelve_migrate = false
rescue = false
snapshot = false
change_password = false
# No consoles besides the console log.
vnc_console = false
spice_console = false
serial_console = false
# No interface or volume attach to a running server, no multiattach, no encryption.
interface_attach = false
volume_multiattach = false
attach_encrypted_volume = false
# No file injection (personality, removed at 2.57 anyway) nor disk_config.
personality = false
disk_config = false
# No metadata service (the config drive carries what a guest needs).
metadata_service = false
[volume-feature-enabled]
# No Cinder backups, snapshots, clones, extend, manage/unmanage or volume transfer.
backup = false
snapshot = false
clone = false
manage_volume = false
manage_snapshot = false
extend_attached_volume = false
extend_volume_with_snapshot = false
volume_revert = false
[image-feature-enabled]
# Uploads only: no image import workflow (stage/import, web-download, glance-direct).
import_image = false
# Image data is stored as given: no format inspection rejects data that does not match its
# disk_format (Glance's image_format_enforcement).
image_format_enforcement = false
os_glance_reserved = false
[network-feature-enabled]
# IPv4 only.
ipv6 = false
ipv6_subnet_attributes = false
floating_ips = false
[service_available]
# Only these five services exist.
swift = false
horizon = false
"""


@dataclass
class Accounts:
    """What Tempest's pre-provisioned accounts file lists, in the order Tempest needs."""

    entries: list[dict[str, Any]] = field(default_factory=list)


def _post(admin: Session, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.request("identity", "POST", path, json=body)
    result: dict[str, Any] = response.json()
    return result


def _find(admin: Session, collection: str, name: str) -> str | None:
    found = admin.request("identity", "GET", collection, params={"name": name}).json()
    items = found[collection]
    return str(items[0]["id"]) if items else None


def _project(admin: Session, name: str) -> str:
    found = _find(admin, "projects", name)
    if found:
        return found
    return str(_post(admin, "projects", {"project": {"name": name}})["project"]["id"])


def _user(admin: Session, name: str, project_id: str) -> str:
    found = _find(admin, "users", name)
    if found:
        return found
    body = {"user": {"name": name, "password": PASSWORD, "default_project_id": project_id}}
    return str(_post(admin, "users", body)["user"]["id"])


def _grant(admin: Session, project_id: str, user_id: str, role_id: str) -> None:
    path = f"projects/{project_id}/users/{user_id}/roles/{role_id}"
    admin.request("identity", "PUT", path)


def _account(admin: Session, roles: dict[str, str], user: str, project: str, grant: str) -> str:
    project_id = _project(admin, project)
    user_id = _user(admin, user, project_id)
    _grant(admin, project_id, user_id, roles[grant])
    return project_id


def provision_accounts(settings: Settings) -> Accounts:
    """Tempest's users and projects, through identity v3 (projects, users, role grants).

    The "alt" accounts come first and list no roles: Tempest's alt credentials are the
    first free account without the admin role, and listing a project's reader first would
    make that reader, in the primary's own project, the "other tenant". Each primary
    project has a member (Tempest's primary) and a reader (its project_reader)."""
    admin = admin_session(settings)
    try:
        roles = {
            r["name"]: r["id"] for r in admin.request("identity", "GET", "roles").json()["roles"]
        }
        accounts = Accounts()
        for n in range(ACCOUNT_SETS):
            user, project = f"tempest-alt-{n}", f"tempest-alt-{n}"
            _account(admin, roles, user, project, "member")
            accounts.entries.append(_entry(user, project, []))
        for n in range(ACCOUNT_SETS):
            project = f"tempest-{n}"
            for role in ("member", "reader"):
                user = f"tempest-{role}-{n}"
                _account(admin, roles, user, project, role)
                accounts.entries.append(_entry(user, project, [role]))
        for n in range(ACCOUNT_SETS):
            user = f"tempest-admin-{n}"
            _account(admin, roles, user, "admin", "admin")
            accounts.entries.append(_entry(user, "admin", ["admin"], types=["admin"]))
        return accounts
    finally:
        admin.close()


def _entry(
    user: str, project: str, roles: list[str], types: list[str] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "username": user,
        "project_name": project,
        "password": PASSWORD,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "resources": {"network": NETWORK},
    }
    if roles:
        entry["roles"] = roles
    if types:
        entry["types"] = types
    return entry


@dataclass
class Seeded:
    """The ids of what bootflow seeds (and what this module adds for servers)."""

    image_id: str
    alt_image_id: str
    extensions: list[str]


def seed_resources(settings: Settings, servers: bool) -> Seeded:
    """``servers``: add the shared network Tempest's servers boot on and a second image
    (tests that rebuild or compare need two); without, a stack other tests share keeps its
    projects' view of networks and images as it was."""
    admin = admin_session(settings)
    try:
        images = ImageClient(admin)
        image_id = next(
            i["id"] for i in images.list_images(name=IMAGE_NAME) if i["status"] == "active"
        )
        alt_image_id = image_id
        if servers:
            _shared_network(NetworkClient(admin))
            alt_image_id = _alt_image(images)
        listed = admin.request("network", "GET", "v2.0/extensions").json()["extensions"]
        return Seeded(image_id, alt_image_id, [e["alias"] for e in listed])
    finally:
        admin.close()


def _shared_network(networks: NetworkClient) -> str:
    found = networks.list_networks(name=NETWORK)
    network = found[0] if found else networks.create_network(NETWORK, shared=True)
    if not network.get("subnets"):
        networks.create_subnet(network["id"], NETWORK_CIDR, name=f"{NETWORK}-subnet")
    return str(network["id"])


def _alt_image(images: ImageClient) -> str:
    for image in images.list_images(name=ALT_IMAGE):
        if image["status"] == "active":
            return str(image["id"])
    image = images.create_image(
        name=ALT_IMAGE, disk_format="raw", container_format="bare", visibility="public"
    )
    images.upload(image["id"], io.BytesIO(stand_in_image()))
    return str(image["id"])


def tempest_conf(settings: Settings, workspace: Path, seeded: Seeded) -> str:
    formats = "[image]\ndisk_formats = ami,ari,aki,raw,qcow2,iso\n"
    formats += "container_formats = ami,ari,aki,bare,ovf\n"
    admin_password = stored_secret(settings, "admin_password")
    return f"""[DEFAULT]
log_dir = {workspace / "logs"}
log_file = tempest.log
debug = true

[oslo_concurrency]
lock_path = {workspace / "locks"}

[auth]
use_dynamic_credentials = false
test_accounts_file = {workspace / "etc" / "accounts.yaml"}
default_credentials_domain_name = Default
create_isolated_networks = false
# The tests that ask for "the configured admin" (not an account from the file).
admin_username = admin
admin_password = {admin_password}
admin_project_name = admin
admin_domain_name = Default

[identity]
uri_v3 = {settings.auth_url}
auth_version = v3
region = {settings.region}

[compute]
image_ref = {seeded.image_id}
image_ref_alt = {seeded.alt_image_id}
flavor_ref = 1
flavor_ref_alt = 2
fixed_network_name = {NETWORK}
max_microversion = 2.96
build_timeout = 180

{formats}
[network]
project_network_cidr = 10.100.0.0/16
shared_physical_network = false

[network-feature-enabled]
api_extensions = {",".join(seeded.extensions)}

[volume]
catalog_type = volumev3
max_microversion = 3.70
volume_size = 1
build_timeout = 180

[service_available]
nova = true
glance = true
neutron = true
cinder = true

[validation]
# Tempest would ssh into its servers; libvirt's test driver boots no guest to reach.
run_validation = false
{FEATURE_FLAGS}"""


STESTR_CONF = """[DEFAULT]
test_path={test_path}
top_dir={top_dir}
group_regex=([^\\.]*\\.)*
"""


def write_workspace(settings: Settings, workspace: Path, servers: bool = True) -> None:
    """Accounts, tempest.conf and .stestr.conf in ``workspace`` (``servers``: see
    :func:`seed_resources`)."""
    accounts = provision_accounts(settings)
    seeded = seed_resources(settings, servers)
    for sub in ("etc", "logs", "locks"):
        (workspace / sub).mkdir(parents=True, exist_ok=True)
    (workspace / "etc" / "accounts.yaml").write_text(yaml.safe_dump(accounts.entries))
    (workspace / "etc" / "tempest.conf").write_text(tempest_conf(settings, workspace, seeded))
    package = Path(tempest.__file__).parent
    (workspace / ".stestr.conf").write_text(
        STESTR_CONF.format(test_path=package / "test_discover", top_dir=package.parent)
    )


@dataclass
class TestResult:
    id: str
    status: str  # success, fail, skip
    detail: str = ""


def _stestr(workspace: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """``stestr ARGS`` in its own process group, which is killed whole when the call ends or
    when this process dies first (stestr's test workers are its children's children)."""
    env = os.environ | {
        "TEMPEST_CONFIG_DIR": str(workspace / "etc"),
        "TEMPEST_CONFIG": "tempest.conf",
    }
    argv = [str(Path(sys.executable).parent / "stestr"), *args]
    proc = subprocess.Popen(
        argv, cwd=workspace, env=env, stdout=PIPE, stderr=PIPE, start_new_session=True
    )
    with when_this_process_ends(["kill", "-KILL", "--", f"-{proc.pid}"]):
        out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run_tests(
    workspace: Path, tests: list[str], workers: int = MAX_WORKERS, timeout: float = 3600
) -> list[TestResult]:
    """Run the tests whose ids match the regexes in ``tests``; every listed test's result
    (a test whose class failed or skipped in setUpClass gets that class's result)."""
    include = workspace / "include.txt"
    include.write_text("\n".join(tests) + "\n")
    if not (workspace / ".stestr").exists():
        _stestr(workspace, "init", timeout=60)
    listed = _stestr(workspace, "list", "--include-list", str(include), timeout=300)
    ids = [
        strip_tags(line) for line in listed.stdout.decode().split() if line.startswith("tempest.")
    ]
    concurrency = str(min(workers, MAX_WORKERS))
    run = _stestr(
        workspace,
        "run",
        "--concurrency",
        concurrency,
        "--include-list",
        str(include),
        timeout=timeout,
    )
    (workspace / "stestr-run.log").write_bytes(run.stdout + run.stderr)
    last = _stestr(workspace, "last", "--subunit", timeout=120)
    return per_test(ids, parse_subunit(last.stdout))


def per_test(ids: list[str], results: list[TestResult]) -> list[TestResult]:
    """One result per listed test: its own, else its class's setUpClass (failed or skipped),
    else "fail" as not run."""
    own = {r.id: r for r in results if not r.id.startswith("setUpClass")}
    classes = {}
    for r in results:
        found = re.match(r"setUpClass \((.+)\)", r.id)
        if found:
            classes[found.group(1)] = r
    out = []
    for test_id in ids:
        if test_id in own:
            out.append(own[test_id])
            continue
        setup = classes.get(test_id.rsplit(".", 1)[0])
        if setup is not None:
            out.append(TestResult(test_id, setup.status, "setUpClass: " + setup.detail))
        else:
            out.append(TestResult(test_id, "fail", "not run (no result from stestr)"))
    return out


def parse_subunit(stream: bytes) -> list[TestResult]:
    results: list[TestResult] = []

    def on_test(test: dict[str, Any]) -> None:
        status = test["status"]
        if status not in ("success", "fail", "skip", "xfail", "uxsuccess"):
            return
        detail = ""
        for name in ("traceback", "reason"):
            content = test["details"].get(name)
            if content is not None:
                detail = content.as_text()
                break
        results.append(TestResult(strip_tags(test["id"]), _status(status), detail))

    source = subunit.ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout")
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        source.run(result)
    finally:
        result.stopTestRun()
    return results


def _status(status: str) -> str:
    return {"xfail": "success", "uxsuccess": "fail"}.get(status, status)


def strip_tags(test_id: str) -> str:
    """``tempest...test_x[id-...,smoke]`` -> ``tempest...test_x``."""
    return re.sub(r"\[.*\]$", "", test_id)


def first_error_line(detail: str) -> str:
    """The exception line of a traceback and the start of its Details (a skip's reason)."""
    prefix = "setUpClass: " if detail.startswith("setUpClass: ") else ""
    detail = detail.removeprefix(prefix)
    lines = [line.strip() for line in detail.strip().splitlines() if line.strip()]
    for n in range(len(lines) - 1, -1, -1):
        if re.match(
            r"^[\w.]+(Error|Exception|Failure|Conflict|NotFound|BadRequest|Code|Body|Type|Credentials|Forbidden|Unauthorized)\b:?",
            lines[n],
        ):
            details = next((x for x in lines[n + 1 : n + 3] if x.startswith("Details:")), "")
            return (prefix + lines[n] + (" " + details if details else ""))[:400]
    return (prefix + lines[-1])[:400] if lines else prefix
