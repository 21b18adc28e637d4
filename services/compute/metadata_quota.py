"""How many metadata items a server may hold: its project's ``metadata_items`` quota
(Nova's default 128; -1 unlimited; os-quota-sets changes it), checked at create and on
every change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.app import ApiError
from services.compute.compute_quotas import limit_of, over


def check_count(session: Session, project_id: str, items: dict[str, str]) -> None:
    allowed = limit_of(session, project_id, "metadata_items")
    if over(allowed, len(items)):
        raise ApiError(403, f"Maximum number of metadata items exceeds {allowed}")
