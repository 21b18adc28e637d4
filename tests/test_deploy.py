"""docker-compose.yml, the Dockerfile and what they rely on, checked without a Docker engine.

``docker-compose config`` (Debian's docker-compose, installed by
scripts/install-system-deps.sh) validates the file and resolves it; the resolved services
are then checked against bootflow itself: every bootflow container runs a real ``bootflow``
command with valid arguments, reads only real settings, and its catalog URLs name the
compose services that serve them; the start order is what docs/deploy.md says. The
PostgreSQL init script runs against a real PostgreSQL, and the schema migrates as the role
it creates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from bootflow.cli.main import cli
from bootflow.deploy import new_secrets
from core.config import Settings
from db.migrate import current, upgrade
from tests.support.postgres import throwaway_cluster

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
BOOTFLOW = str(Path(sys.executable).parent / "bootflow")

ONE_SHOT = {"temporal-schema", "temporal-namespace", "bootflow-init", "bootflow-seed"}
COMPUTE_WORKERS = {"compute-hv1": "hv1", "compute-hv2": "hv2"}
SERVICE_PORTS = {
    "identity": 5000,
    "image": 9292,
    "network": 9696,
    "volume": 8776,
    "compute-api": 8774,
}
# (service, what it waits for, the condition): the start order docs/deploy.md describes.
ORDER = [
    ("temporal-schema", "postgresql", "service_healthy"),
    ("temporal", "temporal-schema", "service_completed_successfully"),
    ("temporal-namespace", "temporal", "service_healthy"),
    ("temporal-ui", "temporal", "service_healthy"),
    ("bootflow-init", "postgresql", "service_healthy"),
    ("bootflow-init", "temporal-namespace", "service_completed_successfully"),
    ("identity", "bootflow-init", "service_completed_successfully"),
    ("image", "identity", "service_healthy"),
    ("network", "identity", "service_healthy"),
    ("volume", "identity", "service_healthy"),
    ("compute-api", "identity", "service_healthy"),
    ("bootflow-seed", "identity", "service_healthy"),
    ("bootflow-seed", "image", "service_healthy"),
    ("bootflow-seed", "network", "service_healthy"),
    ("control-worker", "bootflow-init", "service_completed_successfully"),
    ("control-worker", "identity", "service_healthy"),
    *(
        (worker, needed, condition)
        for worker in COMPUTE_WORKERS
        for needed, condition in (
            ("bootflow-init", "service_completed_successfully"),
            ("identity", "service_healthy"),
            ("image", "service_healthy"),
            ("network", "service_healthy"),
            ("compute-api", "service_healthy"),
        )
    ),
]


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is missing: scripts/install-system-deps.sh installs it")
    return found


def compose_config(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose(), "-f", str(COMPOSE), "--env-file", str(env_file), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # nothing from the test's environment is interpolated
    )


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secrets as `bootflow init --new-secrets` prints them (through the real command)."""
    out = subprocess.run(
        [BOOTFLOW, "init", "--new-secrets"], capture_output=True, text=True, check=True
    ).stdout
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text(out)
    return path


@pytest.fixture(scope="module")
def resolved(env_file: Path) -> dict[str, Any]:
    result = compose_config(env_file)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def bootflow_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in config["services"].items()
        if str(svc.get("image", "")).startswith("bootflow:")
    }


def test_compose_file_is_valid(env_file: Path) -> None:
    result = compose_config(env_file, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(empty, "-q")
    assert result.returncode != 0
    assert "bootflow init --new-secrets" in result.stderr


def test_every_required_variable_is_one_new_secrets_makes() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required and required <= set(new_secrets())


def test_services_and_their_start_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-namespace",
        "temporal-ui",
        "bootflow-init",
        *SERVICE_PORTS,
        "bootflow-seed",
        "codec-server",
        "control-worker",
        *COMPUTE_WORKERS,
    }
    for name, needed, condition in ORDER:
        assert services[name]["depends_on"][needed] == {"condition": condition}, (name, needed)
    for name, svc in services.items():
        for needed, how in svc.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits on {needed}'s health"
            if how["condition"] == "service_completed_successfully":
                assert needed in ONE_SHOT
        if name in ONE_SHOT:
            assert svc["restart"].startswith("on-failure"), name
        else:
            assert svc["restart"] == "unless-stopped", name


