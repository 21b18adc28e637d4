"""Key pairs (``/os-keypairs``) as Nova has them, checked against Tempest 47.0.0's own
response schemas, and a key pair at server create (``key_name``)."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import delete
from tempest.lib.api_schema.response.compute.v2_1 import keypairs as schema_v21
from tempest.lib.api_schema.response.compute.v2_2 import keypairs as schema_v22
from tempest.lib.common.rest_client import RestClient

from core.messages import BootRequest
from db.migrate import upgrade
from db.models.compute import Flavor, Instance, KeyPair, QuotaLimit
from tests.support.cloud import LoopbackCloud, loopback_cloud
from tests.support.databases import BACKENDS, new_database

IMAGE = "0b8e6d41-4f64-4b1b-9f5c-6a3f2d1e0c9b"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopbackCloud]:
    """One cloud a backend (a cloud takes seconds to start); each test empties its tables."""
    data_dir = tmp_path_factory.mktemp(f"keypairs-{request.param}")
    url = new_database(request.param, data_dir, request)
    upgrade(url)
    with loopback_cloud(url, data_dir, services=("identity", "network", "compute")) as c:
        with c.sessions.begin() as s:
            s.add(Flavor(flavorid="1", name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1))
        yield c


@pytest.fixture
def cloud(shared_cloud: LoopbackCloud) -> LoopbackCloud:
    with shared_cloud.sessions.begin() as s:
        for table in (KeyPair, QuotaLimit, Instance):
            s.execute(delete(table))
    return shared_cloud


def _api(
    cloud: LoopbackCloud, method: str, path: str, *, user: str = "demo", version: str = "2.1",
    **kwargs: Any,
) -> httpx.Response:  # fmt: skip
    sessions: dict[str, Any] = cloud.__dict__.setdefault("_keypair_sessions", {})
    if user not in sessions:
        sessions[user] = cloud.session(user)
    session = sessions[user]
    headers = {"X-Auth-Token": session.token, "OpenStack-API-Version": f"compute {version}"}
    return httpx.request(method, f"{session.endpoint('compute')}/{path}", headers=headers, **kwargs)


def _user_id(cloud: LoopbackCloud, user: str) -> str:
    user_id: str = cloud.session(user).token_info().user_id
    return user_id


class _Resp:
    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code


def _valid(schema: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    """The body, once Tempest's own check of status and body passes."""
    assert response.status_code < 400, response.text
    body = response.json() if response.content else None
    RestClient.validate_response(schema, _Resp(response), body)
    return body or {}


def _schemas(version: str) -> Any:
    return schema_v21 if version == "2.1" else schema_v22


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    (body,) = response.json().values()
    message: str = body["message"]
    return message


