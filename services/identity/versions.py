"""``/`` and ``/v3``: version discovery (unauthenticated, as keystoneauth expects)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from services.common.app import router as common_router
from services.identity.views import base_url, version

router = common_router()


@router.get("/")
def versions(request: Request) -> Response:
    return JSONResponse({"versions": {"values": [version(base_url(request))]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def show_version(request: Request) -> dict[str, Any]:
    return {"version": version(base_url(request))}
