"""Roles: list them (grants are ``grants.py``, their list ``role_assignments.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from db.models.identity import Role
from services.common.app import router as common_router
from services.common.auth import Token
from services.common.db import DbSession
from services.identity.listing import named
from services.identity.views import base_url

router = common_router(prefix="/v3")


@router.get("/roles")
def list_roles(
    _caller: Token, session: DbSession, request: Request, name: str | None = None
) -> dict[str, Any]:
    return {
        "roles": [
            {
                "id": r.id,
                "name": r.name,
                "domain_id": None,
                "links": {"self": f"{base_url(request)}/v3/roles/{r.id}"},
            }
            for r in session.scalars(named(Role, name))
        ]
    }