def test_temporal_runs_on_the_postgresql_service(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/server:")
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert "temporal-sql-tool --plugin postgres12" in services["temporal-schema"]["command"][0]
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def _leaf(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command ``argv`` names, and its own arguments."""
    assert argv[0] == "bootflow", argv
    command: click.Command = cli
    args = list(argv[1:])
    while isinstance(command, click.Group):
        name = args.pop(0)
        assert name in command.commands, f"`bootflow ... {name}` is not a command: {argv}"
        command = command.commands[name]
    return command, args


def test_every_bootflow_container_runs_a_real_command(resolved: dict[str, Any]) -> None:
    containers = bootflow_services(resolved)
    assert len(containers) == 11
    roles = set()
    for name, svc in containers.items():
        command, args = _leaf(svc["command"])
        # Parses and checks the arguments (choices, required options) without running it.
        command.make_context(command.name or name, list(args))
        roles.add(" ".join(svc["command"][:3]))
    assert roles >= {
        "bootflow run service",
        "bootflow run control-worker",
        "bootflow run compute-worker",
        "bootflow run codec-server",
        "bootflow init database",
        "bootflow init cloud",
    }


def test_containers_read_only_real_settings(resolved: dict[str, Any], tmp_path: Path) -> None:
    known = {f"BOOTFLOW_{name.upper()}" for name in Settings.model_fields}
    known |= {"BOOTFLOW_AUTH_URL"}  # read by Settings.auth_url
    for name, svc in bootflow_services(resolved).items():
        env = svc["environment"]
        unknown = {k for k in env if k.startswith("BOOTFLOW_")} - known
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
        settings = Settings(data_dir=tmp_path, **_fields(env))
        assert settings.temporal_address == "temporal:7233"
        # A compute host is not given the database: it goes through the conductor API.
        database = "" if name in COMPUTE_WORKERS else "postgresql"
        assert (urlsplit(settings.database_url).hostname or "") == database, name
        assert settings.bind_host == "0.0.0.0"


def _fields(env: dict[str, str]) -> dict[str, Any]:
    """Settings keyword arguments from a container's BOOTFLOW_* and TEMPORAL_* variables."""
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("BOOTFLOW_") and key not in ("BOOTFLOW_AUTH_URL", "BOOTFLOW_DATA_DIR"):
            out[key.removeprefix("BOOTFLOW_").lower()] = value
        elif key.startswith("TEMPORAL_"):
            out[key.lower()] = value
    return out


def test_catalog_urls_name_the_services_that_serve_them(
    resolved: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = resolved["services"]
    env = services["bootflow-init"]["environment"]
    monkeypatch.setenv("BOOTFLOW_AUTH_URL", env["BOOTFLOW_AUTH_URL"])
    settings = Settings(data_dir=tmp_path, **_fields(env))
    for service, compose_name in (
        ("identity", "identity"),
        ("image", "image"),
        ("network", "network"),
        ("volume", "volume"),
        ("compute", "compute-api"),
    ):
        url = urlsplit(settings.endpoint(service))
        assert url.hostname == compose_name, (service, url)
        assert url.port == SERVICE_PORTS[compose_name]
        assert services[compose_name]["command"][-1] == service
        published = {(p["published"], p["target"]) for p in services[compose_name]["ports"]}
        assert (url.port, url.port) in published
    # Both write the same catalog; the seed also reads the guest the Docker host built.
    seed_env = services["bootflow-seed"]["environment"]
    assert seed_env == env | {"BOOTFLOW_GUEST_DIR": "/opt/bootflow-guest"}
    assert any(
        str(v).split(":")[:2][-1] == "/opt/bootflow-guest" and "/.guest" in str(v)
        for v in services["bootflow-seed"]["volumes"]
    ), services["bootflow-seed"]["volumes"]
    assert "BOOTFLOW_TOKEN_KEY" in services["identity"]["environment"]
    others = [n for n in bootflow_services(resolved) if n != "identity"]
    assert all("BOOTFLOW_TOKEN_KEY" not in services[n]["environment"] for n in others)


def test_compute_workers_each_have_a_host_name_and_the_libvirt_socket(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    for name, host in COMPUTE_WORKERS.items():
        svc = services[name]
        assert svc["hostname"] == host
        assert svc["command"][-2:] == ["--host", host]
        volumes = [str(v) for v in svc["volumes"]]
        assert any(
            "/var/run/libvirt/libvirt-sock:/var/run/libvirt/libvirt-sock" in v for v in volumes
        )
        own = f"/var/lib/bootflow/hosts/{host}"
        assert any(v.startswith(f"{own}:{own}") for v in volumes), volumes  # same path as QEMU's
        assert svc["environment"]["BOOTFLOW_LIBVIRT_URI"] == "qemu:///system"
        assert svc["environment"]["BOOTFLOW_DATA_DIR"] == "/var/lib/bootflow"


def test_dockerfile_builds_every_package_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim-bookworm" in text
    for package in ("libvirt-dev", "pkg-config", "qemu-utils", "genisoimage", "libvirt0"):
        assert package in text
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", text, re.MULTILINE))
    assert {p.rstrip("*") for p in packages} <= copied
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_postgres_init_script_makes_the_databases_bootflow_migrates(tmp_path: Path) -> None:
    script = ROOT / "deploy" / "postgres" / "init-databases.sh"
    with throwaway_cluster() as admin_url:
        port = str(urlsplit(admin_url).port)
        env = {
            "PATH": "/usr/bin:/bin",
            "PGHOST": "127.0.0.1",
            "PGPORT": port,
            "POSTGRES_USER": "postgres",
            "BOOTFLOW_DB_PASSWORD": "pw-from-env",
        }
        done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        url = f"postgresql://bootflow:pw-from-env@127.0.0.1:{port}/bootflow"
        upgrade(url)
        assert current(url) is not None
        listed = subprocess.run(
            ["psql", "-tAc", "SELECT datname FROM pg_database ORDER BY 1", "-U", "postgres"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert {"bootflow", "temporal_visibility"} <= set(listed)


def test_init_without_secrets_says_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [BOOTFLOW, "--data-dir", str(tmp_path), "init", "database"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "BOOTFLOW_SERVICE_PASSWORD" in result.stderr
    assert "bootflow init --new-secrets" in result.stderr


def test_no_create_all_in_production_code() -> None:
    """The schema comes from Alembic migrations only (`bootflow db upgrade`/`init`/`up`)."""
    packages = ("bootflow", "workflows", "activities", "workers", "db", "services", "clients")
    found = [
        str(path.relative_to(ROOT))
        for package in (*packages, "compute", "scheduler")
        for path in (ROOT / package).rglob("*.py")
        if "create_all(" in path.read_text()
    ]
    assert found == []


def test_catalog_urls_default_to_the_embedded_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, each catalog URL is http://<bind host>:<port>[/version], as `bootflow up` has
    always written it; set, it is taken as given."""
    monkeypatch.delenv("BOOTFLOW_AUTH_URL", raising=False)
    settings = Settings(data_dir=tmp_path, bind_host="127.0.0.1")
    assert [
        settings.endpoint(s) for s in ("identity", "image", "network", "volume", "compute")
    ] == [
        "http://127.0.0.1:5000/v3",
        "http://127.0.0.1:9292",
        "http://127.0.0.1:9696",
        "http://127.0.0.1:8776/v3",
        "http://127.0.0.1:8774/v2.1",
    ]
    given = Settings(data_dir=tmp_path, image_url="https://images.example/")
    assert given.endpoint("image") == "https://images.example"
