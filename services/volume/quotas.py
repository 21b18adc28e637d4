"""Per-project volume quotas: counts held in ``volume_quota_usages``, limits from settings.

Usage only moves through conditional UPDATEs (``in_use + n <= limit`` in the WHERE clause),
so two creates racing for the last unit cannot both win: on PostgreSQL the second UPDATE
waits for the first's row lock and re-checks the condition against the committed row; on
SQLite every transaction is BEGIN IMMEDIATE and they simply take turns. A refusal raises,
and the caller's transaction rolls back whatever this request had already counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Table, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.config import VolumeQuotaOptions
from db.models.volume import VolumeQuotaClassLimit, VolumeQuotaLimit, VolumeQuotaUsage
from services.common.app import ApiError

VOLUMES: Final = "volumes"
GIGABYTES: Final = "gigabytes"
RESOURCES: Final = (VOLUMES, GIGABYTES)
# The quota class whose limits are every project's defaults (Cinder's).
DEFAULT_CLASS: Final = "default"
_USAGE = cast(Table, VolumeQuotaUsage.__table__)


class QuotaExceeded(ApiError):
    """Cinder's QuotaError: a 413 the client may retry once usage drops (Retry-After: 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


@dataclass(frozen=True)
class Limits:
    """A project's limits; a negative limit means unlimited, as in Cinder."""

    volumes: int
    gigabytes: int

    @classmethod
    def from_settings(cls, settings: VolumeQuotaOptions) -> Limits:
        return cls(volumes=settings.quota_volumes, gigabytes=settings.quota_gigabytes)

    def of(self, resource: str) -> int:
        return self.volumes if resource == VOLUMES else self.gigabytes


def effective(session: Session, project_id: str, defaults: Limits) -> Limits:
    """The project's limits: what an admin set for it, else the default quota class's,
    else the service's settings."""
    found: dict[str, int] = {}
    for key, value in (
        (VolumeQuotaClassLimit.class_name, DEFAULT_CLASS),
        (VolumeQuotaLimit.project_id, project_id),
    ):
        model = key.class_
        rows = session.execute(
            select(model.resource, model.hard_limit).where(
                key == value, model.resource.in_(RESOURCES)
            )
        )
        found.update({resource: int(hard) for resource, hard in rows})
    return Limits(
        volumes=found.get(VOLUMES, defaults.volumes),
        gigabytes=found.get(GIGABYTES, defaults.gigabytes),
    )


def _ensure_rows(session: Session, project_id: str) -> None:
    """Insert the project's zeroed usage rows unless present (a racing insert is harmless)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [{"project_id": project_id, "resource": r, "in_use": 0} for r in RESOURCES]
    session.execute(
        insert(_USAGE)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["project_id", "resource"])
    )


def usage(session: Session, project_id: str) -> dict[str, int]:
    rows = session.execute(
        select(_USAGE.c.resource, _USAGE.c.in_use).where(_USAGE.c.project_id == project_id)
    )
    found = {resource: in_use for resource, in_use in rows}
    return {r: int(found.get(r, 0)) for r in RESOURCES}


def reserve(session: Session, project_id: str, limits: Limits, size_gb: int) -> None:
    """Count one more volume of ``size_gb`` against the project, or raise QuotaExceeded."""
    _ensure_rows(session, project_id)
    limits = effective(session, project_id, limits)
    for resource, delta in ((VOLUMES, 1), (GIGABYTES, size_gb)):
        limit = limits.of(resource)
        stmt = (
            update(_USAGE)
            .where(_USAGE.c.project_id == project_id, _USAGE.c.resource == resource)
            .values(in_use=_USAGE.c.in_use + delta)
        )
        if limit >= 0:
            stmt = stmt.where(_USAGE.c.in_use + delta <= limit)
        result = cast(CursorResult[Any], session.execute(stmt))
        if result.rowcount == 0:
            raise _exceeded(resource, delta, limit, usage(session, project_id)[resource])


def release(session: Session, project_id: str, size_gb: int) -> None:
    """Give back one volume of ``size_gb`` (never below zero, should counts ever drift)."""
    for resource, delta in ((VOLUMES, 1), (GIGABYTES, size_gb)):
        in_use = _USAGE.c.in_use
        session.execute(
            update(_USAGE)
            .where(_USAGE.c.project_id == project_id, _USAGE.c.resource == resource)
            .values(in_use=case((in_use >= delta, in_use - delta), else_=0))
        )


def _exceeded(resource: str, requested: int, limit: int, consumed: int) -> QuotaExceeded:
    # Cinder's exception messages, prefixed with the exception's name as its fault wrapper does.
    if resource == VOLUMES:
        return QuotaExceeded(
            f"VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) "
            f"exceeded for quota '{VOLUMES}'."
        )
    return QuotaExceeded(
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
        f"{GIGABYTES} quota. Requested {requested}G, quota is {limit}G and {consumed}G has "
        "been consumed."
    )


def absolute_limits(session: Session, project_id: str, limits: Limits) -> dict[str, int]:
    """Cinder's ``limits.absolute`` for the project."""
    limits = effective(session, project_id, limits)
    used = usage(session, project_id)
    return {
        "maxTotalVolumes": limits.of(VOLUMES),
        "maxTotalVolumeGigabytes": limits.of(GIGABYTES),
        "totalVolumesUsed": used[VOLUMES],
        "totalGigabytesUsed": used[GIGABYTES],
        "maxTotalSnapshots": 0,
        "maxTotalBackups": 0,
        "maxTotalBackupGigabytes": 0,
        "totalSnapshotsUsed": 0,
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }
