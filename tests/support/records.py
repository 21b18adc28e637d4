"""Records tests put straight into the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db import actions
from db.models.compute import Instance


def instance_row(uid: str, host: str | None, **fields: Any) -> Instance:
    """A tiny active instance of project ``p`` on ``host`` (``deleted=True``: a deleted one);
    ``fields`` set any other column."""
    deleted = bool(fields.get("deleted"))
    values: dict[str, Any] = {
        "uuid": uid,
        "name": "vm",
        "project_id": "p",
        "user_id": "u",
        "flavor_id": "1",
        "flavor_name": "m1.tiny",
        "vcpus": 1,
        "memory_mb": 64,
        "root_gb": 1,
        "image_ref": "img",
        "vm_state": "deleted" if deleted else "active",
        "task_state": None,
        "host": host,
        "deleted": deleted,
        "addresses": {},
    }
    return Instance(**(values | fields))


def start_action(session: Session, uid: str, workflow_id: str) -> None:
    """A create action of the instance, carried out by ``workflow_id``: its steps' events
    belong to it."""
    actions.start_action(
        session,
        instance_uuid=uid,
        action="create",
        request_id="req-1",
        user_id="u",
        project_id="p",
        workflow_id=workflow_id,
    )
