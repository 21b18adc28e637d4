"""``/v3/domains``: create, list, show, update and delete domains, as Keystone does.

A domain must be disabled before it is deleted (Keystone's 403 otherwise, so nobody deletes
a domain in use by accident); deleting it deletes what is in it (``cascade.py``). The
default domain, where bootflow's own accounts live and which every openrc names
(``Default``), is never renamed, disabled nor deleted; so token validation knows it without
a query.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import DEFAULT_DOMAIN_ID, Domain, Project
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Admin, AuthContext, Token
from services.common.db import DbSession, flush_unique
from services.identity.cascade import delete_domain_contents
from services.identity.errors import duplicate, forbidden
from services.identity.lookup import get_or_404
from services.identity.schemas import NAME_PATTERN, boolean_word
from services.identity.views import domain_view, listed

router = common_router(prefix="/v3/domains")


class NewDomain(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = None
    enabled: StrictBool = True


class NewDomainRequest(BaseModel):
    domain: NewDomain


class DomainUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = None
    enabled: StrictBool | None = None


class DomainUpdateRequest(BaseModel):
    domain: DomainUpdate


@router.post("", status_code=201)
def create_domain(
    body: NewDomainRequest, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    new = body.domain
    domain = Domain(name=new.name, description=new.description or "", enabled=new.enabled)
    session.add(domain)
    flush_unique(session, duplicate("domain", new.name))
    return {"domain": domain_view(request, domain)}


@router.get("")
def list_domains(
    _admin: Admin,
    session: DbSession,
    request: Request,
    name: str | None = None,
    enabled: str | None = None,
) -> dict[str, Any]:
    query = select(Domain).order_by(Domain.name)
    if name is not None:
        query = query.where(Domain.name == name)
    if enabled is not None:
        query = query.where(Domain.enabled.is_(boolean_word(enabled)))
    items = [domain_view(request, d) for d in session.scalars(query)]
    return listed(request, "domains", items, "domains")


def may_see_domain(session: Session, caller: AuthContext, domain_id: str) -> bool:
    """Keystone's policy: admins, a token scoped to the domain or to a project in it."""
    if caller.is_admin or caller.domain_id == domain_id:
        return True
    project = session.get(Project, caller.project_id) if caller.project_id else None
    return project is not None and project.domain_id == domain_id


@router.get("/{domain_id}")
def show_domain(
    domain_id: str, caller: Token, session: DbSession, request: Request
) -> dict[str, Any]:
    domain = get_or_404(session, Domain, domain_id)
    if not may_see_domain(session, caller, domain_id):
        raise forbidden()
    return {"domain": domain_view(request, domain)}


@router.patch("/{domain_id}")
def update_domain(
    domain_id: str,
    body: DomainUpdateRequest,
    _admin: Admin,
    session: DbSession,
    request: Request,
) -> dict[str, Any]:
    domain = get_or_404(session, Domain, domain_id)
    change = body.domain
    given = change.model_fields_set
    if ("name" in given and change.name is None) or ("enabled" in given and change.enabled is None):
        raise ApiError(400, "Invalid input for field 'domain': name and enabled may not be null.")
    if domain_id == DEFAULT_DOMAIN_ID and (
        change.enabled is False or change.name not in (None, domain.name)
    ):
        raise ApiError(403, "The default domain cannot be disabled nor renamed.")
    if change.name is not None:
        domain.name = change.name
    if "description" in given:
        domain.description = change.description or ""
    if change.enabled is not None:
        domain.enabled = change.enabled
    flush_unique(session, duplicate("domain", domain.name))
    return {"domain": domain_view(request, domain)}


@router.delete("/{domain_id}", status_code=204)
def delete_domain(domain_id: str, _admin: Admin, session: DbSession) -> Response:
    domain = get_or_404(session, Domain, domain_id)
    if domain.enabled:
        raise ApiError(403, "Cannot delete a domain that is enabled, please disable it first.")
    delete_domain_contents(session, domain_id)
    session.delete(domain)
    return Response(status_code=204)