def ssh_key(comment: str = "me@laptop") -> tuple[str, str]:
    """An OpenSSH public key and its MD5 fingerprint as ssh-keygen -l -E md5 prints it."""
    public = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    digest = hashlib.md5(base64.b64decode(public.split()[1]), usedforsecurity=False).hexdigest()
    return f"{public} {comment}", ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def _certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "me")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(__import__("datetime").datetime(2026, 1, 1))
        .not_valid_after(__import__("datetime").datetime(2036, 1, 1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    digest = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - as Nova prints it
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return pem, ":".join(digest[i : i + 2] for i in range(0, 40, 2))


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.10", "2.35", "2.91", "2.92", "2.96"])
def test_import_list_show_delete_match_tempest(cloud: LoopbackCloud, version: str) -> None:
    schemas = _schemas(version)
    public_key, printed = ssh_key()
    body = {"keypair": {"name": "laptop", "public_key": public_key}}
    created = _valid(schemas.create_keypair, _api(cloud, "POST", "os-keypairs", version=version,
                                                  json=body))["keypair"]  # fmt: skip
    assert created["fingerprint"] == printed
    assert created["public_key"] == public_key
    assert created["user_id"] == _user_id(cloud, "demo")
    assert "private_key" not in created
    assert ("type" in created) == (version != "2.1")

    listed = _valid(schemas.list_keypairs, _api(cloud, "GET", "os-keypairs", version=version))
    assert [k["keypair"]["name"] for k in listed["keypairs"]] == ["laptop"]
    shown = _valid(schemas.get_keypair, _api(cloud, "GET", "os-keypairs/laptop", version=version))
    assert shown["keypair"]["fingerprint"] == printed
    assert shown["keypair"]["deleted"] is False

    _valid(schemas.delete_keypair, _api(cloud, "DELETE", "os-keypairs/laptop", version=version))
    gone = _api(cloud, "GET", "os-keypairs/laptop", version=version)
    assert "Keypair laptop not found" in _error(gone, 404)
    assert _api(cloud, "GET", "os-keypairs", version=version).json() == {"keypairs": []}


@pytest.mark.parametrize("kind", ["ssh", "x509"])
def test_generated_before_2_92_the_private_key_once(cloud: LoopbackCloud, kind: str) -> None:
    created = _valid(
        schema_v22.create_keypair,
        _api(cloud, "POST", "os-keypairs", version="2.91",
             json={"keypair": {"name": "made", "type": kind}}),
    )["keypair"]  # fmt: skip
    assert created["type"] == kind
    assert "PRIVATE KEY" in created["private_key"]
    if kind == "ssh":
        serialization.load_ssh_public_key(created["public_key"].encode())
    else:
        x509.load_pem_x509_certificate(created["public_key"].encode())
    shown = _api(cloud, "GET", "os-keypairs/made", version="2.91").json()["keypair"]
    assert "private_key" not in shown
    assert shown["public_key"] == created["public_key"]
    with cloud.sessions.begin() as s:
        stored = s.query(KeyPair).one()
        assert "PRIVATE" not in stored.public_key

    refused = _api(cloud, "POST", "os-keypairs", version="2.92", json={"keypair": {"name": "n"}})
    assert "'public_key' is a required property" in _error(refused, 400)


def test_an_x509_certificate_is_imported_with_its_sha1_fingerprint(cloud: LoopbackCloud) -> None:
    pem, printed = _certificate()
    body = {"keypair": {"name": "winrm", "type": "x509", "public_key": pem}}
    created = _valid(
        schema_v22.create_keypair, _api(cloud, "POST", "os-keypairs", version="2.2", json=body)
    )
    assert created["keypair"]["fingerprint"] == printed
    body["keypair"]["public_key"] = ssh_key()[0]
    body["keypair"]["name"] = "notacert"
    refused = _api(cloud, "POST", "os-keypairs", version="2.2", json=body)
    assert "failed to generate X509 fingerprint" in _error(refused, 400)


@pytest.mark.parametrize(
    ("version", "keypair", "status", "expected"),
    [
        ("2.1", {"name": ""}, 400, "should be non-empty"),
        ("2.1", {"name": "k" * 256}, 400, "is too long"),
        ("2.1", {"name": "key_/.\\@:"}, 400, "Only expected characters"),
        ("2.91", {"name": "me@laptop.lan"}, 400, "Only expected characters"),
        ("2.1", {"name": " padded"}, 400, "Can not start or end with whitespace"),
        ("2.1", {"name": "k", "public_key": ""}, 400, "Keypair data is invalid"),
        ("2.1", {"name": "k", "public_key": "ssh-rsa JUNK nova@ubuntu"}, 400, "invalid"),
        ("2.1", {"name": "k", "public_key": "ssh-rsa " + "A" * 2048 + " x"}, 400, "invalid"),
        ("2.1", {"name": "k", "public_key": "A" * 65536}, 400, "is too long"),
        ("2.1", {"name": "k", "type": "ssh"}, 400, "'type' was unexpected"),
        ("2.2", {"name": "k", "type": "pgp"}, 400, "is not one of ['ssh', 'x509']"),
        ("2.2", {"name": "k", "user_id": "u"}, 400, "'user_id' was unexpected"),
        ("2.96", {"name": "k", "colour": "blue"}, 400, "'colour' was unexpected"),
    ],
)
def test_bodies_nova_refuses(
    cloud: LoopbackCloud, version: str, keypair: dict[str, Any], status: int, expected: str
) -> None:
    response = _api(cloud, "POST", "os-keypairs", version=version, json={"keypair": keypair})
    assert expected in _error(response, status)
    assert _api(cloud, "GET", "os-keypairs").json() == {"keypairs": []}


def test_names_with_at_and_dot_from_2_92_and_duplicates(cloud: LoopbackCloud) -> None:
    key = {"name": "me@laptop.lan", "public_key": ssh_key()[0]}
    created = _api(cloud, "POST", "os-keypairs", version="2.92", json={"keypair": key})
    assert created.status_code == 201, created.text
    again = _api(cloud, "POST", "os-keypairs", version="2.92", json={"keypair": key})
    assert _error(again, 409) == "Key pair 'me@laptop.lan' already exists."
    # Another user may use the same name: names are per user.
    alt = _api(cloud, "POST", "os-keypairs", user="alt", version="2.92", json={"keypair": key})
    assert alt.status_code == 201, alt.text


def test_key_pairs_are_their_users_and_admins_reach_them_by_user_id(
    cloud: LoopbackCloud,
) -> None:
    demo, alt = _user_id(cloud, "demo"), _user_id(cloud, "alt")
    key = {"name": "mine", "public_key": ssh_key()[0]}
    assert _api(cloud, "POST", "os-keypairs", json={"keypair": key}).status_code == 200
    assert _api(cloud, "GET", "os-keypairs", user="alt").json() == {"keypairs": []}
    assert _error(_api(cloud, "GET", "os-keypairs/mine", user="alt"), 404)
    assert _error(_api(cloud, "DELETE", "os-keypairs/mine", user="alt"), 404)
    denied = _api(cloud, "GET", f"os-keypairs?user_id={demo}", user="alt", version="2.10")
    assert "os_compute_api:os-keypairs:index" in _error(denied, 403)
    # Before 2.10 user_id means nothing: alt sees its own (none).
    assert _api(cloud, "GET", f"os-keypairs?user_id={demo}", user="alt").json()["keypairs"] == []

    shown = _api(cloud, "GET", f"os-keypairs/mine?user_id={demo}", user="admin", version="2.10")
    assert shown.json()["keypair"]["user_id"] == demo
    for_alt = {"keypair": {"name": "given", "public_key": ssh_key()[0], "user_id": alt}}
    made = _api(cloud, "POST", "os-keypairs", user="admin", version="2.10", json=for_alt)
    assert made.status_code == 201 and made.json()["keypair"]["user_id"] == alt
    assert [k["keypair"]["name"] for k in _api(cloud, "GET", "os-keypairs", user="alt")
            .json()["keypairs"]] == ["given"]  # fmt: skip
    refused = _api(cloud, "POST", "os-keypairs", user="demo", version="2.10", json=for_alt)
    assert "os_compute_api:os-keypairs:create" in _error(refused, 403)
    gone = _api(cloud, "DELETE", f"os-keypairs/mine?user_id={demo}", user="admin", version="2.10")
    assert gone.status_code == 204
    strict = _api(cloud, "GET", "os-keypairs?colour=blue", version="2.75")
    assert "'colour' was unexpected" in _error(strict, 400)


def test_paging_from_2_35(cloud: LoopbackCloud) -> None:
    for name in ("c", "a", "b"):
        key = {"name": name, "public_key": ssh_key()[0]}
        _api(cloud, "POST", "os-keypairs", version="2.35", json={"keypair": key})
    page = _api(cloud, "GET", "os-keypairs?limit=2", version="2.35").json()
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    (link,) = page["keypairs_links"]
    assert link["rel"] == "next" and link["href"].endswith("os-keypairs?limit=2&marker=b")
    # Tempest's 2.2 schema (used for 2.35 too) knows no links; Nova sends them on a full page.
    schema = copy.deepcopy(schema_v22.list_keypairs)
    schema["response_body"]["properties"]["keypairs_links"] = {"type": "array"}
    _valid(schema, _api(cloud, "GET", "os-keypairs?limit=2", version="2.35"))
    rest = _api(cloud, "GET", "os-keypairs?limit=2&marker=b", version="2.35").json()
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c"]
    assert "keypairs_links" not in rest
    lost = _api(cloud, "GET", "os-keypairs?marker=zz", version="2.35")
    assert "Marker zz could not be found" in _error(lost, 400)
    # Before 2.35 limit is not Nova's: the whole list.
    assert len(_api(cloud, "GET", "os-keypairs?limit=1", version="2.34").json()["keypairs"]) == 3


def test_quota_of_key_pairs_is_100_or_the_projects_own(cloud: LoopbackCloud) -> None:
    demo = _user_id(cloud, "demo")
    with cloud.sessions.begin() as s:
        for i in range(100):
            s.add(KeyPair(name=f"k{i}", user_id=demo, fingerprint="f", public_key="p"))
    key = {"name": "one-more", "public_key": ssh_key()[0]}
    over = _api(cloud, "POST", "os-keypairs", json={"keypair": key})
    assert _error(over, 403) == "Quota exceeded, too many key pairs."
    project = cloud.session("demo").token_info().project_id
    with cloud.sessions.begin() as s:
        s.add(QuotaLimit(project_id=project, resource="key_pairs", hard_limit=101))
    assert _api(cloud, "POST", "os-keypairs", json={"keypair": key}).status_code == 200
    # Per user: alt has its own 100.
    assert _api(cloud, "POST", "os-keypairs", user="alt", json={"keypair": key}).status_code == 200


def test_a_server_boots_with_its_users_key_pair(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    public_key, _ = ssh_key()
    _api(cloud, "POST", "os-keypairs", json={"keypair": {"name": "mine", "public_key": public_key}})
    server = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}
    missing = _api(cloud, "POST", "servers", version="2.96",
                   json={"server": server | {"key_name": "nokey"}})  # fmt: skip
    assert _error(missing, 400) == "Invalid key_name provided."
    # Another user's key pair of that name is not the caller's.
    other = _api(cloud, "POST", "servers", user="alt", version="2.96",
                 json={"server": server | {"key_name": "mine"}})  # fmt: skip
    assert _error(other, 400) == "Invalid key_name provided."
    assert started == []
    bad = _api(cloud, "POST", "servers", version="2.96", json={"server": server | {"key_name": 7}})
    assert "key_name" in _error(bad, 400)

    accepted = _api(cloud, "POST", "servers", version="2.96",
                    json={"server": server | {"key_name": "mine"}})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    (boot,) = started
    assert boot.key is not None
    assert (boot.key.name, boot.key.type, boot.key.public_key) == ("mine", "ssh", public_key)


def test_server_show_and_filter_by_key_name(cloud: LoopbackCloud) -> None:
    import uuid

    session = cloud.session("demo").token_info()
    with cloud.sessions.begin() as s:
        for name, key in (("keyed", "mine"), ("plain", None)):
            s.add(Instance(
                uuid=str(uuid.uuid4()), name=name, project_id=session.project_id,
                user_id=session.user_id, flavor_id="1", flavor_name="m1.tiny", vcpus=1,
                memory_mb=512, root_gb=1, image_ref=IMAGE, vm_state="active", task_state=None,
                host=None, key_name=key, key_data="ssh-ed25519 AAAA" if key else None,
            ))  # fmt: skip
    servers = _api(cloud, "GET", "servers/detail", version="2.96").json()["servers"]
    assert {s["name"]: s["key_name"] for s in servers} == {"keyed": "mine", "plain": None}
    filtered = _api(
        cloud, "GET", "servers?key_name=mine&all_tenants=1", user="admin", version="2.96"
    )
    assert [s["name"] for s in filtered.json()["servers"]] == ["keyed"]
