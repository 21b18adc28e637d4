"""What a volume request is handed through FastAPI ``Depends``: the project it acts in, the
service's volume manager, and Cinder's query parameters (booleans, limits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request

from services.common.app import ApiError
from services.common.auth import Auth, AuthContext
from services.common.state import from_state
from services.volume import microversions as mv
from services.volume.errors import resource_not_found
from services.volume.manager import VolumeManager
from services.volume.microversions import Version
from services.volume.views import ViewContext

# Cinder's osapi_max_limit: the most items one list answer holds.
MAX_LIMIT: Final = 1000
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})

# The service's VolumeManager (``app.state.volumes``).
Manager = Annotated[VolumeManager, from_state("volumes")]


@dataclass(frozen=True)
class RequestScope:
    """The project a request acts in and what its answers may show."""

    project_id: str
    caller: AuthContext
    view: ViewContext

    @property
    def visible_project(self) -> str | None:
        """The project lookups by id are limited to; None for admins, who see every project."""
        return None if self.caller.is_admin else self.project_id


async def _scope(request: Request, caller: Auth, version: Version) -> RequestScope:
    url_project: str | None = request.path_params.get("project_id")
    if url_project is not None and url_project != caller.project_id and not caller.is_admin:
        raise resource_not_found()
    project_id = url_project or caller.project_id
    view = ViewContext(
        base_url=str(request.base_url).rstrip("/"),
        url_project=url_project,
        is_admin=caller.is_admin,
        is_service="service" in caller.roles,
        version=version,
    )
    return RequestScope(project_id, caller, view)


Scope = Annotated[RequestScope, Depends(_scope)]


async def _attachment_api(version: Version) -> None:
    """Attachments exist from 3.27; below, Cinder answers as for any unknown resource."""
    if not version.at_least(mv.NEW_ATTACH):
        raise resource_not_found()


AttachmentApi = Depends(_attachment_api)


def bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ApiError(400, f"Invalid value '{value}' for parameter {name}: expected a boolean.")


def all_projects(request: Request, scope: RequestScope) -> bool:
    """Whether a listing spans every project: an admin asking for ``all_tenants``."""
    return scope.caller.is_admin and bool_param(request, "all_tenants")


def limit_param(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "limit param must be an integer") from None
    if limit < 0:
        raise ApiError(400, "limit param must be positive")
    return min(limit, MAX_LIMIT)


def page_size(request: Request) -> int:
    """How many items a list answer holds at most."""
    limit = limit_param(request)
    return MAX_LIMIT if limit is None else limit
