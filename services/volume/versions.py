"""``/`` and ``/v3``: version discovery (unauthenticated)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from services.common.app import router as common_router
from services.volume import views

router = common_router()


@router.get("/")
def versions(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"versions": [views.version_entry(base)]}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def version(request: Request) -> dict[str, Any]:
    return {"versions": [views.version_entry(str(request.base_url).rstrip("/"))]}
