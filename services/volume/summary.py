"""``GET /volumes/summary`` (3.12): how many volumes, their total size and (3.36) every
metadata key with its distinct values, as Cinder's ``quick_summary`` shows them."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models.volume import Volume
from services.common.app import router as common_router
from services.common.db import DbSession
from services.common.microversions import ApiVersion
from services.volume.context import RequestScope, Scope, all_projects
from services.volume.errors import resource_not_found

VOLUME_SUMMARY: Final = ApiVersion(3, 12)
VOLUME_SUMMARY_METADATA: Final = ApiVersion(3, 36)
# The list's filters the summary honours too (Cinder applies the list's filters).
_FILTERS: Final = {"name": Volume.name, "status": Volume.status}

router = common_router()


def _distinct_metadata(session: Session, project_id: str | None) -> dict[str, list[str]]:
    """Each key with its distinct values. As Cinder, the list's filters do not narrow it."""
    query = select(Volume.metadata_)
    if project_id is not None:
        query = query.where(Volume.project_id == project_id)
    found: dict[str, list[str]] = {}
    for metadata in session.scalars(query):
        for key, value in (metadata or {}).items():
            values = found.setdefault(key, [])
            if value not in values:
                values.append(value)
    return {key: sorted(values) for key, values in sorted(found.items())}


@router.get("/volumes/summary")
def volume_summary(request: Request, scope: Scope, session: DbSession) -> dict[str, Any]:
    if not scope.view.version.at_least(VOLUME_SUMMARY):
        raise resource_not_found()
    project_id = None if all_projects(request, scope) else scope.project_id
    return {"volume-summary": _summary(request, scope, session, project_id)}


def _summary(
    request: Request, scope: RequestScope, session: Session, project_id: str | None
) -> dict[str, Any]:
    query = select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
    if project_id is not None:
        query = query.where(Volume.project_id == project_id)
    for name, column in _FILTERS.items():
        if name in request.query_params:
            query = query.where(column == request.query_params[name])
    count, size = session.execute(query).one()
    summary: dict[str, Any] = {"total_count": int(count), "total_size": int(size)}
    if scope.view.version.at_least(VOLUME_SUMMARY_METADATA):
        summary["metadata"] = _distinct_metadata(session, project_id)
    return summary
