"""``/``, ``/v2.0`` and ``/v2.0/extensions``: the version, its resources and the extensions
whose attributes this service shows and honours."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.common.app import router as common_router
from services.common.auth import Auth

API_VERSION = "v2.0"
_RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"))
_EXTENSIONS = (
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("port-security", "Port Security", "Provides port security"),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access "
        "to external networks via a NAT gateway.",
    ),
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

router = common_router()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/")
def versions(request: Request) -> dict[str, Any]:
    href = f"{_base(request)}/{API_VERSION}/"
    return {
        "versions": [
            {"id": API_VERSION, "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}
        ]
    }


@router.get(f"/{API_VERSION}")
@router.get(f"/{API_VERSION}/")
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


@router.get(f"/{API_VERSION}/extensions")
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
