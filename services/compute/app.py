"""The compute API: the Nova v2.1 subset the openstack CLI, openstacksdk and bootflow's own
CLI use, with Nova's microversions (2.1-2.96), shapes and errors.

It is the seed's nova-api (steps 3-8): a create request starts one ``BootInstance`` per
server with update-with-start and answers 202 once each workflow has authenticated,
validated, counted quota and written the record, or Nova's 4xx with the reason. A delete
starts ``DeleteInstance`` (which cancels a boot still under way). Reads come from the
database. Every request's token is checked with identity; a project sees only its own
servers (another project's is 404), an admin sees all with ``all_tenants``.

One module per resource, each with a module-level router: ``servers``, ``instance_actions``,
``leftovers``, ``flavors``, ``limits``, ``server_groups``, ``keypairs``, ``hypervisors``,
``compute_services`` (os-services), ``zones`` (availability zones, aggregates), and
bootflow's own ``conductor`` (``/bootflow/v1/conductor``: what compute hosts write and read
of the database, done here for them) and ``own_api`` (what Nova's documents have no place
for: allocation ratios, the disk quota). ``hypervisor_lookups`` holds os-hypervisors' older
routes (statistics, uptime, search, servers). Request bodies are declared in ``schemas`` (as
Nova's), Nova's documents are built in ``views``; ``create`` turns a create body into a
plan, ``server_api`` carries it out through ``temporal_calls``; ``listing`` is the server
list's filters and paging, ``microversions`` the version headers, ``context`` what every
handler gets.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from core.config import Settings
from db.session import SessionFactory
from services.common import app as common
from services.common.app import nova_error
from services.common.auth import TokenValidator
from services.compute import (
    compute_services,
    conductor,
    flavors,
    hypervisor_lookups,
    hypervisors,
    instance_actions,
    keypairs,
    leftovers,
    limits,
    metadata,
    own_api,
    quota_class_sets,
    quota_sets,
    server_groups,
    server_update,
    servers,
    zones,
)
from services.compute.context import RequestIdMiddleware
from services.compute.microversions import MAX_VERSION, MIN_VERSION, MicroversionMiddleware
from services.compute.server_api import ServerApi
from services.compute.temporal_calls import Workflows

# When the v2.1 API first appeared (Nova's version document keeps this date).
_V21_UPDATED = "2013-07-23T11:33:21Z"
_DOCS = "http://docs.openstack.org/"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _v21(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": _V21_UPDATED,
        "links": [
            {"rel": "self", "href": f"{base}/v2.1/"},
            {"rel": "describedby", "type": "text/html", "href": _DOCS},
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = common.create_app("compute", nova_error)
    app.state.sessions = sessions
    app.state.token_validator = validator
    app.state.settings = settings
    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(RequestIdMiddleware)
    workflows = Workflows(temporal=settings, options=settings)
    app.state.server_api = ServerApi(
        options=settings, quota=settings, account=settings, sessions=sessions, workflows=workflows
    )

    @app.get("/")
    def versions(request: Request) -> dict[str, Any]:
        """All versions (outside microversion control, as Nova's root)."""
        base = _base(request)
        return {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "DEPRECATED",
                    "version": "",
                    "min_version": "",
                    "updated": "2025-07-04T12:00:00Z",
                    "links": [{"rel": "self", "href": f"{base}/v2/"}],
                },
                {key: value for key, value in _v21(base).items() if key != "media-types"}
                | {"links": [{"rel": "self", "href": f"{base}/v2.1/"}]},
            ]
        }

    @app.get("/v2.1")
    @app.get("/v2.1/")
    def version(request: Request) -> dict[str, Any]:
        return {"version": _v21(_base(request))}

    for module in _RESOURCES:
        app.include_router(module.router)
    return app


# In this order: a route shadows a later one with the same path.
_RESOURCES = (
    servers,
    server_update,
    metadata,
    instance_actions,
    leftovers,
    flavors,
    limits,
    server_groups,
    keypairs,
    hypervisor_lookups,
    hypervisors,
    zones,
    compute_services,
    conductor,
    own_api,
    quota_sets,
    quota_class_sets,
)
