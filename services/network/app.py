"""The network service: Neutron v2.0's network, subnet and port API subset.

Paths, JSON shapes, status codes and error types are Neutron's, so clients written for a
real Neutron work unchanged. Requests are authenticated with identity (keystonemiddleware's
job in OpenStack); each runs in one transaction, committed before its answer is sent.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.config import Settings
from db.session import SessionFactory
from services.common.app import create_app as create_base_app
from services.common.auth import TokenValidator
from services.network import (
    discovery,
    networks,
    ports,
    quota_api,
    quotas,
    router_interfaces,
    routers,
    subnets,
)
from services.network.errors import neutron_error


def _unreadable_body(exc: RequestValidationError) -> str:
    """Neutron's words for a body that is not JSON at all, or missing."""
    error = exc.errors()[0] if exc.errors() else {}
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "not valid JSON")
        return f"Malformed request body: {reason}"
    if error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",):
        return "Resource body required"
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"Invalid input for {where or 'the request'}: {error.get('msg', 'invalid value')}"


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    # Bodies are read by services.network.schemas; what reaches FastAPI's validation is a
    # body that is not JSON at all (or none), and Neutron words that its own way.
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(neutron_error(400, _unreadable_body(exc), None), status_code=400)


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = create_base_app("network", neutron_error)
    app.state.sessions = sessions
    app.state.quota_limits = quotas.Limits.from_settings(settings)
    app.state.token_validator = validator
    app.add_exception_handler(RequestValidationError, _invalid)
    for module in (discovery, networks, subnets, ports, routers, router_interfaces, quota_api):
        app.include_router(module.router)
    return app
