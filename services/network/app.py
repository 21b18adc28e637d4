"""The network service: Neutron v2.0's network, subnet and port API subset.

Paths, JSON shapes, status codes and error types are Neutron's, so clients written for a
real Neutron work unchanged. Requests are authenticated with identity (keystonemiddleware's
job in OpenStack); each runs in one transaction, committed before its answer is sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.config import Settings
from db.session import SessionFactory
from services.common.app import create_app as create_base_app
from services.common.auth import Auth, TokenValidator
from services.network import networks, ports, quotas, subnets
from services.network.errors import neutron_error

API_VERSION = "v2.0"
_RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"))
# The extensions whose attributes this service shows and honours.
_EXTENSIONS = (
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("port-security", "Port Security", "Provides port security"),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
        "standard attributes.",
    ),
)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


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


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = create_base_app("network", neutron_error)
    app.state.sessions = sessions
    app.state.quota_limits = quotas.Limits.from_settings(settings)
    app.state.token_validator = validator

    # Bodies are read by services.network.schemas; what reaches FastAPI's validation is a
    # body that is not JSON at all (or none), and Neutron words that its own way.
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(neutron_error(400, _unreadable_body(exc), None), status_code=400)

    @app.get("/")
    def versions(request: Request) -> dict[str, Any]:
        href = f"{_base(request)}/{API_VERSION}/"
        return {
            "versions": [
                {"id": API_VERSION, "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}
            ]
        }

    @app.get(f"/{API_VERSION}")
    @app.get(f"/{API_VERSION}/")
    def resources(request: Request, _caller: Auth) -> dict[str, Any]:
        base = f"{_base(request)}/{API_VERSION}"
        return {
            "resources": [
                {
                    "name": name,
                    "collection": collection,
                    "links": [{"href": f"{base}/{collection}", "rel": "self"}],
                }
                for name, collection in _RESOURCES
            ]
        }

    @app.get(f"/{API_VERSION}/extensions")
    def extensions(_caller: Auth) -> dict[str, Any]:
        return {
            "extensions": [
                {
                    "alias": alias,
                    "name": name,
                    "description": description,
                    "links": [],
                    "updated": "2019-01-01T00:00:00-00:00",
                }
                for alias, name, description in _EXTENSIONS
            ]
        }

    app.include_router(networks.router)
    app.include_router(subnets.router)
    app.include_router(ports.router)
    app.include_router(quotas.router)
    return app
