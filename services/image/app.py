"""The image service: Glance v2's image API subset over the image table and the image store.

Images are created (queued), receive their data once (saving, then active), are listed,
shown, updated with JSON patch, downloaded and deleted, with Glance's paths, JSON, status
codes and visibility rules (see ``policy``). Image data streams through in ~1 MiB pieces in
both directions; no request holds a database transaction open while data moves.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from core.config import Settings
from db.models.image import Image
from db.session import SessionFactory
from services.common.app import ApiError, bad_request
from services.common.app import create_app as create_service_app
from services.common.auth import Auth, AuthContext, TokenValidator
from services.common.db import DbSession
from services.image import fields, listing, patch, policy, streams, uploads
from services.image.store import ImageStore
from services.image.views import glance_error, image_href, image_view, versions

log = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"


def _is_image_data(path: str) -> bool:
    """Upload paths stream their bodies, so the JSON body-size limit does not apply."""
    return path.startswith("/v2/images/") and path.endswith("/file")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise bad_request("Body expected in request.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("Malformed JSON in request body.") from None


async def _json_body(request: Request) -> Any:
    return _parse_json(await request.body())


JsonBody = Annotated[Any, Depends(_json_body)]


def create_app(settings: Settings, sessions: SessionFactory, validator: TokenValidator) -> FastAPI:
    app = create_service_app("image", glance_error, upload_path=_is_image_data)
    app.state.sessions = sessions
    app.state.token_validator = validator
    store = ImageStore(settings.images_dir)
    _remove_stale_partials(store, sessions)

    # -- versions (unauthenticated, as keystoneauth's discovery expects) ------------------

    @app.get("/")
    @app.get("/v2")
    @app.get("/v2/")
    def version_choices(request: Request) -> JSONResponse:
        return JSONResponse(versions(str(request.base_url)), status_code=300)

    @app.get("/versions")
    def list_versions(request: Request) -> dict[str, Any]:
        return versions(str(request.base_url))

    # -- image records ----------------------------------------------------------------------

    @app.post("/v2/images", status_code=201)
    def create_image(
        caller: Auth, body: JsonBody, session: DbSession, response: Response
    ) -> dict[str, Any]:
        new = fields.parse_new_image(body)
        policy.require_writer(caller, "add_image")
        # Glance's defaults: the caller's project owns it, shared with members (of which
        # there are none here), no tags.
        attributes = {"owner": caller.project_id, "visibility": "shared", "tags": [], **new.base}
        policy.check_owner(attributes["owner"], caller)
        policy.check_visibility(attributes["visibility"], caller)
        if new.id is not None:
            if session.get(Image, new.id) is not None:
                raise ApiError(409, f"Image with identifier {new.id} already exists!")
            attributes["id"] = new.id
        image = Image(properties=new.properties, **attributes)
        session.add(image)
        _flush_unique(session, f"Image with identifier {new.id} already exists!")
        response.headers["Location"] = image_href(image.id)
        return image_view(image)

    @app.get("/v2/images")
    def list_images(caller: Auth, session: DbSession, request: Request) -> dict[str, Any]:
        params = request.query_params.multi_items()
        page = listing.list_images(session, caller, listing.parse_query(params))
        body: dict[str, Any] = {
            "images": [image_view(image) for image in page.images],
            "first": listing.first_link(params),
            "schema": "/v2/schemas/images",
        }
        if page.next_marker is not None:
            body["next"] = listing.next_link(params, page.next_marker)
        return body

    @app.get("/v2/images/{image_id}")
    def show_image(image_id: str, caller: Auth, session: DbSession) -> dict[str, Any]:
        return image_view(policy.visible_image(session, image_id, caller))

    @app.patch("/v2/images/{image_id}")
    async def update_image(image_id: str, caller: Auth, request: Request) -> Response:
        # The media type is checked by hand: FastAPI would not parse this one as JSON.
        if _media_type(request) != patch.MEDIA_TYPE:
            error = patch.unsupported_media_type(request.headers.get("content-type"))
            return JSONResponse(
                glance_error(error.status, error.message, None),
                status_code=error.status,
                headers={"Accept-Patch": patch.MEDIA_TYPE},
            )
        changes = patch.parse_changes(_parse_json(await request.body()))

        def update() -> dict[str, Any]:
            with sessions.begin() as session:
                image = policy.visible_image(session, image_id, caller, for_update=True)
                patch.apply_changes(image, changes, caller)
                session.flush()
                return image_view(image)

        return JSONResponse(await run_in_threadpool(update))

    @app.delete("/v2/images/{image_id}", status_code=204)
    def delete_image(image_id: str, caller: Auth) -> Response:
        with sessions.begin() as session:
            image = policy.visible_image(session, image_id, caller, for_update=True)
            policy.require_owner(image, caller, "delete_image")
            if image.protected:
                raise ApiError(403, f"Image {image_id} is protected and cannot be deleted.")
            session.delete(image)
        # Only once the row is gone for good: a failed commit must not lose the data.
        store.delete(image_id)
        return Response(status_code=204)

    # -- image data -------------------------------------------------------------------------

    @app.put("/v2/images/{image_id}/file", status_code=204)
    async def upload_image_data(image_id: str, caller: Auth, request: Request) -> Response:
        if _media_type(request) != OCTET_STREAM:
            raise ApiError(
                415,
                f"Invalid content type {request.headers.get('content-type')}: "
                f"image data must be sent as {OCTET_STREAM}.",
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > streams.IMAGE_SIZE_CAP:
            raise streams.too_large(int(declared))
        disk_format = await run_in_threadpool(uploads.begin, sessions, image_id, caller)

        async def give_back() -> None:
            # Runs even if the request is being cancelled: the image must not stay "saving".
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(uploads.restore, sessions, image_id)

        try:
            writer = await run_in_threadpool(store.writer, image_id, disk_format)
            with writer:
                stored = await streams.receive(writer, request.stream())
        except ClientDisconnect:
            await give_back()
            log.warning("upload of image %s broke off: the client disconnected", image_id)
            raise ApiError(400, "The upload ended before all image data arrived.") from None
        except BaseException:
            await give_back()
            raise
        try:
            active = await run_in_threadpool(uploads.finish, sessions, image_id, stored)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(store.delete, image_id)
            await give_back()
            raise
        if not active:
            await run_in_threadpool(store.delete, image_id)
            raise ApiError(
                410,
                f"Image {image_id} could not be found after upload. The image "
                "may have been deleted during the upload; its data was removed.",
            )
        return Response(status_code=204)

    @app.get("/v2/images/{image_id}/file")
    async def download_image_data(image_id: str, caller: Auth) -> Response:
        image = await run_in_threadpool(_visible, sessions, image_id, caller)
        data = await run_in_threadpool(store.open, image_id) if image.status == "active" else None
        if data is None:
            if image.status == "active":
                log.error("image %s is active but the store has no data for it", image_id)
            # Glance answers 204 for an image without data.
            return Response(status_code=204)
        headers = {"Content-Length": str(image.size)}
        if image.checksum:
            headers["Content-MD5"] = image.checksum
        return streams.ImageDataResponse(data, headers)

    return app


def _visible(sessions: SessionFactory, image_id: str, caller: AuthContext) -> Image:
    with sessions.begin() as session:
        return policy.visible_image(session, image_id, caller)


def _flush_unique(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(409, message) from exc


def _remove_stale_partials(store: ImageStore, sessions: SessionFactory) -> None:
    """Temporary files left by a service that died mid-upload: remove those whose image is
    not being uploaded (a partial file only exists while its image is "saving")."""

    def uploading(image_id: str) -> bool:
        with sessions.begin() as session:
            image = session.get(Image, image_id)
            return image is not None and image.status == "saving"

    removed = store.remove_stale_partials(uploading)
    if removed:
        log.info("removed %d partial upload(s) left in %s", removed, store.directory)
