"""Project quotas for instances, cores, RAM and disk, held per instance.

A reservation row (keyed by the instance uuid) and the project's usage rows change in one
transaction. Usage grows only through ``UPDATE ... WHERE in_use + n <= limit``, which is
atomic on both databases, so two concurrent boots can never both take the last free unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.models import QuotaLimit, QuotaReservation, QuotaUsage

RESOURCES = ("instances", "cores", "ram", "disk")
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


def limits(session: Session, project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    """The project's limits: its overrides, else the defaults (``-1``: unlimited)."""
    out = dict(defaults)
    for row in session.scalars(select(QuotaLimit).where(QuotaLimit.project_id == project_id)):
        out[row.resource] = row.hard_limit
    return out


def usage(session: Session, project_id: str) -> dict[str, int]:
    out = dict.fromkeys(RESOURCES, 0)
    for row in session.scalars(select(QuotaUsage).where(QuotaUsage.project_id == project_id)):
        out[row.resource] = row.in_use
    return out


def _ensure_usage_rows(session: Session, project_id: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [{"project_id": project_id, "resource": r, "in_use": 0} for r in RESOURCES]
    session.execute(insert(QuotaUsage).values(rows).on_conflict_do_nothing())


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
    if session.get(QuotaReservation, instance_uuid) is not None:
        return False
    _ensure_usage_rows(session, project_id)
    limit = limits(session, project_id, defaults)
    # Always in the same order, so concurrent reservations lock rows in the same order.
    for resource in RESOURCES:
        n = deltas[resource]
        condition = [QuotaUsage.project_id == project_id, QuotaUsage.resource == resource]
        if limit[resource] >= 0:
            condition.append(QuotaUsage.in_use + n <= limit[resource])
        result = session.execute(
            update(QuotaUsage)
            .where(*condition)
            .values(in_use=QuotaUsage.in_use + n)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            used = session.scalar(
                select(QuotaUsage.in_use).where(
                    QuotaUsage.project_id == project_id, QuotaUsage.resource == resource
                )
            )
            raise QuotaExceeded(resource, n, int(used or 0), limit[resource])
    session.add(QuotaReservation(instance_uuid=instance_uuid, project_id=project_id, **deltas))
    return True


def release(session: Session, instance_uuid: str) -> bool:
    """Give an instance's quota back; False if it held none (already released)."""
    held = session.get(QuotaReservation, instance_uuid)
    if held is None:
        return False
    for resource in RESOURCES:
        session.execute(
            update(QuotaUsage)
            .where(QuotaUsage.project_id == held.project_id, QuotaUsage.resource == resource)
            .values(in_use=QuotaUsage.in_use - getattr(held, resource))
            .execution_options(synchronize_session=False)
        )
    session.delete(held)
    return True
