"""Something a service depends on is down or restarting: it answers 503, in its own error
shape, with ``Retry-After`` and a message naming what was unavailable, never a 500; and
once the dependency is back, it answers as before.

Every service runs over real HTTP on loopback; the dependency is stopped for real (its
port closed, or the PostgreSQL server shut down).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.session import Credentials, password_auth_body
from db import session as session_module
from db.migrate import upgrade
from services.common.app import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from tests.support.cloud import PASSWORDS, LoopbackCloud, loopback_cloud
from tests.support.postgres import (
    cluster_stopped,
    create_database,
    restart_cluster,
    throwaway_cluster,
)

SERVICES = ("identity", "image", "network", "volume", "compute")

# Each service's 503 document for a message, exactly (Glance's is webob's).
UNAVAILABLE: dict[str, Callable[[str], dict[str, Any]]] = {
    "identity": lambda m: {"error": {"code": 503, "message": m, "title": "Service Unavailable"}},
    "image": lambda m: {
        "message": m,
        "code": "503 Service Unavailable",
        "title": "Service Unavailable",
    },
    "network": lambda m: {
        "NeutronError": {"type": "HTTPServiceUnavailable", "message": m, "detail": ""}
    },
    "volume": lambda m: {"serviceUnavailable": {"code": 503, "message": m}},
    "compute": lambda m: {"serviceUnavailable": {"code": 503, "message": m}},
}


def _message(body: Any) -> str:
    """The ``message`` of an error document, wherever its shape keeps it."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        for value in body.values():
            found = _message(value)
            if found:
                return found
    return ""


def assert_unavailable(service: str, response: httpx.Response, naming: str) -> None:
    """A 503 in ``service``'s own shape, asking to retry later, saying ``naming``."""
    assert response.status_code == 503, (service, response.status_code, response.text)
    body = response.json()
    message = _message(body)
    assert body == UNAVAILABLE[service](message), (service, body)
    assert naming in message, (service, message)
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS), service


# A read each service answers to any member of the project.
READS = {
    "image": "v2/images",
    "network": "v2.0/networks",
    "volume": "v3/{project}/volumes",
    "compute": "v2.1/servers",
}


def _reads(cloud: LoopbackCloud, project_id: str) -> dict[str, str]:
    """The URL of each read the cloud serves, for a member of ``project_id``."""
    return {
        service: f"{cloud.urls[service]}/{path.format(project=project_id)}"
        for service, path in READS.items()
        if service in cloud.urls
    }


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=SERVICES) as c:
        yield c


def test_identity_down_is_a_503_from_every_service_and_nothing_after_it_is_back(
    cloud: LoopbackCloud,
) -> None:
    """As keystonemiddleware: a token that cannot be validated because identity is down is
    neither refused (401) nor an error of the service's own (500)."""
    demo = cloud.session("demo")
    token, project = demo.token, demo.token_info().project_id
    reads = _reads(cloud, project)
    with cloud.stopped("identity"):
        for service, url in reads.items():
            answer = httpx.get(url, headers={"X-Auth-Token": token})
            assert_unavailable(service, answer, "The identity service could not be reached")
    for service, url in reads.items():
        answer = httpx.get(url, headers={"X-Auth-Token": token})
        assert answer.status_code == 200, (service, answer.text)


def test_a_service_that_a_request_needs_being_down_is_a_503_naming_it(
    cloud: LoopbackCloud,
) -> None:
    """The compute API finding the project's network, and the volume service checking an
    image, while the network or image service is down."""
    demo = cloud.session("demo")
    token, project = demo.token, demo.token_info().project_id
    headers = {"X-Auth-Token": token}
    for service, url in _reads(cloud, project).items():  # every caller's token is cached
        assert httpx.get(url, headers=headers).status_code == 200, service
    with cloud.stopped("network"):
        create = httpx.post(
            f"{cloud.urls['compute']}/v2.1/servers",
            headers=headers | {"OpenStack-API-Version": "compute 2.37"},
            json={
                "server": {
                    "name": "vm",
                    "flavorRef": "1",
                    "imageRef": str(uuid.uuid4()),
                    "networks": "auto",
                }
            },
        )
        assert_unavailable("compute", create, "The network service could not be reached")
    with cloud.stopped("image"):
        volume = httpx.post(
            f"{cloud.urls['volume']}/v3/{project}/volumes",
            headers=headers,
            json={"volume": {"size": 1, "imageRef": str(uuid.uuid4())}},
        )
        assert_unavailable("volume", volume, "The image service could not be reached")


