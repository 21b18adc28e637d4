"""Identity beyond tokens: rescoping, the caller's scopes, domains, deleting users,
projects and roles, as Keystone answers them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cloud import PASSWORDS, LoopbackCloud, loopback_cloud


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path) as c:
        yield c


def _auth(cloud: LoopbackCloud, identity: dict[str, Any], scope: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"auth": {"identity": identity}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return httpx.post(f"{cloud.settings.auth_url}/auth/tokens", json=body)


def _password(user: str, password: str | None = None) -> dict[str, Any]:
    ref = {"name": user, "domain": {"id": "default"}, "password": password or PASSWORDS[user]}
    return {"methods": ["password"], "password": {"user": ref}}


def _by_token(token: str) -> dict[str, Any]:
    return {"methods": ["token"], "token": {"id": token}}


def _project_scope(name: str) -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"id": "default"}}}


def _token(cloud: LoopbackCloud, user: str, project: str | None = None) -> str:
    scope = _project_scope(project) if project else None
    response = _auth(cloud, _password(user), scope)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def _call(
    cloud: LoopbackCloud, token: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
    url = f"{cloud.settings.auth_url}/{path}"
    return httpx.request(method, url, headers=headers, **kwargs)


def _validate(cloud: LoopbackCloud, admin: str, subject: str) -> httpx.Response:
    return _call(cloud, admin, "GET", "auth/tokens", headers={"X-Subject-Token": subject})


def _new_member(cloud: LoopbackCloud, admin: str, user: str, *projects: str) -> dict[str, str]:
    """A user ``user`` (password ``pw-<user>``) with the member role on new ``projects``."""
    ids = {}
    for name in projects:
        made = _call(cloud, admin, "POST", "projects", json={"project": {"name": name}})
        ids[name] = made.json()["project"]["id"]
    made = _call(
        cloud, admin, "POST", "users", json={"user": {"name": user, "password": f"pw-{user}"}}
    )
    ids[user] = made.json()["user"]["id"]
    member = _call(cloud, admin, "GET", "roles", params={"name": "member"}).json()["roles"][0]
    ids["member"] = member["id"]
    for name in projects:
        path = f"projects/{ids[name]}/users/{ids[user]}/roles/{member['id']}"
        assert _call(cloud, admin, "PUT", path).status_code == 204
    return ids


def test_unscoped_token_rescopes_to_each_project_keeping_expiry_and_user(
    cloud: LoopbackCloud,
) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _new_member(cloud, admin, "carol", "red", "blue")
    first = _auth(cloud, _password("carol", "pw-carol"))
    unscoped = first.headers["X-Subject-Token"]
    original = first.json()["token"]
    assert "project" not in original and "catalog" not in original

    red = _auth(cloud, _by_token(unscoped), _project_scope("red"))
    assert red.status_code == 201
    body = red.json()["token"]
    assert body["expires_at"] == original["expires_at"]
    assert set(body["methods"]) == {"password", "token"}
    assert body["user"] == original["user"]
    assert body["project"]["id"] == ids["red"]
    assert [r["id"] for r in body["roles"]] == [ids["member"]]
    assert isinstance(body["catalog"], list)
    assert body["audit_ids"][1] == original["audit_ids"][0]

    # Revoking the rescoped token leaves the one it came from usable.
    red_token = red.headers["X-Subject-Token"]
    revoked = _call(cloud, admin, "DELETE", "auth/tokens", headers={"X-Subject-Token": red_token})
    assert revoked.status_code == 204
    assert _validate(cloud, admin, red_token).status_code == 404
    blue = _auth(cloud, _by_token(unscoped), {"project": {"id": ids["blue"]}})
    assert blue.json()["token"]["project"]["name"] == "blue"


def test_rescope_refuses_bad_tokens_and_foreign_scopes(cloud: LoopbackCloud) -> None:
    demo = _token(cloud, "demo")
    bad = _auth(cloud, _by_token("not-a-token"), _project_scope("demo"))
    assert bad.status_code == 404
    assert bad.json()["error"]["message"].startswith("Could not find token")
    admin = _token(cloud, "admin", "admin")
    revoke = {"X-Subject-Token": demo}
    assert _call(cloud, admin, "DELETE", "auth/tokens", headers=revoke).status_code == 204
    assert _auth(cloud, _by_token(demo), _project_scope("demo")).status_code == 404
    demo = _token(cloud, "demo")
    assert _auth(cloud, _by_token(demo), _project_scope("alt")).status_code == 401
    domain_scope = {"domain": {"id": "default"}}
    assert _auth(cloud, _by_token(demo), domain_scope).status_code == 401
    assert _auth(cloud, {"methods": ["token"]}).status_code == 401
    assert _auth(cloud, {"methods": ["token"], "token": {"id": ""}}).status_code == 400


def test_auth_projects_lists_where_the_caller_has_roles(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _new_member(cloud, admin, "dave", "green", "gray")
    dave = _auth(cloud, _password("dave", "pw-dave")).headers["X-Subject-Token"]
    listed = _call(cloud, dave, "GET", "auth/projects")
    assert listed.status_code == 200
    body = listed.json()
    assert sorted(p["id"] for p in body["projects"]) == sorted([ids["green"], ids["gray"]])
    assert body["links"]["self"].endswith("/v3/auth/projects")
    domains = _call(cloud, dave, "GET", "auth/domains").json()
    assert domains["domains"] == []
    assert _call(cloud, "bogus", "GET", "auth/projects").status_code == 401


def test_domains_show_the_default_domain_to_admins_and_its_users(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    listed = _call(cloud, admin, "GET", "domains").json()
    assert [d["id"] for d in listed["domains"]] == ["default"]
    assert _call(cloud, admin, "GET", "domains", params={"name": "nope"}).json()["domains"] == []
    shown = _call(cloud, admin, "GET", "domains/default").json()["domain"]
    assert shown["name"] == "Default" and shown["enabled"] is True
    missing = _call(cloud, admin, "GET", "domains/elsewhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404

    demo = _token(cloud, "demo", "demo")
    assert _call(cloud, demo, "GET", "domains").status_code == 403
    assert _call(cloud, demo, "GET", "domains/default").status_code == 200


def test_deleting_a_user_ends_its_tokens(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _new_member(cloud, admin, "erin", "orange")
    erin = _auth(cloud, _password("erin", "pw-erin"), _project_scope("orange"))
    token = erin.headers["X-Subject-Token"]
    assert (
        _call(cloud, _token(cloud, "demo", "demo"), "DELETE", f"users/{ids['erin']}").status_code
        == 403
    )
    assert _call(cloud, admin, "DELETE", f"users/{ids['erin']}").status_code == 204
    assert _validate(cloud, admin, token).status_code == 404
    assert _call(cloud, admin, "GET", f"users/{ids['erin']}").status_code == 404
    again = _call(cloud, admin, "DELETE", f"users/{ids['erin']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == 404
    assert _auth(cloud, _password("erin", "pw-erin")).status_code == 401
    # The name is free again.
    made = _call(cloud, admin, "POST", "users", json={"user": {"name": "erin", "password": "x"}})
    assert made.status_code == 201


def test_deleting_a_project_ends_its_tokens_and_assignments(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _new_member(cloud, admin, "frank", "violet", "indigo")
    unscoped = _auth(cloud, _password("frank", "pw-frank")).headers["X-Subject-Token"]
    violet = _auth(cloud, _by_token(unscoped), _project_scope("violet")).headers["X-Subject-Token"]
    demo = _token(cloud, "demo", "demo")
    assert _call(cloud, demo, "DELETE", f"projects/{ids['violet']}").status_code == 403
    assert _call(cloud, admin, "DELETE", f"projects/{ids['violet']}").status_code == 204

    assert _validate(cloud, admin, violet).status_code == 404
    assert _validate(cloud, admin, unscoped).status_code == 200  # not scoped to it
    assert _call(cloud, admin, "GET", f"projects/{ids['violet']}").status_code == 404
    assert _call(cloud, admin, "DELETE", f"projects/{ids['violet']}").status_code == 404
    assert _auth(cloud, _by_token(unscoped), _project_scope("violet")).status_code == 401
    left = _call(cloud, unscoped, "GET", "auth/projects").json()["projects"]
    assert [p["id"] for p in left] == [ids["indigo"]]


def test_roles_are_created_taken_back_and_deleted(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _new_member(cloud, admin, "gina", "teal")
    made = _call(cloud, admin, "POST", "roles", json={"role": {"name": "auditor"}})
    assert made.status_code == 201
    role = made.json()["role"]
    dup = _call(cloud, admin, "POST", "roles", json={"role": {"name": "auditor"}})
    assert dup.status_code == 409
    assert _call(cloud, admin, "POST", "roles", json={"role": {"name": ""}}).status_code == 400
    demo = _token(cloud, "demo", "demo")
    assert _call(cloud, demo, "POST", "roles", json={"role": {"name": "x"}}).status_code == 403

    grant = f"projects/{ids['teal']}/users/{ids['gina']}/roles/{role['id']}"
    assert _call(cloud, admin, "PUT", grant).status_code == 204
    assert _call(cloud, admin, "DELETE", grant).status_code == 204
    assert _call(cloud, admin, "DELETE", grant).status_code == 404
    assert _call(cloud, admin, "PUT", grant).status_code == 204
    assert _call(cloud, admin, "DELETE", f"roles/{role['id']}").status_code == 204
    assert _call(cloud, admin, "GET", f"roles/{role['id']}").status_code == 404
    gina = _auth(cloud, _password("gina", "pw-gina"), _project_scope("teal")).json()["token"]
    assert [r["name"] for r in gina["roles"]] == ["member"]
