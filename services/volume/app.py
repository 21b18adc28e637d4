"""The volume service: Cinder v3's volume, attachment and quota API subset.

Routes live under ``/v3/{project_id}`` and, as Cinder allows since microversion 3.67, under
``/v3`` alone meaning the token's project. A non-admin naming another project in the URL
finds nothing there (404); an admin may act in any project's URL, which is how the bootflow
service account creates volumes for a user's project.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.config import Settings
from db.session import SessionFactory
from services.common.app import create_app as create_base_app
from services.common.auth import TokenValidator
from services.volume import (
    attachments,
    quota_classes,
    quota_sets,
    summary,
    updates,
    versions,
    volumes,
)
from services.volume.backend import FileBackend
from services.volume.errors import cinder_error
from services.volume.images import ImageService
from services.volume.manager import VolumeManager
from services.volume.microversions import MicroversionMiddleware
from services.volume.quotas import Limits, QuotaExceeded


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    manager: VolumeManager = app.state.volumes
    manager.images.close()


async def _over_quota(_request: Request, exc: Exception) -> JSONResponse:
    """Cinder's QuotaError: ``overLimit`` with ``retryAfter`` and ``Retry-After: 0``."""
    assert isinstance(exc, QuotaExceeded)
    body = cinder_error(exc.status, exc.message, None)
    body["overLimit"]["retryAfter"] = "0"
    return JSONResponse(body, status_code=exc.status, headers={"Retry-After": "0"})


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    manager = VolumeManager(
        sessions,
        FileBackend(settings.volumes_dir),
        ImageService(settings),
        Limits.from_settings(settings),
    )
    manager.recover()
    app = create_base_app("volume", cinder_error, lifespan=_lifespan)
    app.add_middleware(MicroversionMiddleware)
    app.add_exception_handler(QuotaExceeded, _over_quota)
    app.state.sessions = sessions
    app.state.token_validator = validator
    app.state.volumes = manager
    app.include_router(versions.router)
    # Cinder's URLs with the project id, and (3.67+) without; neither shadows the other, as
    # the segment after /v3 is a project id in one and a collection name in the other.
    # /volumes/summary comes before /volumes/{volume_id}, which would take it for an id.
    for prefix in ("/v3/{project_id}", "/v3"):
        for module in (summary, volumes, updates, attachments, quota_sets, quota_classes):
            app.include_router(module.router, prefix=prefix)
    return app
