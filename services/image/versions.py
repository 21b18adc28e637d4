"""``/``, ``/v2`` and ``/versions``: version discovery (unauthenticated, as keystoneauth's
discovery expects)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from services.common.app import router as common_router
from services.image.views import versions

router = common_router()


@router.get("/")
@router.get("/v2")
@router.get("/v2/")
def version_choices(request: Request) -> JSONResponse:
    return JSONResponse(versions(str(request.base_url)), status_code=300)


@router.get("/versions")
def list_versions(request: Request) -> dict[str, Any]:
    return versions(str(request.base_url))
