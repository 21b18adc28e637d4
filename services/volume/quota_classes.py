"""``/os-quota-class-sets/{class}``: Cinder's quota classes, for admins. The ``default``
class's limits are every project's defaults (over the service's settings), so an admin
raises all projects' quotas at run time here, and one project's at ``/os-quota-sets``."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import quota_limits
from services.volume.context import Manager, RequestScope, Scope

router = common_router()
# Cinder's quota_classes.class_name column.
_MAX_CLASS_NAME: Final = 255


class QuotaClassSetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota_class_set: dict[str, Any]


def _admin(scope: RequestScope, class_name: str) -> None:
    policy = "volume_extension:quota_classes"
    quota_limits.require_admin(scope.caller, policy, class_name, _MAX_CLASS_NAME)


@router.get("/os-quota-class-sets/{class_name}")
def show_quota_class_set(
    class_name: str, scope: Scope, session: DbSession, manager: Manager
) -> dict[str, Any]:
    _admin(scope, class_name)
    found = quota_limits.class_limits(session, class_name, manager.limits)
    return {"quota_class_set": {"id": class_name, **found}}


@router.put("/os-quota-class-sets/{class_name}")
def update_quota_class_set(
    class_name: str,
    body: QuotaClassSetUpdate,
    scope: Scope,
    session: DbSession,
    manager: Manager,
) -> dict[str, Any]:
    _admin(scope, class_name)
    changes = body.quota_class_set
    found = quota_limits.update_class(session, class_name, changes, manager.limits)
    return {"quota_class_set": found}
