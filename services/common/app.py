"""The FastAPI app factory: OpenStack-shaped errors, a request size limit, no tracebacks out.

Every service says errors its own way (Keystone ``{"error": ...}``, Nova and Cinder
``{"badRequest": ...}``, Neutron ``{"NeutronError": ...}``); each passes its formatter.
Whatever goes wrong, the client gets a JSON error it can act on, never a 500 with a trace.
Something a service depends on being down or restarting (identity, another service, the
database) is a 503 with ``Retry-After``, never a 500: only a bug is a 500.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from clients.errors import ClientError, transient
from db.session import connection_lost

log = logging.getLogger(__name__)

# Largest JSON body a service accepts; uploads (image data) are streamed and exempt.
MAX_JSON_BODY = 1 << 20
# OpenStack's db MAX_INT: sizes are 32-bit signed integers in Nova's, Cinder's and Glance's
# databases, so their APIs refuse anything larger.
MAX_INT = 2**31 - 1
# Seconds a 503 for a dependency outage asks the client to wait: about what a supervised
# process takes to come back (docs/design.md, "Outages are 503s, bugs are 500s").
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """An error the client caused or should know about, with an OpenStack error kind;
    ``retry_after`` (seconds) is sent as the ``Retry-After`` header."""

    def __init__(
        self, status: int, message: str, kind: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.retry_after = retry_after


def not_found(message: str, kind: str | None = None) -> ApiError:
    return ApiError(404, message, kind)


def bad_request(message: str, kind: str | None = None) -> ApiError:
    return ApiError(400, message, kind)


def conflict(message: str, kind: str | None = None) -> ApiError:
    return ApiError(409, message, kind)


def forbidden(message: str, kind: str | None = None) -> ApiError:
    return ApiError(403, message, kind)


def unavailable(message: str) -> ApiError:
    """503: something the service depends on is down or restarting; a retry later may work."""
    return ApiError(503, message, retry_after=RETRY_AFTER_SECONDS)


DATABASE_UNAVAILABLE = "The database is unavailable (restarting, unreachable or busy); retry later."


# (status, message, kind) -> JSON body in the service's own error shape.
ErrorFormatter = Callable[[int, str, str | None], dict[str, Any]]

# Nova and Cinder name an error by its status.
NOVA_ERROR_KINDS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def nova_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    del kind
    name = NOVA_ERROR_KINDS.get(status, "computeFault")
    return {name: {"code": status, "message": message}}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "Invalid input for the request: " + "; ".join(parts)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` (413) unless the path is exempt (uploads)."""

    def __init__(
        self,
        app: ASGIApp,
        formatter: ErrorFormatter,
        max_bytes: int = MAX_JSON_BODY,
        exempt: Callable[[str], bool] = lambda _path: False,
    ) -> None:
        self.app = app
        self.formatter = formatter
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise ApiError(413, f"Request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"Request body larger than {self.max_bytes} bytes"
        response = JSONResponse(self.formatter(413, message, None), status_code=413)
        await response(scope, receive, send)


class PlainRoute(APIRoute):
    """A route whose return value is sent as it is, never checked against a response model.

    FastAPI checks a sync handler's return value in a second worker thread while the
    request's transaction (on SQLite, its write lock) is still open; under load every worker
    thread ends up waiting for that lock and nothing moves. Handlers here build OpenStack's
    JSON by hand, so the check adds nothing. Likewise a dict or list a handler returns is
    rendered at once, not first walked by ``jsonable_encoder`` (a tenth of a service's CPU
    a request): see ``_rendered``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if _unset(kwargs, "response_model"):
            kwargs["response_model"] = None
            if _unset(kwargs, "response_class"):
                endpoint = _rendered(endpoint, kwargs.get("status_code") or 200)
        super().__init__(path, endpoint, **kwargs)


def _unset(route_kwargs: dict[str, Any], name: str) -> bool:
    """Whether the route leaves ``name`` to FastAPI's default."""
    return isinstance(route_kwargs.get(name, DefaultPlaceholder(None)), DefaultPlaceholder)


def _rendered(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    """``endpoint``, answering a JSON document it returns as a JSONResponse with the route's
    status (FastAPI sends a returned response as it is). Left alone: a handler that takes the
    ``Response`` to set headers or status on, since those apply only to what FastAPI renders."""
    parameters = inspect.signature(endpoint, eval_str=True).parameters.values()
    if any(p.annotation is Response for p in parameters):
        return endpoint

    def render(result: Any) -> Any:
        if isinstance(result, dict | list):
            return JSONResponse(result, status_code=status_code)
        return result

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def answer(*args: Any, **kwargs: Any) -> Any:
            return render(await endpoint(*args, **kwargs))

        return answer

    @functools.wraps(endpoint)
    def answer_sync(*args: Any, **kwargs: Any) -> Any:
        return render(endpoint(*args, **kwargs))

    return answer_sync


def router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes are PlainRoutes (use it for every service router)."""
    return APIRouter(route_class=PlainRoute, **kwargs)


class _ErrorAnswers:
    """The exception handlers every service shares, each answering in ``formatter``'s shape."""

    def __init__(self, formatter: ErrorFormatter) -> None:
        self.formatter = formatter

    def install(self, app: FastAPI) -> None:
        app.add_exception_handler(ApiError, self.api_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, self.invalid)  # type: ignore[arg-type]
        app.add_exception_handler(StarletteHTTPException, self.http)  # type: ignore[arg-type]
        app.add_exception_handler(Exception, self.unexpected)
        app.add_exception_handler(ClientError, self.dependency)  # type: ignore[arg-type]
        app.add_exception_handler(DBAPIError, self.database)  # type: ignore[arg-type]

    def respond(
        self, status: int, message: str, kind: str | None = None, retry_after: int | None = None
    ) -> JSONResponse:
        headers = None if retry_after is None else {"Retry-After": str(retry_after)}
        body = self.formatter(status, message, kind)
        return JSONResponse(body, status_code=status, headers=headers)

    async def api_error(self, _request: Request, exc: ApiError) -> JSONResponse:
        return self.respond(exc.status, exc.message, exc.kind, exc.retry_after)

    async def invalid(self, _request: Request, exc: RequestValidationError) -> JSONResponse:
        return self.respond(400, _validation_message(exc))

    async def http(self, _request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        return self.respond(exc.status_code, message)

    async def unexpected(self, request: Request, exc: Exception) -> JSONResponse:
        log.exception(
            "unexpected error serving %s %s", request.method, request.url.path, exc_info=exc
        )
        return self.respond(
            500,
            "The server has either erred or is incapable of performing the requested operation.",
        )

    async def dependency(self, request: Request, exc: ClientError) -> JSONResponse:
        """A service this one calls is down or overloaded; any other refusal is a bug."""
        if not transient(exc):
            return await self.unexpected(request, exc)
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return await self.api_error(request, unavailable(str(exc)))

    async def database(self, request: Request, exc: DBAPIError) -> JSONResponse:
        """The database server is gone or restarting; text PostgreSQL cannot store (a NUL
        character, which SQLite takes) is the client's 400; any other error is a bug."""
        if isinstance(exc, DataError) and "NUL" in str(exc.orig):
            return self.respond(400, "Invalid input: text may not contain NUL (0x00) characters.")
        if not connection_lost(exc):
            return await self.unexpected(request, exc)
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc.orig)
        return await self.api_error(request, unavailable(DATABASE_UNAVAILABLE))


def create_app(
    title: str,
    formatter: ErrorFormatter,
    *,
    upload_path: Callable[[str], bool] = lambda _path: False,
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """A service's app with the shared error handlers and request-size bound: every error
    in ``formatter``'s shape; ``upload_path`` names paths whose bodies stream unbounded."""
    app = FastAPI(
        title=title, docs_url=None, redoc_url=None, redirect_slashes=False, lifespan=lifespan
    )
    app.router.route_class = PlainRoute
    _ErrorAnswers(formatter).install(app)
    app.add_middleware(BodySizeLimit, formatter=formatter, exempt=upload_path)
    return app
