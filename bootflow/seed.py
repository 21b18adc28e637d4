"""What ``bootflow up`` puts in a new cloud, and the credentials it hands the user.

Secrets and identity come first, straight into the database (as ``keystone-manage
bootstrap`` does, since nothing can authenticate before them); flavors likewise (as an
operator's ``nova-manage``); the image and the network through their APIs, as an admin
would. Every step finds what exists and adds only what is missing, so it runs on every
start.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from core.codec import new_key as new_codec_key
from core.config import (
    CONFIG_FILE,
    SECRETS_FILE,
    EndpointOptions,
    PathOptions,
    Settings,
    write_json_private,
    write_private,
)
from db.migrate import upgrade
from db.models.compute import Flavor
from db.session import SessionFactory, make_engine, make_session_factory
from services.identity.bootstrap import EndpointSeed, UserSeed, bootstrap
from services.identity.tokens import new_key as new_token_key

log = logging.getLogger("bootflow.seed")

DEMO_PROJECT = "demo"
DEMO_USER = "demo"
ADMIN_USER = "admin"

# devstack's first three flavors: (flavorid, name, vcpus, memory_mb, root_gb).
FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
]

IMAGE_NAME = "cirros"
NETWORK_NAME = "private"
SUBNET_NAME = "private-subnet"
SUBNET_CIDR = "10.0.0.0/24"
# The stand-in guest image until a real one is built: a small raw disk with a label.
_STAND_IN_IMAGE_SIZE = 1 << 20

# Settings that `bootflow up` pins in the data dir, so every process and the CLI agree.
PINNED = (
    "database_url",
    "temporal_address",
    "temporal_namespace",
    "temporal_ui_port",
    "codec_server_port",
    "bind_host",
    "identity_port",
    "image_port",
    "network_port",
    "volume_port",
    "compute_port",
    "region",
    "libvirt_uri",
    "deployment_id",
)


def ensure_files(settings: Settings) -> Settings:
    """Create the data dir's config and secrets on first start; the settings they make."""
    root = settings.data_dir
    for sub in ("logs", "run", "images", "volumes", "hosts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    secrets_path = root / SECRETS_FILE
    stored: dict[str, Any] = json.loads(secrets_path.read_text()) if secrets_path.exists() else {}
    fresh: dict[str, Callable[[], str]] = {
        "codec_key": new_codec_key,
        # Unique per key, so payloads name the key that sealed them even across stacks.
        "codec_key_id": lambda: f"k-{secrets.token_hex(4)}",
        "token_key": new_token_key,
        "service_password": lambda: secrets.token_urlsafe(24),
        "admin_password": lambda: secrets.token_urlsafe(16),
        "demo_password": lambda: secrets.token_urlsafe(12),
    }
    if stored.get("codec_key") and not stored.get("codec_key_id"):
        stored["codec_key_id"] = "k1"  # data dirs from before ids were generated sealed with k1
    changed = False
    for key, make in fresh.items():
        if not stored.get(key):
            stored[key] = make()
            changed = True
    if changed:
        write_json_private(secrets_path, stored)
    if not settings.deployment_id:
        # Marks this stack's domains in a libvirtd other stacks on the machine may share.
        settings = settings.model_copy(update={"deployment_id": f"d-{secrets.token_hex(4)}"})
    write_json_private(
        root / CONFIG_FILE, {k: getattr(settings, k) for k in PINNED if getattr(settings, k) != ""}
    )
    return Settings(data_dir=root, **{k: getattr(settings, k) for k in PINNED})


def stored_secret(settings: PathOptions, key: str) -> str:
    value = json.loads((settings.data_dir / SECRETS_FILE).read_text())[key]
    return str(value)


def endpoints(settings: EndpointOptions) -> list[EndpointSeed]:
    return [
        EndpointSeed("identity", "keystone", settings.endpoint("identity")),
        EndpointSeed("image", "glance", settings.endpoint("image")),
        EndpointSeed("network", "neutron", settings.endpoint("network")),
        EndpointSeed("volumev3", "cinderv3", settings.endpoint("volume")),
        EndpointSeed("compute", "nova", settings.endpoint("compute")),
    ]


def migrate_and_seed(settings: Settings) -> None:
    """Migrate the database to the latest schema, then seed it; safe to run again."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        seed_database(settings, make_session_factory(engine))
    finally:
        engine.dispose()


def seed_database(settings: Settings, sessions: SessionFactory) -> None:
    """Identity (users, projects, roles, catalog) and flavors."""
    users = [
        UserSeed(ADMIN_USER, stored_secret(settings, "admin_password"), "admin", ("admin",)),
        UserSeed(
            settings.service_username,
            settings.service_password.get_secret_value(),
            settings.service_project,
            ("admin",),
        ),
        UserSeed(DEMO_USER, stored_secret(settings, "demo_password"), DEMO_PROJECT, ("member",)),
    ]
    bootstrap(sessions, users, endpoints(settings), settings.region)
    with sessions.begin() as session:
        have = set(session.scalars(select(Flavor.name)))
        for flavorid, name, vcpus, memory_mb, root_gb in FLAVORS:
            if name not in have:
                session.add(
                    Flavor(
                        flavorid=flavorid,
                        name=name,
                        vcpus=vcpus,
                        memory_mb=memory_mb,
                        root_gb=root_gb,
                    )
                )


def admin_session(settings: Settings) -> Session:
    return Session(
        Credentials(
            settings.auth_url, ADMIN_USER, stored_secret(settings, "admin_password"), "admin"
        )
    )


def stand_in_image() -> bytes:
    """A 1 MiB raw disk whose first sector says what it is (no guest boots from it)."""
    label = b"bootflow stand-in image: a raw disk with no operating system\n"
    return label + b"\0" * (_STAND_IN_IMAGE_SIZE - len(label))


def seed_cloud(settings: Settings) -> None:
    """The default image and the demo project's network, through the services' APIs."""
    admin = admin_session(settings)
    try:
        _seed_image(ImageClient(admin), settings.guest_dir)
        _seed_network(NetworkClient(admin), _project_id(admin, DEMO_PROJECT))
    finally:
        admin.close()


def _project_id(admin: Session, name: str) -> str:
    projects = admin.request("identity", "GET", "projects", params={"name": name}).json()
    return str(projects["projects"][0]["id"])


def _seed_image(images: ImageClient, guest_dir: Path) -> None:
    guest = guest_manifest(guest_dir)
    if guest is not None:
        _seed_guest(images, guest_dir, guest)
        return
    if any(i["status"] == "active" for i in images.list_images(name=IMAGE_NAME)):
        return
    log.warning(
        "no guest image in %s (make guest builds one): %s is a stand-in disk no guest boots from",
        guest_dir,
        IMAGE_NAME,
    )
    for stale in images.list_images(name=IMAGE_NAME):
        images.delete_image(stale["id"])  # a half-uploaded one from an interrupted start
    data = stand_in_image()
    image = images.create_image(
        name=IMAGE_NAME, disk_format="raw", container_format="bare", visibility="public"
    )
    images.upload(image["id"], io.BytesIO(data))
    got = images.get_image(image["id"])
    if got["checksum"] != hashlib.md5(data, usedforsecurity=False).hexdigest():
        raise RuntimeError(f"image service stored {IMAGE_NAME} with a wrong checksum")


# -- the guest image (guest/build.py) ---------------------------------------------------------


def guest_manifest(guest_dir: Path) -> dict[str, Any] | None:
    """The built guest's manifest, if `make guest` built one and all its files are there."""
    path = guest_dir / "manifest.json"
    if not path.exists():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    if not all((guest_dir / f["path"]).exists() for f in manifest["files"].values()):
        return None
    return manifest


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _upload_file(images: ImageClient, path: Path, **fields: Any) -> dict[str, Any]:
    image = images.create_image(visibility="public", **fields)
    images.upload(image["id"], path)
    got = images.get_image(image["id"])
    if got["checksum"] != _md5(path):
        raise RuntimeError(f"image service stored {fields['name']} with a wrong checksum")
    return got


def _seed_guest(images: ImageClient, guest_dir: Path, guest: dict[str, Any]) -> None:
    """The built guest as the default image: its kernel and ramdisk as AKI/ARI images, its
    disk as qcow2 naming them (kernel_id, ramdisk_id, os_command_line), as Glance holds
    such images. Uploaded once; a rebuilt guest replaces the older images of these names
    (and the stand-in), so the name keeps meaning one image."""
    files = {role: guest_dir / f["path"] for role, f in guest["files"].items()}
    sums = {role: _md5(path) for role, path in files.items()}
    kinds = {"kernel": "aki", "ramdisk": "ari"}
    names = {"kernel": f"{IMAGE_NAME}-kernel", "ramdisk": f"{IMAGE_NAME}-ramdisk"}
    found: dict[str, dict[str, Any]] = {}
    for role in ("kernel", "ramdisk"):
        for image in images.list_images(name=names[role]):
            if image["status"] == "active" and image["checksum"] == sums[role]:
                found[role] = image
    for image in images.list_images(name=IMAGE_NAME):
        if (
            image["status"] == "active"
            and image["checksum"] == sums["disk"]
            and all(image.get(f"{r}_id") == found.get(r, {}).get("id") for r in kinds)
        ):
            return  # up to date
    for role, kind in kinds.items():
        if role not in found:
            found[role] = _upload_file(
                images, files[role], name=names[role], disk_format=kind, container_format=kind
            )
    new = _upload_file(
        images,
        files["disk"],
        name=IMAGE_NAME,
        disk_format="qcow2",
        container_format="bare",
        kernel_id=found["kernel"]["id"],
        ramdisk_id=found["ramdisk"]["id"],
        os_command_line=guest["cmdline"],
        bootflow_ready_marker=guest["ready_marker"],
    )
    keep = {new["id"], found["kernel"]["id"], found["ramdisk"]["id"]}
    for name in (IMAGE_NAME, *names.values()):
        for old in images.list_images(name=name):
            if old["id"] not in keep:
                images.delete_image(old["id"])


def _seed_network(networks: NetworkClient, project_id: str) -> None:
    found = [n for n in networks.list_networks(name=NETWORK_NAME) if n["project_id"] == project_id]
    network = found[0] if found else networks.create_network(NETWORK_NAME, project_id=project_id)
    if not network.get("subnets"):
        networks.create_subnet(network["id"], SUBNET_CIDR, name=SUBNET_NAME, project_id=project_id)


# Whose credentials ``up`` writes, as devstack's ``accrc/<project>/<user>``: (user, project,
# the secrets.json key of the password).
OPENRC_USERS = (
    (ADMIN_USER, "admin", "admin_password"),
    (DEMO_USER, DEMO_PROJECT, "demo_password"),
)


def openrc_path(settings: PathOptions, user: str, project: str) -> Path:
    """A user's openrc in devstack's layout: ``accrc/<project>/<user>``."""
    return settings.data_dir / "accrc" / project / user


def _openrc_text(settings: Settings, user: str, project: str, secret: str) -> str:
    lines = {
        "OS_AUTH_URL": settings.auth_url,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user,
        "OS_PASSWORD": stored_secret(settings, secret),
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": settings.region,
    }
    return f"# bootflow: {user}'s credentials in project {project}. `source` this file.\n" + (
        "".join(f"export {k}={v}\n" for k, v in lines.items())
    )


def write_openrc(settings: Settings) -> Path:
    """Each user's credentials in the shape the openstack CLI reads, owner-only (they hold
    passwords): ``accrc/<project>/<user>`` for the admin and the demo user, and ``openrc``
    (the demo user's, what the README sources), which it returns."""
    demo = settings.data_dir / "openrc"
    for user, project, secret in OPENRC_USERS:
        text = _openrc_text(settings, user, project, secret)
        path = openrc_path(settings, user, project)
        for folder in (path.parent.parent, path.parent):
            folder.mkdir(mode=0o700, exist_ok=True)
            folder.chmod(0o700)
        write_private(path, text)
        if (user, project) == (DEMO_USER, DEMO_PROJECT):
            write_private(demo, text)
    return demo


def read_openrc(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            out[key] = value
    return out