@pytest.fixture
def postgres_cloud(tmp_path: Path) -> Iterator[tuple[str, LoopbackCloud]]:
    """A cloud on a PostgreSQL cluster of its own (restarting the suite's would disturb
    the other tests' stacks); token validations cached for the whole test, so a service's
    reads go to the database and not to identity."""
    with throwaway_cluster() as admin_url:
        url = create_database(admin_url, "outages")
        upgrade(url)
        services = ("identity", "network", "compute")
        with loopback_cloud(url, tmp_path, services, token_cache_seconds=3600) as cloud:
            yield admin_url, cloud


def test_postgresql_restarting_is_a_503_and_a_restart_goes_unnoticed(
    postgres_cloud: tuple[str, LoopbackCloud],
) -> None:
    """Pooled connections from before a restart are replaced before use (pre-ping), so the
    first request after it is answered; while the server is down, a 503."""
    admin_url, cloud = postgres_cloud
    demo = cloud.session("demo")
    token, project = demo.token, demo.token_info().project_id
    headers = {"X-Auth-Token": token}
    reads = _reads(cloud, project)
    auth = password_auth_body(
        Credentials(cloud.settings.auth_url, "demo", PASSWORDS["demo"], "demo")
    )

    def issue_token() -> httpx.Response:
        return httpx.post(f"{cloud.urls['identity']}/v3/auth/tokens", json=auth)

    def answers() -> dict[str, int]:
        codes = {
            service: httpx.get(url, headers=headers).status_code for service, url in reads.items()
        }
        return codes | {"identity": issue_token().status_code}

    every_one_answers = {"network": 200, "compute": 200, "identity": 201}
    assert answers() == every_one_answers  # each holds pooled connections now
    restart_cluster(admin_url)
    assert answers() == every_one_answers

    with cluster_stopped(admin_url):
        for service, url in reads.items():
            down = httpx.get(url, headers=headers)
            assert_unavailable(service, down, DATABASE_UNAVAILABLE)
        assert_unavailable("identity", issue_token(), DATABASE_UNAVAILABLE)
    assert answers() == every_one_answers


def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_a_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stopped mid-transaction (SIGSTOP) holds SQLite's write lock: each
    request waits the busy timeout, then hears the database is busy, not a 500."""
    monkeypatch.setattr(session_module, "SQLITE_BUSY_TIMEOUT_MS", 500)
    url = f"sqlite:///{tmp_path / 'bootflow.db'}"
    upgrade(url)
    with loopback_cloud(url, tmp_path, services=("identity", "network")) as cloud:
        demo = cloud.session("demo")
        reads = _reads(cloud, demo.token_info().project_id)
        # Validated now, so the request below waits for the network service's database only.
        assert httpx.get(reads["network"], headers={"X-Auth-Token": demo.token}).is_success
        stalled = sqlite3.connect(tmp_path / "bootflow.db", isolation_level=None)
        stalled.execute("BEGIN IMMEDIATE")
        try:
            answer = httpx.get(reads["network"], headers={"X-Auth-Token": demo.token})
            assert_unavailable("network", answer, "The database is unavailable")
        finally:
            stalled.execute("ROLLBACK")
            stalled.close()
        answer = httpx.get(reads["network"], headers={"X-Auth-Token": demo.token})
        assert answer.status_code == 200, answer.text
