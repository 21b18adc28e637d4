"""Finding rows: any by id (else 404); domains by a reference in an auth request, by id for
a document, and the check that a new project, user or group goes into one that exists."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, Domain, Group, Project, User
from services.common.app import ApiError
from services.identity.errors import not_found
from services.identity.schemas import DomainRef

_Row = TypeVar("_Row", Domain, Group, Project, User)


def get_or_404(session: Session, entity: type[_Row], key: str) -> _Row:
    """``entity`` ``key``, or Keystone's 404 naming it (``Could not find group: ...``)."""
    row = session.get(entity, key)
    if row is None:
        raise not_found(entity.__tablename__.rstrip("s"), key)
    return row


def find_domain(session: Session, ref: DomainRef | None) -> Domain | None:
    """The domain ``ref`` names by id or name (the default one if ``ref`` is None)."""
    if ref is None:
        return session.get(Domain, DEFAULT_DOMAIN_ID)
    if ref.id:
        return session.get(Domain, ref.id)
    if ref.name:
        return session.scalar(select(Domain).where(Domain.name == ref.name))
    raise ApiError(400, "A domain must be named by id or by name.")


def domain_ref(session: Session, domain_id: str) -> dict[str, str]:
    """``{"id", "name"}`` of a domain, as tokens show a user's, project's or scope's. The
    default domain's is known without a query: it is never renamed (``domains.py``)."""
    if domain_id == DEFAULT_DOMAIN_ID:
        return {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}
    domain = session.get(Domain, domain_id)
    return {"id": domain_id, "name": domain.name if domain is not None else ""}


def require_domain(session: Session, domain_id: str) -> None:
    """A project, user or group is made only in a domain that exists (else 400)."""
    if session.get(Domain, domain_id) is None:
        raise ApiError(400, f"Could not find domain: {domain_id}.")


def domain_enabled(session: Session, domain_id: str) -> bool:
    """Whether ``domain_id`` exists and is enabled; the default domain always is (never
    disabled), so validating its users' tokens costs no query for it."""
    if domain_id == DEFAULT_DOMAIN_ID:
        return True
    domain = session.get(Domain, domain_id)
    return domain is not None and domain.enabled
