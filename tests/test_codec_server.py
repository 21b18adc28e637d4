"""The codec server the Web UI decodes payloads through: it decodes, and masks secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter

from bootflow.codec import new_key
from bootflow.codec_server import MASK, create_app
from bootflow.config import Settings
from bootflow.messages import BootRequest, NetworkRequest
from bootflow.temporal import data_converter
from tests.support.servers import serving

UI = "http://127.0.0.1:8233"


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, codec_key=SecretStr(new_key()), codec_key_id="k-test")


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return body


def test_decode_shows_the_request_but_masks_the_token(tmp_path: Path) -> None:
    s = settings(tmp_path)
    request = BootRequest(
        "uuid-1",
        "vm1",
        "1",
        "img",
        [NetworkRequest("net")],
        auth_token="gAAAA-secret-token",
        request_id="req-1",
    )
    sealed = asyncio.run(data_converter(s).encode([request]))
    with serving(create_app(s)) as url:
        response = httpx.post(
            f"{url}/decode", json=as_json(sealed), headers={"Origin": UI, "X-Namespace": "default"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI
    value = json.loads(json_format.Parse(response.text, Payloads()).payloads[0].data)
    assert value["name"] == "vm1" and value["networks"] == [{"network_id": "net", "port_id": None}]
    assert value["auth_token"] == MASK
    assert "gAAAA-secret-token" not in response.text


def test_encode_then_decode_round_trips_and_other_origins_get_no_cors(tmp_path: Path) -> None:
    plain = asyncio.run(DataConverter.default.encode(["hello"]))
    with serving(create_app(settings(tmp_path))) as url:
        encoded = httpx.post(f"{url}/encode", json=as_json(plain)).json()
        decoded = httpx.post(
            f"{url}/decode", json=encoded, headers={"Origin": "http://evil.example"}
        )
    assert (
        encoded["payloads"][0]["metadata"]["encoding"]
        != as_json(plain)["payloads"][0]["metadata"]["encoding"]
    )
    assert "access-control-allow-origin" not in decoded.headers
    assert json_format.Parse(decoded.text, Payloads()).payloads[0].data == b'"hello"'
