"""The image service: Glance v2's image API subset over the image table and the image store.

Images are created (queued), receive their data once (saving, then active), are listed,
shown, updated with JSON patch, downloaded and deleted, with Glance's paths, JSON, status
codes and visibility rules (see ``policy``). Image data streams through in ~1 MiB pieces in
both directions; no request holds a database transaction open while data moves.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.config import Settings
from db.session import SessionFactory
from services.common.app import create_app as create_service_app
from services.common.auth import TokenValidator
from services.image import actions, data, images, members, schemas_api, uploads, versions
from services.image.store import ImageStore
from services.image.views import glance_error


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = create_service_app("image", glance_error, upload_path=data.is_image_data)
    store = ImageStore(settings.images_dir)
    uploads.remove_stale_partials(store, sessions)
    app.state.sessions = sessions
    app.state.token_validator = validator
    app.state.image_store = store
    for module in (versions, images, data, schemas_api, actions, members):
        app.include_router(module.router)
    return app
