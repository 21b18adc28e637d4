"""Identity (Keystone v3 subset) through real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.errors import Unauthorized
from clients.session import Credentials, Session, password_auth_body
from tests.support.cloud import PASSWORDS, LoopbackCloud, loopback_cloud


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path) as c:
        yield c


def _issue(
    cloud: LoopbackCloud, user: str, project: str, password: str | None = None
) -> httpx.Response:
    creds = Credentials(cloud.settings.auth_url, user, password or PASSWORDS[user], project)
    return httpx.post(f"{cloud.settings.auth_url}/auth/tokens", json=password_auth_body(creds))


def test_password_token_has_keystone_shape_and_catalog(cloud: LoopbackCloud) -> None:
    response = _issue(cloud, "demo", "demo")
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    body = response.json()["token"]
    assert body["user"]["name"] == "demo"
    assert body["project"]["name"] == "demo"
    assert [r["name"] for r in body["roles"]] == ["member"]
    assert body["expires_at"].endswith("Z")
    types = {s["type"] for s in body["catalog"]}
    assert {"identity", "image", "network", "volumev3", "compute"} <= types
    assert token not in response.text  # the token travels only in the header


def test_wrong_password_unknown_user_and_unassigned_project_are_401(cloud: LoopbackCloud) -> None:
    assert _issue(cloud, "demo", "demo", password="nope").status_code == 401
    assert _issue(cloud, "ghost", "demo", password="x").status_code == 401
    response = _issue(cloud, "demo", "alt")  # demo has no role on alt
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_malformed_auth_body_is_400_not_500(cloud: LoopbackCloud) -> None:
    url = f"{cloud.settings.auth_url}/auth/tokens"
    assert (
        httpx.post(
            url, content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert httpx.post(url, json={"auth": {"identity": "x"}}).status_code == 400
    assert httpx.post(url, json=[]).status_code == 400
    big = {"auth": {"identity": {"methods": ["password"]}}, "pad": "x" * (2 << 20)}
    assert httpx.post(url, json=big).status_code == 413


def test_service_validates_tokens_and_revocation_is_immediate(cloud: LoopbackCloud) -> None:
    user_token = _issue(cloud, "demo", "demo").headers["X-Subject-Token"]
    service = cloud.session("bootflow")
    ok = service.request("identity", "GET", "auth/tokens", headers={"X-Subject-Token": user_token})
    assert ok.json()["token"]["project"]["name"] == "demo"

    head = httpx.head(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": service.token, "X-Subject-Token": user_token},
    )
    assert head.status_code == 200

    revoke = httpx.delete(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": user_token, "X-Subject-Token": user_token},
    )
    assert revoke.status_code == 204
    gone = httpx.get(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": service.token, "X-Subject-Token": user_token},
    )
    assert gone.status_code == 404


def test_altered_token_is_rejected(cloud: LoopbackCloud) -> None:
    token = _issue(cloud, "demo", "demo").headers["X-Subject-Token"]
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    response = httpx.get(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": forged, "X-Subject-Token": forged},
    )
    assert response.status_code == 401


def test_users_validate_only_their_own_tokens(cloud: LoopbackCloud) -> None:
    demo = _issue(cloud, "demo", "demo").headers["X-Subject-Token"]
    alt = _issue(cloud, "alt", "alt").headers["X-Subject-Token"]
    response = httpx.get(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": alt, "X-Subject-Token": demo},
    )
    assert response.status_code == 403


def _project_and_user(
    admin: Session, project_name: str, user_name: str, password: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new project and a user whose default project it is (no role on it yet)."""
    project = admin.request(
        "identity", "POST", "projects", json={"project": {"name": project_name}}
    ).json()["project"]
    body = {"name": user_name, "password": password, "default_project_id": project["id"]}
    user = admin.request("identity", "POST", "users", json={"user": body}).json()["user"]
    return project, user


def _make_member(admin: Session, project: dict[str, Any], user: dict[str, Any]) -> None:
    roles = {r["name"]: r["id"] for r in admin.request("identity", "GET", "roles").json()["roles"]}
    admin.request(
        "identity", "PUT", f"projects/{project['id']}/users/{user['id']}/roles/{roles['member']}"
    )


def test_admin_creates_project_user_and_assigns_role(cloud: LoopbackCloud) -> None:
    admin = cloud.session("admin")
    project, user = _project_and_user(admin, "p2", "u2", "pw2")
    _make_member(admin, project, user)
    u2 = Session(Credentials(cloud.settings.auth_url, "u2", "pw2", "p2"))
    assert u2.token_info().project_id == project["id"]

    with pytest.raises(Exception) as dup:
        admin.request("identity", "POST", "projects", json={"project": {"name": "p2"}})
    assert getattr(dup.value, "status", None) == 409


def test_non_admin_cannot_use_admin_api(cloud: LoopbackCloud) -> None:
    demo = cloud.session("demo")
    with pytest.raises(Exception) as denied:
        demo.request("identity", "GET", "projects")
    assert getattr(denied.value, "status", None) == 403


def test_passwords_are_stored_hashed(cloud: LoopbackCloud) -> None:
    from sqlalchemy import select

    from db.models.identity import User

    with cloud.sessions.begin() as s:
        hashes = list(s.scalars(select(User.password_hash)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(pw in h for h in hashes for pw in PASSWORDS.values())


def test_version_discovery(cloud: LoopbackCloud) -> None:
    root = httpx.get(cloud.urls["identity"] + "/")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3")
    assert httpx.get(cloud.urls["identity"] + "/v3").json()["version"]["status"] == "stable"


def test_bad_session_credentials_raise_unauthorized(cloud: LoopbackCloud) -> None:
    with pytest.raises(Unauthorized):
        Session(Credentials(cloud.settings.auth_url, "demo", "wrong", "demo")).token_info()


def test_unscoped_auth_takes_the_default_project_only_with_a_role_there(
    cloud: LoopbackCloud,
) -> None:
    admin = cloud.session("admin")
    project, user = _project_and_user(admin, "p3", "u3", "pw3")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "u3", "domain": {"id": "default"}, "password": "pw3"}
                },
            }
        }
    }
    url = f"{cloud.settings.auth_url}/auth/tokens"
    before = httpx.post(url, json=body)
    assert before.status_code == 201
    assert "project" not in before.json()["token"]  # no role on p3 yet: unscoped
    _make_member(admin, project, user)
    after = httpx.post(url, json=body)
    assert after.json()["token"]["project"]["id"] == project["id"]


def test_expired_token_is_refused_everywhere(cloud: LoopbackCloud) -> None:
    from services.identity.tokens import TokenProvider

    demo = _issue(cloud, "demo", "demo")
    user_id = demo.json()["token"]["user"]["id"]
    project_id = demo.json()["token"]["project"]["id"]
    # Signed with the service's own key, so only its expiry is wrong.
    expired, _ = TokenProvider(cloud.settings.token_key.get_secret_value(), -60).issue(
        user_id, project_id, ("password",)
    )
    admin = _issue(cloud, "admin", "admin").headers["X-Subject-Token"]
    checked = httpx.get(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": admin, "X-Subject-Token": expired},
    )
    assert checked.status_code == 404
    assert "expired" in checked.json()["error"]["message"]
    used = httpx.get(
        f"{cloud.settings.auth_url}/auth/tokens",
        headers={"X-Auth-Token": expired, "X-Subject-Token": expired},
    )
    assert used.status_code == 401
