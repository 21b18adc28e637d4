"""The codec server the Temporal Web UI calls to show payloads decoded.

Temporal's remote-codec protocol: ``POST /decode`` (and ``/encode``) with
``{"payloads": [...]}`` in protobuf JSON form. Decoded JSON payloads have their secret
fields (tokens, passwords) masked: an operator reads the boot in the UI, never a token.
Served on loopback by ``bootflow up`` and given to the dev server's ``--ui-codec-endpoint``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from bootflow.config import Settings
from bootflow.temporal import data_converter

SECRET_FIELDS: Final = frozenset({"auth_token", "token", "password", "admin_password"})
MASK: Final = "*** (secret, not shown)"


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_FIELDS else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def masked(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != b"json/plain":
        return payload
    try:
        value = json.loads(payload.data)
    except ValueError:
        return payload
    out = Payload()
    out.CopyFrom(payload)
    out.data = json.dumps(_mask(value), separators=(",", ":")).encode()
    return out


def create_app(settings: Settings) -> FastAPI:
    codec = data_converter(settings).payload_codec
    assert codec is not None
    app = FastAPI(title="bootflow codec server", docs_url=None, redoc_url=None)
    ui = f"http://{settings.bind_host}:{settings.temporal_ui_port}"
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui, f"http://localhost:{settings.temporal_ui_port}"],
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
    )

    async def _payloads(request: Request) -> Payloads:
        return json_format.Parse(await request.body(), Payloads())

    def _answer(payloads: list[Payload]) -> Response:
        body = json_format.MessageToJson(Payloads(payloads=payloads))
        return Response(body, media_type="application/json")

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        decoded = await codec.decode((await _payloads(request)).payloads)
        return _answer([masked(p) for p in decoded])

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return _answer(await codec.encode((await _payloads(request)).payloads))

    return app


def serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.codec_server_port,
        log_level="warning",
    )
