"""The codec server the Temporal Web UI and CLI decode payloads through, for admins only.

Temporal's remote-codec protocol: ``POST /decode`` (and ``/encode``) with
``{"payloads": [...]}`` in protobuf JSON form. Decoded JSON payloads have their secret
fields (tokens, passwords) masked: an operator reads the boot in the UI, never a token.
Served on loopback by ``bootflow up`` and given to the dev server's ``--ui-codec-endpoint``.

Decoding shows every project's boot requests, so each call needs a Keystone token with the
admin role, validated by identity as the services validate theirs. It comes as Temporal's
guidance has it, in ``Authorization: Bearer <token>`` (the CLI's ``--codec-auth``, a UI with
its own login's "pass access token"), or in ``X-Auth-Token``, or in the cookie ``/login``
sets: the dev server's UI has no login of its own, so what it can send is cookies ("include
cross-origin credentials" in its codec settings). CORS answers only the UI's origin.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from clients.errors import ClientError, Unauthorized
from clients.service_account import service_session
from clients.session import Credentials, Session, TokenInfo
from clients.tokens import AuthContext, TokenValidator
from core.config import EndpointOptions, Settings
from core.temporal import data_converter
from services.common.auth import validated
from services.common.state import from_state

SECRET_FIELDS: Final = frozenset({"auth_token", "token", "password", "admin_password"})
MASK: Final = "*** (secret, not shown)"
# The cookie /login sets: the admin's Keystone token, for the browser to send with decodes.
COOKIE: Final = "bootflow_codec_token"
ADMIN_ONLY: Final = "Decoding shows every project's boot requests: it needs the admin role."


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


def _token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-Auth-Token") or request.cookies.get(COOKIE)


async def _admin(request: Request) -> AuthContext:
    """The caller, an admin: 401 without a valid token, 403 without the role."""
    try:
        caller = await validated(request.app.state.token_validator, _token(request))
    except Unauthorized as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from exc
    except ClientError as exc:  # identity unreachable
        raise HTTPException(503, f"Identity could not validate the token: {exc}") from exc
    if not caller.is_admin:
        raise HTTPException(403, ADMIN_ONLY)
    return caller


Admin = Annotated[AuthContext, Depends(_admin)]


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as exc:
        raise HTTPException(400, f"The body is not Temporal's {{payloads: [...]}}: {exc}") from exc


def _answer(payloads: list[Payload]) -> Response:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    return Response(body, media_type="application/json")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>{title}</title><h1>{title}</h1>{body}", status_code=status
    )


_LOGIN_FORM: Final = """<p>An admin's credentials, for the Temporal Web UI to decode payloads.
Then, in the UI's codec server settings, tick "Include cross-origin credentials".</p>
<form method="post" action="/login">
<label>User <input name="username" value="admin"></label>
<label>Password <input name="password" type="password"></label>
<label>Project <input name="project" value="admin"></label>
<button>Sign in</button></form>"""


router = APIRouter()
# The payload codec and settings the app was built with (``app.state``).
Codec = Annotated[PayloadCodec, from_state("codec")]
AppEndpoints = Annotated[EndpointOptions, from_state("settings")]


@router.post("/decode")
async def decode(request: Request, _caller: Admin, codec: Codec) -> Response:
    payloads = (await _payloads(request)).payloads
    try:
        decoded = await codec.decode(payloads)
    except (KeyError, ValueError, InvalidTag, DecodeError) as exc:
        # ValueError covers a key id no key matches and a key id that is not text.
        reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        raise HTTPException(400, f"A payload could not be decoded ({reason}).") from exc
    return _answer([masked(p) for p in decoded])


@router.post("/encode")
async def encode(request: Request, _caller: Admin, codec: Codec) -> Response:
    return _answer(await codec.encode((await _payloads(request)).payloads))


@router.get("/login")
def login_form() -> HTMLResponse:
    return _page("bootflow codec server", _LOGIN_FORM)


async def _sign_in(settings: EndpointOptions, form: dict[str, str]) -> TokenInfo | HTMLResponse:
    """The token the form's credentials get from identity, or the page that says why not."""
    credentials = Credentials(
        settings.auth_url,
        form.get("username", ""),
        form.get("password", ""),
        form.get("project", "admin"),
    )
    session = Session(credentials)
    try:
        return await run_in_threadpool(session.token_info)
    except Unauthorized:
        return _page("Not signed in", "<p>Wrong user, password or project.</p>" + _LOGIN_FORM, 401)
    except ClientError as exc:
        return _page("Not signed in", f"<p>{html.escape(str(exc))}</p>", 503)
    finally:
        session.close()


@router.post("/login")
async def login(request: Request, settings: AppEndpoints) -> Response:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    token = await _sign_in(settings, form)
    if isinstance(token, HTMLResponse):
        return token
    if "admin" not in token.roles:
        return _page("Not signed in", f"<p>{html.escape(ADMIN_ONLY)}</p>", 403)
    until = token.expires_at
    response = _page(
        "Signed in",
        f"<p>Until {until:%Y-%m-%d %H:%M} UTC the Web UI on this machine decodes payloads "
        '(with "Include cross-origin credentials" on in its codec server settings).</p>',
    )
    response.set_cookie(
        COOKIE,
        token.token,
        max_age=max(int((until - datetime.now(UTC)).total_seconds()), 0),
        httponly=True,
        samesite="strict",
    )
    return response


def create_app(settings: Settings, validator: TokenValidator | None = None) -> FastAPI:
    codec = data_converter(settings).payload_codec
    assert codec is not None
    app = FastAPI(title="bootflow codec server", docs_url=None, redoc_url=None)
    app.state.codec = codec
    app.state.settings = settings
    app.state.token_validator = validator or TokenValidator(
        service_session(settings), settings.token_cache_seconds
    )
    ui = f"http://{settings.bind_host}:{settings.temporal_ui_port}"
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui, f"http://localhost:{settings.temporal_ui_port}"],
        # The UI's "include cross-origin credentials" sends the /login cookie.
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization", "x-auth-token"],
    )
    app.include_router(router)
    return app


def serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.codec_server_port,
        log_level="warning",
    )
