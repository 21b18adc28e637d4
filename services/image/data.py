"""``/v2/images/{id}/file``: upload an image's data once, download it.

Data streams through in ~1 MiB pieces both ways; no transaction is held open while it
moves (``uploads`` moves the image's status in short ones)."""

from __future__ import annotations

import logging

import anyio
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from db.models.image import Image
from db.session import SessionFactory
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import Sessions
from services.image import policy, streams, uploads
from services.image.bodies import media_type
from services.image.images import Store

log = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"
router = common_router(prefix="/v2/images/{image_id}/file")


def is_image_data(path: str) -> bool:
    """Upload paths stream their bodies, so the JSON body-size limit does not apply."""
    return path.startswith("/v2/images/") and path.endswith("/file")


@router.put("", status_code=204)
async def upload_image_data(
    image_id: str, caller: Auth, request: Request, sessions: Sessions, store: Store
) -> Response:
    if media_type(request) != OCTET_STREAM:
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


def _visible(sessions: SessionFactory, image_id: str, caller: AuthContext) -> Image:
    with sessions.begin() as session:
        return policy.visible_image(session, image_id, caller)


@router.get("")
async def download_image_data(
    image_id: str, caller: Auth, sessions: Sessions, store: Store
) -> Response:
    image = await run_in_threadpool(_visible, sessions, image_id, caller)
    if image.status == "deactivated" and not caller.is_admin:
        raise ApiError(
            403,
            "The requested image has been deactivated. Image data download is forbidden.",
        )
    has_data = image.status in ("active", "deactivated")
    data = await run_in_threadpool(store.open, image_id) if has_data else None
    if data is None:
        if has_data:
            log.error("image %s is active but the store has no data for it", image_id)
        # Glance answers 204 for an image without data.
        return Response(status_code=204)
    headers = {"Content-Length": str(image.size)}
    if image.checksum:
        headers["Content-MD5"] = image.checksum
    return streams.ImageDataResponse(data, headers)
