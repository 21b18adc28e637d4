"""Project quotas for instances, cores, RAM and disk, held per instance.

A reservation row (keyed by the instance uuid) and the project's usage rows change in one
transaction. Usage grows only through ``UPDATE ... WHERE in_use + n <= limit``, which is
atomic on both databases, so two concurrent boots can never both take the last free unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.models.compute import QuotaLimit, QuotaReservation, QuotaUsage

RESOURCES = ("instances", "cores", "ram", "disk")
# The quota class a project's defaults come from (Nova's ``default`` class): its rows are
# kept under this name in place of a project id (Keystone's ids are hex, never this).
CLASS_PREFIX = "class:"
DEFAULT_CLASS = f"{CLASS_PREFIX}default"
UNITS = {"instances": "", "cores": "", "ram": " MiB", "disk": " GiB"}


@dataclass
class QuotaExceeded(Exception):
    resource: str
    requested: int
    used: int
    limit: int

    def __str__(self) -> str:
        unit = UNITS[self.resource]
        free = max(self.limit - self.used, 0)
        return (
            f"Quota exceeded for {self.resource}: requested {self.requested}{unit}, "
            f"but already used {self.used}{unit} of {self.limit}{unit} "
            f"({free}{unit} free). Delete servers or ask an admin to raise the quota."
        )


# The reservation's statements, built once: every boot runs them, and building a statement
# (and its cache key) each time cost more than running it (docs/performance.md). Bound
# parameter names differ from the columns', which update() and insert() keep for themselves.
_HELD = select(QuotaReservation.instance_uuid).where(
    QuotaReservation.instance_uuid == bindparam("p_instance")
)
_LIMITS = select(QuotaLimit.project_id, QuotaLimit.resource, QuotaLimit.hard_limit).where(
    QuotaLimit.project_id.in_([bindparam("p_project"), DEFAULT_CLASS])
)
_TAKE = (
    update(QuotaUsage)
    .where(
        QuotaUsage.project_id == bindparam("p_project", type_=String()),
        QuotaUsage.resource == bindparam("p_resource", type_=String()),
        # -1 is unlimited.
        or_(
            bindparam("p_limit", type_=Integer()) < 0,
            QuotaUsage.in_use + bindparam("p_n", type_=Integer()) <= bindparam("p_limit"),
        ),
    )
    .values(in_use=QuotaUsage.in_use + bindparam("p_n"))
)
_USED = select(QuotaUsage.in_use).where(
    QuotaUsage.project_id == bindparam("p_project"),
    QuotaUsage.resource == bindparam("p_resource"),
)
_RESERVE = insert(QuotaReservation)
_HELD_COLUMNS = {resource: getattr(QuotaReservation, resource) for resource in RESOURCES}


def limits(session: Session, project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    """The project's limits: its overrides, else the default class's (os-quota-class-sets),
    else ``defaults`` (``-1``: unlimited)."""
    rows = list(session.connection().execute(_LIMITS, {"p_project": project_id}))
    default_class = {r: limit for owner, r, limit in rows if owner == DEFAULT_CLASS}
    own = {r: limit for owner, r, limit in rows if owner != DEFAULT_CLASS}
    return defaults | default_class | own


def usage(session: Session, project_id: str) -> dict[str, int]:
    out = dict.fromkeys(RESOURCES, 0)
    for row in session.scalars(select(QuotaUsage).where(QuotaUsage.project_id == project_id)):
        out[row.resource] = row.in_use
    return out


@cache
def _usage_rows(dialect: str) -> Any:
    """INSERT a project's usage row for a resource unless it exists (one per dialect)."""
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        upsert(QuotaUsage)
        .values(project_id=bindparam("p_project"), resource=bindparam("p_resource"), in_use=0)
        .on_conflict_do_nothing()
    )


def reserve(
    session: Session,
    instance_uuid: str,
    project_id: str,
    deltas: dict[str, int],
    defaults: dict[str, int],
) -> bool:
    """Count one instance against its project; False if it was already counted.

    Raises QuotaExceeded (and changes nothing, once the caller's transaction rolls back)
    when any resource would go over its limit.
    """
    # Core statements on the session's connection: the same transaction, no ORM unit of work.
    connection = session.connection()
    if connection.execute(_HELD, {"p_instance": instance_uuid}).first() is not None:
        return False
    connection.execute(
        _usage_rows(connection.dialect.name),
        [{"p_project": project_id, "p_resource": r} for r in RESOURCES],
    )
    limit = limits(session, project_id, defaults)
    # Always in the same order, so concurrent reservations lock rows in the same order.
    for resource in RESOURCES:
        where = {"p_project": project_id, "p_resource": resource}
        n = deltas[resource]
        if connection.execute(_TAKE, where | {"p_n": n, "p_limit": limit[resource]}).rowcount != 1:
            used = connection.execute(_USED, where).scalar()
            raise QuotaExceeded(resource, n, int(used or 0), limit[resource])
    connection.execute(
        _RESERVE, {"instance_uuid": instance_uuid, "project_id": project_id, **deltas}
    )
    return True


def release(session: Session, instance_uuid: str) -> bool:
    """Give an instance's quota back; False if it held none (already released).

    The reservation is deleted first and its amounts taken from what the DELETE returns:
    of two releases that overlap, only the one whose DELETE removed the row gives back (the
    other waits on the row's lock, then finds it gone)."""
    held = session.execute(
        delete(QuotaReservation)
        .where(QuotaReservation.instance_uuid == instance_uuid)
        .returning(QuotaReservation.project_id, *(_HELD_COLUMNS[r] for r in RESOURCES))
        .execution_options(synchronize_session=False)
    ).first()
    if held is None:
        return False
    project_id, *amounts = held
    for resource, amount in zip(RESOURCES, amounts, strict=True):
        session.execute(
            update(QuotaUsage)
            .where(QuotaUsage.project_id == project_id, QuotaUsage.resource == resource)
            .values(in_use=QuotaUsage.in_use - amount)
            .execution_options(synchronize_session=False)
        )
    return True
