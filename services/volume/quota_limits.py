"""Cinder's quota sets: a project's limits as Cinder shows them, and an admin's changes.

Of Cinder's resources only volumes and gigabytes exist here and are enforced
(``quotas``); the others (snapshots, backups, groups, per-type limits) appear as Cinder
shows them, and an admin may set them as in Cinder, but nothing here consumes them.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models.volume import VolumeQuotaClassLimit, VolumeQuotaLimit
from services.common.app import MAX_INT, ApiError, forbidden
from services.common.auth import AuthContext
from services.volume import quotas
from services.volume.quotas import DEFAULT_CLASS, GIGABYTES, VOLUMES, Limits
from services.volume.views import VOLUME_TYPE

# Defaults of the resources this service has none of: none can be made (as /limits says),
# per-volume and per-type sizes unlimited (Cinder's -1).
_ABSENT_DEFAULTS: Final = {
    "snapshots": 0,
    "backups": 0,
    "backup_gigabytes": 0,
    "groups": 0,
    "per_volume_gigabytes": -1,
    f"volumes_{VOLUME_TYPE}": -1,
    f"gigabytes_{VOLUME_TYPE}": -1,
    f"snapshots_{VOLUME_TYPE}": -1,
}
# Keys an update may carry that are not resources (Cinder's NON_QUOTA_KEYS).
_NON_QUOTA_KEYS: Final = frozenset({"tenant_id", "id"})


def _overlay(found: dict[str, int], session: Session, key: Any, value: str) -> dict[str, int]:
    """``found`` with the limits stored under ``key == value`` (a project's or a class's)."""
    model = key.class_
    rows = session.execute(select(model.resource, model.hard_limit).where(key == value))
    found.update({resource: int(hard) for resource, hard in rows if resource in found})
    return found


def require_admin(caller: AuthContext, policy: str, name: str, max_length: int) -> None:
    """Changing quotas is for admins (Cinder's policy ``policy``); ``name`` (a project id or
    a class name) must fit its column."""
    if not caller.is_admin:
        raise forbidden(f"Policy doesn't allow {policy} to be performed.")
    if len(name) > max_length:
        raise ApiError(400, f"{name!r} is longer than {max_length} characters.")


def defaults(session: Session, limits: Limits) -> dict[str, int]:
    """Every project's defaults: the settings, under what an admin set for the default class."""
    base = {VOLUMES: limits.volumes, GIGABYTES: limits.gigabytes, **_ABSENT_DEFAULTS}
    return _overlay(base, session, VolumeQuotaClassLimit.class_name, DEFAULT_CLASS)


def class_limits(session: Session, class_name: str, limits: Limits) -> dict[str, int]:
    found = defaults(session, limits)
    return _overlay(found, session, VolumeQuotaClassLimit.class_name, class_name)


def project_limits(session: Session, project_id: str, limits: Limits) -> dict[str, int]:
    return _overlay(defaults(session, limits), session, VolumeQuotaLimit.project_id, project_id)


def quota_set(
    session: Session, project_id: str, limits: Limits, with_usage: bool
) -> dict[str, Any]:
    """Cinder's ``quota_set``: each limit, or with usage each ``{limit, in_use, reserved}``."""
    body: dict[str, Any] = {"id": project_id}
    counts = quotas.usage(session, project_id) if with_usage else {}
    for resource, limit in project_limits(session, project_id, limits).items():
        if with_usage:
            body[resource] = {"limit": limit, "in_use": counts.get(resource, 0), "reserved": 0}
        else:
            body[resource] = limit
    return body


def _integer(key: str, value: Any) -> int:
    """Cinder's ``validate_integer``: an integer (or its digits) from -1 to MAX_INT."""
    if isinstance(value, bool):
        raise ApiError(400, f"{key} must be an integer.")
    try:
        number = int(str(value))
    except ValueError:
        raise ApiError(400, f"{key} must be an integer.") from None
    if number < -1:
        raise ApiError(400, f"{key} must be >= -1")
    if number > MAX_INT:
        raise ApiError(400, f"{key} must be <= {MAX_INT}")
    return number


def parse_update(changes: dict[str, Any], known: dict[str, int]) -> dict[str, int]:
    bad = [k for k in changes if k not in known and k not in _NON_QUOTA_KEYS]
    if bad:
        raise ApiError(400, f"Bad key(s) in quota set: {','.join(map(str, bad))}")
    return {k: _integer(k, v) for k, v in changes.items() if k in known}


def update(
    session: Session, project_id: str, requested: dict[str, Any], limits: Limits
) -> dict[str, int]:
    """Set the project's limits; as Cinder, none below what the project already uses."""
    current = project_limits(session, project_id, limits)
    changes = parse_update(requested, current)
    used = quotas.usage(session, project_id)
    for resource, limit in changes.items():
        if limit != -1 and resource in used and limit < used[resource]:
            raise ApiError(
                400,
                f"Quota {resource} limit must be equal or greater than existing resources. "
                f"Current usage is {used[resource]} and the requested limit is {limit}.",
            )
    _store(session, VolumeQuotaLimit.project_id, project_id, changes)
    return {**current, **changes}


def update_class(
    session: Session, class_name: str, requested: dict[str, Any], limits: Limits
) -> dict[str, int]:
    current = class_limits(session, class_name, limits)
    changes = parse_update(requested, current)
    _store(session, VolumeQuotaClassLimit.class_name, class_name, changes)
    return {**current, **changes}


def _store(session: Session, key: Any, value: str, changes: dict[str, int]) -> None:
    """Insert or update each limit under ``key == value`` (a project's or a class's)."""
    model = key.class_
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for resource, limit in changes.items():
        stmt = insert(model).values({key.key: value, "resource": resource, "hard_limit": limit})
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[key.key, "resource"], set_={"hard_limit": limit}
            )
        )


def reset(session: Session, project_id: str) -> None:
    """Back to the defaults (Cinder's DELETE of a quota set)."""
    session.execute(delete(VolumeQuotaLimit).where(VolumeQuotaLimit.project_id == project_id))
