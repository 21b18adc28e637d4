"""``/v3/domains``: the one domain bootflow has, shown as Keystone shows it."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from db.models.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
from services.common.app import router as common_router
from services.common.auth import Admin, AuthContext, Token
from services.identity.errors import forbidden, not_found
from services.identity.views import base_url, listed

router = common_router(prefix="/v3/domains")


def domain_view(request: Request) -> dict[str, Any]:
    return {
        "id": DEFAULT_DOMAIN_ID,
        "name": DEFAULT_DOMAIN_NAME,
        "description": "The default domain",
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{base_url(request)}/v3/domains/{DEFAULT_DOMAIN_ID}"},
    }


def _matches(name: str | None, enabled: str | None) -> bool:
    """Keystone's list filters: ``?name=`` exactly, ``?enabled=`` as a boolean word."""
    if name is not None and name != DEFAULT_DOMAIN_NAME:
        return False
    return enabled is None or enabled.lower() not in ("0", "false", "f", "no", "n", "off")


@router.get("")
def list_domains(
    _admin: Admin, request: Request, name: str | None = None, enabled: str | None = None
) -> dict[str, Any]:
    items = [domain_view(request)] if _matches(name, enabled) else []
    return listed(request, "domains", items, "domains")


def may_see_domain(caller: AuthContext) -> bool:
    """Keystone's policy: admins, and users whose project lies in the domain."""
    return caller.is_admin or bool(caller.project_id)


@router.get("/{domain_id}")
def show_domain(domain_id: str, caller: Token, request: Request) -> dict[str, Any]:
    if domain_id != DEFAULT_DOMAIN_ID:
        raise not_found("domain", domain_id)
    if not may_see_domain(caller):
        raise forbidden()
    return {"domain": domain_view(request)}
