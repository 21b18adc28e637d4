"""The codec server the Web UI and CLI decode payloads through: it decodes for admins only,
and masks secrets. Tokens are checked by the real identity service on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter

from bootflow.codec_server import COOKIE, MASK, create_app
from core.messages import BootRequest, NetworkRequest
from core.temporal import data_converter
from tests.support.cloud import PASSWORDS, LoopbackCloud, loopback_cloud
from tests.support.servers import serving

UI = "http://127.0.0.1:8233"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path) as c:
        yield c


@pytest.fixture
def codec_url(cloud: LoopbackCloud) -> Iterator[str]:
    with serving(create_app(cloud.settings)) as url:
        yield url


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return body


def _token(cloud: LoopbackCloud, user: str) -> str:
    session = cloud.session(user)
    try:
        return session.token
    finally:
        session.close()


def _sealed_request(cloud: LoopbackCloud) -> dict[str, Any]:
    request = BootRequest(
        "uuid-1",
        "vm1",
        "1",
        "img",
        [NetworkRequest("net")],
        auth_token="gAAAA-secret-token",
        request_id="req-1",
    )
    return as_json(asyncio.run(data_converter(cloud.settings).encode([request])))


def test_decode_needs_an_admin_token_and_masks_the_token(
    cloud: LoopbackCloud, codec_url: str
) -> None:
    sealed = _sealed_request(cloud)
    decode = f"{codec_url}/decode"
    anonymous = httpx.post(decode, json=sealed, headers={"Origin": UI})
    assert anonymous.status_code == 401
    assert "gAAAA" not in anonymous.text and "vm1" not in anonymous.text
    assert httpx.post(
        decode, json=sealed, headers={"Authorization": "Bearer nope"}
    ).status_code == (401)
    member = httpx.post(
        decode, json=sealed, headers={"Authorization": f"Bearer {_token(cloud, 'demo')}"}
    )
    assert member.status_code == 403 and "admin role" in member.json()["detail"]
    assert httpx.post(f"{codec_url}/encode", json=sealed).status_code == 401

    admin = _token(cloud, "admin")
    # As the Temporal CLI sends it (--codec-auth "Bearer ..."), and as OpenStack clients do.
    for headers in ({"Authorization": f"Bearer {admin}"}, {"X-Auth-Token": admin}):
        response = httpx.post(
            decode, json=sealed, headers={"Origin": UI, "X-Namespace": "default", **headers}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == UI
        value = json.loads(json_format.Parse(response.text, Payloads()).payloads[0].data)
        assert value["name"] == "vm1"
        assert value["networks"] == [{"network_id": "net", "port_id": None}]
        assert value["auth_token"] == MASK
        assert "gAAAA-secret-token" not in response.text


def test_garbage_is_400_and_other_origins_get_no_cors(cloud: LoopbackCloud, codec_url: str) -> None:
    admin = {"Authorization": f"Bearer {_token(cloud, 'admin')}"}
    plain = asyncio.run(DataConverter.default.encode(["hello"]))
    encoded = httpx.post(f"{codec_url}/encode", json=as_json(plain), headers=admin).json()
    decoded = httpx.post(
        f"{codec_url}/decode", json=encoded, headers={"Origin": "http://evil.example", **admin}
    )
    assert "access-control-allow-origin" not in decoded.headers
    assert json_format.Parse(decoded.text, Payloads()).payloads[0].data == b'"hello"'

    tampered = json.loads(json.dumps(encoded))
    tampered["payloads"][0]["data"] = "AAAA" + tampered["payloads"][0]["data"][4:]
    unknown_key = json.loads(json.dumps(encoded))
    unknown_key["payloads"][0]["metadata"]["encryption-key-id"] = "b2xk"  # "old"
    for body in (b"garbage", b'{"payloads": 3}', tampered, unknown_key):
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = httpx.post(f"{codec_url}/decode", headers=admin, **kwargs)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["detail"]

    # The UI's preflight: only its own origin may send credentials.
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-namespace",
    }
    ui = httpx.options(f"{codec_url}/decode", headers={"Origin": UI, **preflight})
    assert ui.status_code == 200
    assert ui.headers["access-control-allow-origin"] == UI
    assert ui.headers["access-control-allow-credentials"] == "true"
    evil = httpx.options(
        f"{codec_url}/decode", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in evil.headers


def test_login_sets_the_cookie_the_web_ui_sends(cloud: LoopbackCloud, codec_url: str) -> None:
    """The dev server's UI has no login: it can only include cookies (its "include
    cross-origin credentials" setting), so /login puts an admin's token in one."""
    form = f"{codec_url}/login"
    assert "Include cross-origin credentials" in httpx.get(form).text
    wrong = httpx.post(form, data={"username": "admin", "password": "nope", "project": "admin"})
    assert wrong.status_code == 401 and COOKIE not in wrong.cookies
    member = httpx.post(
        form, data={"username": "demo", "password": PASSWORDS["demo"], "project": "demo"}
    )
    assert member.status_code == 403 and COOKIE not in member.cookies

    signed_in = httpx.post(
        form, data={"username": "admin", "password": PASSWORDS["admin"], "project": "admin"}
    )
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    sealed = _sealed_request(cloud)
    with httpx.Client(cookies=signed_in.cookies) as browser:
        decoded = browser.post(f"{codec_url}/decode", json=sealed, headers={"Origin": UI})
    assert decoded.status_code == 200
    assert decoded.headers["access-control-allow-credentials"] == "true"
    assert json.loads(json_format.Parse(decoded.text, Payloads()).payloads[0].data)["name"] == "vm1"
