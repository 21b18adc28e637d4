"""Keystone's domains, groups and role grants over HTTP: the documents, the rules (a domain
is disabled before it is deleted, and takes its contents with it), and the effective roles
they give (a group's grants are its members'; a role on a domain lets a user scope to it)."""

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


def _call(
    cloud: LoopbackCloud, token: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
    return httpx.request(method, f"{cloud.settings.auth_url}/{path}", headers=headers, **kwargs)


def _auth(
    cloud: LoopbackCloud, user: str, password: str, domain: dict[str, str], scope: Any = None
) -> httpx.Response:
    ref = {"name": user, "domain": domain, "password": password}
    body: dict[str, Any] = {
        "auth": {"identity": {"methods": ["password"], "password": {"user": ref}}}
    }
    if scope is not None:
        body["auth"]["scope"] = scope
    return httpx.post(f"{cloud.settings.auth_url}/auth/tokens", json=body)


def _token(cloud: LoopbackCloud, user: str, project: str | None = None) -> str:
    scope = {"project": {"name": project, "domain": {"id": "default"}}} if project else None
    issued = _auth(cloud, user, PASSWORDS.get(user, f"pw-{user}"), {"id": "default"}, scope)
    assert issued.status_code == 201, issued.text
    return issued.headers["X-Subject-Token"]


def _made(response: httpx.Response, key: str) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()[key]  # type: ignore[no-any-return]


def _create(cloud: LoopbackCloud, admin: str, kind: str, **body: Any) -> dict[str, Any]:
    return _made(_call(cloud, admin, "POST", f"{kind}s", json={kind: body}), kind)


def _role(cloud: LoopbackCloud, admin: str, name: str) -> str:
    return _call(cloud, admin, "GET", "roles", params={"name": name}).json()["roles"][0]["id"]


def test_domain_documents_and_rules_as_keystone(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    made = _call(cloud, admin, "POST", "domains", json={"domain": {"name": "acme"}})
    domain = _made(made, "domain")
    assert set(domain) == {"id", "name", "description", "enabled", "tags", "options", "links"}
    assert domain["enabled"] is True and domain["links"]["self"].endswith(domain["id"])
    dup = _call(cloud, admin, "POST", "domains", json={"domain": {"name": "acme"}})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == 409
    for bad in ({"name": ""}, {"name": "   "}, {"name": "x" * 65}, {"name": "b", "enabled": "no"}):
        refused = _call(cloud, admin, "POST", "domains", json={"domain": bad})
        assert refused.status_code == 400, bad
    names = [d["name"] for d in _call(cloud, admin, "GET", "domains").json()["domains"]]
    assert names == ["Default", "acme"]
    path = f"domains/{domain['id']}"
    change = {"domain": {"description": "d", "enabled": False}}
    patched = _call(cloud, admin, "PATCH", path, json=change)
    assert patched.status_code == 200 and patched.json()["domain"]["enabled"] is False
    disabled = _call(cloud, admin, "GET", "domains", params={"enabled": "false"}).json()
    assert [d["name"] for d in disabled["domains"]] == ["acme"]
    by_name = _call(cloud, admin, "GET", "domains", params={"name": "acme"}).json()["domains"]
    assert [d["description"] for d in by_name] == ["d"]
    # Enabled again, it may not be deleted: Keystone's 403 asks to disable it first.
    _call(cloud, admin, "PATCH", path, json={"domain": {"enabled": True}})
    refused = _call(cloud, admin, "DELETE", path)
    assert refused.status_code == 403 and "disable it first" in refused.json()["error"]["message"]
    _call(cloud, admin, "PATCH", path, json={"domain": {"enabled": False}})
    assert _call(cloud, admin, "DELETE", path).status_code == 204
    assert _call(cloud, admin, "GET", path).status_code == 404
    assert _call(cloud, admin, "DELETE", path).status_code == 404
    # The default domain holds bootflow's own accounts, and every openrc names it: never
    # disabled nor renamed.
    for change in ({"enabled": False}, {"name": "Other"}):
        keep = _call(cloud, admin, "PATCH", "domains/default", json={"domain": change})
        assert keep.status_code == 403, change
    described = {"domain": {"description": "ours"}}
    assert _call(cloud, admin, "PATCH", "domains/default", json=described).status_code == 200
    demo = _token(cloud, "demo", "demo")
    assert _call(cloud, demo, "POST", "domains", json={"domain": {"name": "x"}}).status_code == 403
    assert _call(cloud, demo, "GET", "domains").status_code == 403


def test_projects_and_users_live_in_other_domains(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    domain = _create(cloud, admin, "domain", name="acme")
    project = _create(cloud, admin, "project", name="demo", domain_id=domain["id"])
    assert project["domain_id"] == domain["id"] and project["parent_id"] == domain["id"]
    user = _create(cloud, admin, "user", name="demo", password="pw-acme", domain_id=domain["id"])
    assert user["domain_id"] == domain["id"]
    missing = _call(
        cloud, admin, "POST", "projects", json={"project": {"name": "p", "domain_id": "nope"}}
    )
    assert missing.status_code == 400
    member = _role(cloud, admin, "member")
    grant = f"projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert _call(cloud, admin, "PUT", grant).status_code == 204

    # Same names as the default domain's demo: the domain tells them apart.
    scope = {"project": {"name": "demo", "domain": {"name": "acme"}}}
    issued = _auth(cloud, "demo", "pw-acme", {"name": "acme"}, scope)
    assert issued.status_code == 201, issued.text
    body = issued.json()["token"]
    assert body["user"]["domain"] == {"id": domain["id"], "name": "acme"}
    assert body["project"]["domain"] == {"id": domain["id"], "name": "acme"}
    token = issued.headers["X-Subject-Token"]
    assert _auth(cloud, "demo", "pw-acme", {"id": "default"}).status_code == 401

    # Disabling the domain ends its users' tokens and logins; enabling it brings them back.
    path = f"domains/{domain['id']}"
    _call(cloud, admin, "PATCH", path, json={"domain": {"enabled": False}})
    check = {"X-Subject-Token": token}
    assert _call(cloud, admin, "GET", "auth/tokens", headers=check).status_code == 404
    assert _auth(cloud, "demo", "pw-acme", {"name": "acme"}).status_code == 401
    _call(cloud, admin, "PATCH", path, json={"domain": {"enabled": True}})
    assert _auth(cloud, "demo", "pw-acme", {"name": "acme"}, scope).status_code == 201


def test_deleting_a_domain_deletes_what_is_in_it(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    domain = _create(cloud, admin, "domain", name="doomed")
    project = _create(cloud, admin, "project", name="p", domain_id=domain["id"])
    user = _create(cloud, admin, "user", name="u", password="pw", domain_id=domain["id"])
    group = _create(cloud, admin, "group", name="g", domain_id=domain["id"])
    outsider = _create(cloud, admin, "user", name="outsider", password="pw-outsider")
    member = _role(cloud, admin, "member")
    for path in (
        f"projects/{project['id']}/users/{user['id']}/roles/{member}",
        f"projects/{project['id']}/groups/{group['id']}/roles/{member}",
        f"domains/{domain['id']}/users/{outsider['id']}/roles/{member}",
        f"groups/{group['id']}/users/{outsider['id']}",
    ):
        assert _call(cloud, admin, "PUT", path).status_code == 204
    _call(cloud, admin, "PATCH", f"domains/{domain['id']}", json={"domain": {"enabled": False}})
    assert _call(cloud, admin, "DELETE", f"domains/{domain['id']}").status_code == 204

    for path in (f"projects/{project['id']}", f"users/{user['id']}", f"groups/{group['id']}"):
        assert _call(cloud, admin, "GET", path).status_code == 404, path
    assignments = _call(cloud, admin, "GET", "role_assignments").json()["role_assignments"]
    named = {a.get("user", a.get("group", {})).get("id") for a in assignments}
    assert not named & {user["id"], group["id"], outsider["id"]}
    # The outsider lives in the default domain: kept, in no group now.
    groups = _call(cloud, admin, "GET", f"users/{outsider['id']}/groups").json()["groups"]
    assert groups == []
    # The name is free again.
    again = _call(cloud, admin, "POST", "domains", json={"domain": {"name": "doomed"}})
    assert again.status_code == 201


def test_groups_and_their_members(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    group = _create(cloud, admin, "group", name="ops", description="on call")
    assert set(group) == {"id", "name", "description", "domain_id", "links"}
    assert group["domain_id"] == "default"
    dup = _call(cloud, admin, "POST", "groups", json={"group": {"name": "ops"}})
    assert dup.status_code == 409
    long = _call(cloud, admin, "POST", "groups", json={"group": {"name": "g" * 65}})
    assert long.status_code == 400
    nowhere = _call(cloud, admin, "POST", "groups", json={"group": {"name": "g", "domain_id": "x"}})
    assert nowhere.status_code == 400
    listed = _call(cloud, admin, "GET", "groups", params={"name": "ops"}).json()["groups"]
    assert [g["id"] for g in listed] == [group["id"]]
    renamed = _call(cloud, admin, "PATCH", f"groups/{group['id']}", json={"group": {"name": "sre"}})
    assert renamed.status_code == 200 and renamed.json()["group"]["name"] == "sre"

    demo_id = _call(cloud, admin, "GET", "users", params={"name": "demo"}).json()["users"][0]["id"]
    member = f"groups/{group['id']}/users/{demo_id}"
    assert _call(cloud, admin, "HEAD", member).status_code == 404
    assert _call(cloud, admin, "PUT", member).status_code == 204
    assert _call(cloud, admin, "PUT", member).status_code == 204  # again: no change
    assert _call(cloud, admin, "HEAD", member).status_code == 204
    users = _call(cloud, admin, "GET", f"groups/{group['id']}/users").json()["users"]
    assert [u["name"] for u in users] == ["demo"]
    demo = _token(cloud, "demo", "demo")
    own = _call(cloud, demo, "GET", f"users/{demo_id}/groups").json()["groups"]
    assert [g["name"] for g in own] == ["sre"]
    alt = _token(cloud, "alt", "alt")
    assert _call(cloud, alt, "GET", f"users/{demo_id}/groups").status_code == 404
    assert _call(cloud, demo, "PUT", member).status_code == 403
    assert _call(cloud, admin, "PUT", f"groups/{group['id']}/users/nobody").status_code == 404
    assert _call(cloud, admin, "DELETE", member).status_code == 204
    assert _call(cloud, admin, "DELETE", member).status_code == 404
    assert _call(cloud, admin, "DELETE", f"groups/{group['id']}").status_code == 204
    assert _call(cloud, admin, "GET", f"groups/{group['id']}").status_code == 404


def _grants(cloud: LoopbackCloud, admin: str) -> dict[str, str]:
    """A user ``carol`` (no role of her own), a group ``team`` she is in, two domains
    ``solo`` (her role) and ``shared`` (the group's), and a project ``lab`` (the group's)."""
    ids = {"member": _role(cloud, admin, "member"), "reader": _role(cloud, admin, "reader")}
    ids["carol"] = _create(cloud, admin, "user", name="carol", password="pw-carol")["id"]
    ids["team"] = _create(cloud, admin, "group", name="team")["id"]
    for name in ("solo", "shared", "idle"):
        ids[name] = _create(cloud, admin, "domain", name=name)["id"]
    ids["lab"] = _create(cloud, admin, "project", name="lab")["id"]
    for path in (
        f"groups/{ids['team']}/users/{ids['carol']}",
        f"domains/{ids['solo']}/users/{ids['carol']}/roles/{ids['reader']}",
        f"domains/{ids['shared']}/groups/{ids['team']}/roles/{ids['member']}",
        f"projects/{ids['lab']}/groups/{ids['team']}/roles/{ids['member']}",
    ):
        assert _call(cloud, admin, "PUT", path).status_code == 204, path
    return ids


def test_group_and_domain_roles_are_the_users_scopes(cloud: LoopbackCloud) -> None:
    """Tempest's test_get_available_domain_scopes, and the tokens those scopes give."""
    admin = _token(cloud, "admin", "admin")
    ids = _grants(cloud, admin)
    carol = _token(cloud, "carol")
    domains = _call(cloud, carol, "GET", "auth/domains").json()
    assert sorted(d["id"] for d in domains["domains"]) == sorted([ids["solo"], ids["shared"]])
    assert domains["links"]["self"].endswith("/v3/auth/domains")
    projects = _call(cloud, carol, "GET", "auth/projects").json()["projects"]
    assert [p["id"] for p in projects] == [ids["lab"]]
    mine = _call(cloud, carol, "GET", f"users/{ids['carol']}/projects").json()["projects"]
    assert [p["id"] for p in mine] == [ids["lab"]]

    lab = _auth(cloud, "carol", "pw-carol", {"id": "default"}, {"project": {"id": ids["lab"]}})
    assert [r["name"] for r in lab.json()["token"]["roles"]] == ["member"]
    scoped = _auth(cloud, "carol", "pw-carol", {"id": "default"}, {"domain": {"name": "shared"}})
    assert scoped.status_code == 201, scoped.text
    body = scoped.json()["token"]
    assert body["domain"] == {"id": ids["shared"], "name": "shared"}
    assert "project" not in body and [r["name"] for r in body["roles"]] == ["member"]
    assert isinstance(body["catalog"], list)
    token = scoped.headers["X-Subject-Token"]
    checked = _call(cloud, admin, "GET", "auth/tokens", headers={"X-Subject-Token": token})
    assert checked.status_code == 200 and checked.json()["token"]["domain"]["id"] == ids["shared"]
    # A domain-scoped token sees its own domain, not others, and has no catalog of a project.
    assert _call(cloud, token, "GET", f"domains/{ids['shared']}").status_code == 200
    assert _call(cloud, token, "GET", f"domains/{ids['solo']}").status_code == 403
    assert _call(cloud, token, "GET", "auth/catalog").status_code == 403
    # Rescoped to the other domain with the token method.
    rescope = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"domain": {"id": ids["solo"]}},
        }
    }
    solo = httpx.post(f"{cloud.settings.auth_url}/auth/tokens", json=rescope)
    assert solo.status_code == 201
    assert [r["name"] for r in solo.json()["token"]["roles"]] == ["reader"]

    # No role there, or not enabled: no scope (Keystone's 401).
    for scope in ({"domain": {"id": ids["idle"]}}, {"domain": {"id": "nope"}}):
        assert _auth(cloud, "carol", "pw-carol", {"id": "default"}, scope).status_code == 401
    _call(cloud, admin, "PATCH", f"domains/{ids['shared']}", json={"domain": {"enabled": False}})
    gone = _call(cloud, admin, "GET", "auth/tokens", headers={"X-Subject-Token": token})
    assert gone.status_code == 404
    domains = _call(cloud, carol, "GET", "auth/domains").json()["domains"]
    assert [d["id"] for d in domains] == [ids["solo"]]
    # Out of the group, the group's roles are gone.
    membership = f"groups/{ids['team']}/users/{ids['carol']}"
    assert _call(cloud, admin, "DELETE", membership).status_code == 204
    refused = _auth(cloud, "carol", "pw-carol", {"id": "default"}, {"project": {"id": ids["lab"]}})
    assert refused.status_code == 401
    assert _call(cloud, carol, "GET", "auth/projects").json()["projects"] == []


def test_grants_are_checked_listed_and_taken_back(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _grants(cloud, admin)
    paths = {
        "user on domain": (f"domains/{ids['solo']}/users/{ids['carol']}/roles", ids["reader"]),
        "group on domain": (f"domains/{ids['shared']}/groups/{ids['team']}/roles", ids["member"]),
        "group on project": (f"projects/{ids['lab']}/groups/{ids['team']}/roles", ids["member"]),
    }
    for what, (path, role) in paths.items():
        listed = _call(cloud, admin, "GET", path).json()
        assert [r["id"] for r in listed["roles"]] == [role], what
        assert listed["links"]["self"].endswith(path)
        assert _call(cloud, admin, "HEAD", f"{path}/{role}").status_code == 204, what
        assert _call(cloud, admin, "DELETE", f"{path}/{role}").status_code == 204, what
        assert _call(cloud, admin, "HEAD", f"{path}/{role}").status_code == 404, what
        gone = _call(cloud, admin, "DELETE", f"{path}/{role}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == 404
        assert _call(cloud, admin, "GET", path).json()["roles"] == []
    for missing in (
        f"domains/nope/users/{ids['carol']}/roles/{ids['member']}",
        f"domains/{ids['solo']}/groups/nope/roles/{ids['member']}",
        f"projects/{ids['lab']}/groups/{ids['team']}/roles/nope",
    ):
        answer = _call(cloud, admin, "PUT", missing)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == 404, missing
    demo = _token(cloud, "demo", "demo")
    grant = f"domains/{ids['solo']}/users/{ids['carol']}/roles/{ids['member']}"
    denied = _call(cloud, demo, "PUT", grant)
    assert denied.status_code == 403


def test_role_assignments_filter_and_expand_groups(cloud: LoopbackCloud) -> None:
    admin = _token(cloud, "admin", "admin")
    ids = _grants(cloud, admin)

    def assignments(**params: str) -> list[dict[str, Any]]:
        answer = _call(cloud, admin, "GET", "role_assignments", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["role_assignments"]  # type: ignore[no-any-return]

    on_shared = assignments(**{"scope.domain.id": ids["shared"]})
    assert on_shared == [
        {
            "role": {"id": ids["member"]},
            "group": {"id": ids["team"]},
            "scope": {"domain": {"id": ids["shared"]}},
            "links": {
                "assignment": f"{cloud.settings.auth_url}/domains/{ids['shared']}/groups/"
                f"{ids['team']}/roles/{ids['member']}"
            },
        }
    ]
    assert len(assignments(**{"user.id": ids["carol"]})) == 1  # her own: solo
    effective = assignments(**{"user.id": ids["carol"], "effective": ""})
    scopes = sorted(next(iter(a["scope"].values()))["id"] for a in effective)
    assert scopes == sorted([ids["solo"], ids["shared"], ids["lab"]])
    through = [a for a in effective if "membership" in a["links"]]
    assert len(through) == 2 and all(a["user"] == {"id": ids["carol"]} for a in through)
    assert len(assignments(**{"group.id": ids["team"], "role.id": ids["member"]})) == 2
    assert assignments(**{"scope.project.id": ids["lab"], "role.id": ids["reader"]}) == []
    both = _call(cloud, admin, "GET", "role_assignments", params={"effective": "", "group.id": "x"})
    assert both.status_code == 400


SERVICES = ("identity", "image", "network", "volume", "compute")


def test_domain_scoped_token_is_refused_by_policy_elsewhere(
    database_url: str, tmp_path: Path
) -> None:
    """A domain-scoped token names no project: every service but identity refuses it by
    policy (403 in its own error shape), never a 500; a domain's admin is no cloud admin."""
    with loopback_cloud(database_url, tmp_path, services=SERVICES) as cloud:
        admin = _token(cloud, "admin", "admin")
        domain = _create(cloud, admin, "domain", name="acme")
        demo_id = _call(cloud, admin, "GET", "users", params={"name": "demo"}).json()["users"][0]
        grant = f"domains/{domain['id']}/users/{demo_id['id']}/roles/{_role(cloud, admin, 'admin')}"
        assert _call(cloud, admin, "PUT", grant).status_code == 204
        issued = _auth(
            cloud, "demo", PASSWORDS["demo"], {"id": "default"}, {"domain": {"id": domain["id"]}}
        )
        assert issued.status_code == 201, issued.text
        token = issued.headers["X-Subject-Token"]
        headers = {"X-Auth-Token": token}
        calls = {
            "compute": ("GET", "v2.1/servers", "forbidden"),
            "image": ("GET", "v2/images", "title"),
            "network": ("GET", "v2.0/networks", "NeutronError"),
            "volume": ("GET", "v3/volumes", "forbidden"),
        }
        for service, (method, path, key) in calls.items():
            answer = httpx.request(method, f"{cloud.urls[service]}/{path}", headers=headers)
            assert answer.status_code == 403, (service, answer.text)
            if key is not None:
                assert key in answer.json(), (service, answer.text)
        # Identity takes it, but its admin role is the domain's, not the cloud's.
        assert _call(cloud, token, "GET", "auth/domains").status_code == 200
        assert _call(cloud, token, "GET", "projects").status_code == 403
        assert _call(cloud, token, "GET", "domains").status_code == 403


def test_nul_characters_are_refused_not_a_500(cloud: LoopbackCloud) -> None:
    """PostgreSQL cannot store or compare text with NUL in it (SQLite can): a name, filter
    or id with one is the client's 400 there, never a 500."""
    admin = _token(cloud, "admin", "admin")
    answers = [
        _call(cloud, admin, "GET", "groups", params={"name": "a\x00"}),
        _call(cloud, admin, "GET", "users", params={"name": "a\x00"}),
        _call(cloud, admin, "GET", "domains/a%00b"),
        _call(cloud, admin, "POST", "groups", json={"group": {"name": "a\x00b"}}),
        _call(cloud, admin, "POST", "domains", json={"domain": {"name": "a\x00b"}}),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201, 400, 404), answer.text
        assert "error" not in answer.json() or answer.json()["error"]["code"] < 500
