"""Keystone's documents: tokens, the catalog, domains, projects, users, groups, the version."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import CatalogEndpoint, Domain, Group, Project, User
from services.identity.effective import domain_roles_of, roles_of
from services.identity.lookup import domain_ref
from services.identity.tokens import TokenPayload, isotime

API_VERSION = "v3.14"


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def catalog(session: Session) -> list[dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    for ep in session.scalars(select(CatalogEndpoint).order_by(CatalogEndpoint.service_type)):
        entry = services.setdefault(
            ep.service_type,
            {
                "id": ep.service_id,
                "type": ep.service_type,
                "name": ep.service_name,
                "endpoints": [],
            },
        )
        entry["endpoints"].append(
            {
                "id": ep.id,
                "interface": ep.interface,
                "region": ep.region,
                "region_id": ep.region,
                "url": ep.url,
            }
        )
    return list(services.values())


def token_body(
    session: Session, payload: TokenPayload, with_catalog: bool = True
) -> dict[str, Any]:
    user = session.get(User, payload.user_id)
    assert user is not None
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "id": user.id,
            "name": user.name,
            "domain": domain_ref(session, user.domain_id),
            "password_expires_at": None,
        },
        "audit_ids": payload.audit_ids,
        "issued_at": isotime(payload.issued_at),
        "expires_at": isotime(payload.expires_at),
    }
    project = session.get(Project, payload.project_id) if payload.project_id else None
    if project is not None:
        body["project"] = {
            "id": project.id,
            "name": project.name,
            "domain": domain_ref(session, project.domain_id),
        }
        body["is_domain"] = False
        roles = roles_of(session, user.id, project.id)
    elif payload.domain_id:
        body["domain"] = domain_ref(session, payload.domain_id)
        roles = domain_roles_of(session, user.id, payload.domain_id)
    else:
        return body
    body["roles"] = [{"id": r.id, "name": r.name} for r in roles]
    if with_catalog:
        body["catalog"] = catalog(session)
    return body


def version(base: str) -> dict[str, Any]:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _entity(
    request: Request, collection: str, row: Project | User | Group, **attributes: Any
) -> dict[str, Any]:
    """A project, user or group: its id, name and domain, ``attributes``, then its link."""
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        **attributes,
        "links": {"self": f"{base_url(request)}/v3/{collection}/{row.id}"},
    }


def project_view(request: Request, p: Project) -> dict[str, Any]:
    shown = {"description": p.description, "enabled": p.enabled, "is_domain": False}
    return _entity(request, "projects", p, **shown, parent_id=p.domain_id)


def user_view(request: Request, u: User) -> dict[str, Any]:
    shown = {"enabled": u.enabled, "default_project_id": u.default_project_id}
    return _entity(request, "users", u, **shown, password_expires_at=None)


def group_view(request: Request, g: Group) -> dict[str, Any]:
    return _entity(request, "groups", g, description=g.description)


def domain_view(request: Request, d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": [],
        "options": {},
        "links": {"self": f"{base_url(request)}/v3/domains/{d.id}"},
    }


def listed(
    request: Request, key: str, items: list[dict[str, Any]], path: str, *, paged: bool = True
) -> dict[str, Any]:
    """A Keystone collection: ``{key: items, "links": ...}``, with Keystone's empty paging
    links where the collection is paged."""
    links: dict[str, Any] = {"self": f"{base_url(request)}/v3/{path}"}
    if paged:
        links |= {"next": None, "previous": None}
    return {key: items, "links": links}
