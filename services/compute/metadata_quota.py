"""How many metadata items a server may hold: its project's ``metadata_items`` quota
(Nova's default 128; -1 unlimited), checked at create and on every change."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from db import quotas
from services.common.app import ApiError
from services.compute.schemas.metadata import DEFAULT_ITEMS

QUOTA_RESOURCE: Final = "metadata_items"


def metadata_limit(session: Session, project_id: str) -> int:
    """The project's quota of metadata items per server (-1: unlimited)."""
    return quotas.limits(session, project_id, {QUOTA_RESOURCE: DEFAULT_ITEMS})[QUOTA_RESOURCE]


def check_count(session: Session, project_id: str, items: dict[str, str]) -> None:
    allowed = metadata_limit(session, project_id)
    if 0 <= allowed < len(items):
        raise ApiError(403, f"Maximum number of metadata items exceeds {allowed}")
