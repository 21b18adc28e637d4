"""``/v2/images``: create, list, show, update (JSON patch) and delete image records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from db.models.image import Image
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth
from services.common.db import DbSession, Sessions, flush_unique
from services.common.state import from_state
from services.image import fields, listing, patch, policy
from services.image.bodies import JsonBody, media_type, parse_json
from services.image.store import ImageStore
from services.image.views import glance_error, image_href, image_view

router = common_router(prefix="/v2/images")
# The service's image store (``app.state.image_store``).
Store = Annotated[ImageStore, from_state("image_store")]


@router.post("", status_code=201)
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
    flush_unique(session, f"Image with identifier {new.id} already exists!")
    response.headers["Location"] = image_href(image.id)
    return image_view(image)


@router.get("")
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


@router.get("/{image_id}")
def show_image(image_id: str, caller: Auth, session: DbSession) -> dict[str, Any]:
    return image_view(policy.visible_image(session, image_id, caller))


@router.patch("/{image_id}")
async def update_image(
    image_id: str, caller: Auth, request: Request, sessions: Sessions
) -> Response:
    # The media type is checked by hand: FastAPI would not parse this one as JSON.
    draft = patch.DRAFTS.get(media_type(request))
    if draft is None:
        error = patch.unsupported_media_type(request.headers.get("content-type"))
        return JSONResponse(
            glance_error(error.status, error.message, None),
            status_code=error.status,
            headers={"Accept-Patch": patch.ACCEPT_PATCH},
        )
    changes = patch.parse_changes(parse_json(await request.body()), draft)

    def update() -> dict[str, Any]:
        with sessions.begin() as session:
            image = policy.visible_image(session, image_id, caller, for_update=True)
            patch.apply_changes(image, changes, caller)
            session.flush()
            return image_view(image)

    return JSONResponse(await run_in_threadpool(update))


@router.delete("/{image_id}", status_code=204)
def delete_image(image_id: str, caller: Auth, sessions: Sessions, store: Store) -> Response:
    with sessions.begin() as session:
        image = policy.visible_image(session, image_id, caller, for_update=True)
        policy.require_owner(image, caller, "delete_image")
        if image.protected:
            raise ApiError(403, f"Image {image_id} is protected and cannot be deleted.")
        session.delete(image)
    # Only once the row is gone for good: a failed commit must not lose the data.
    store.delete(image_id)
    return Response(status_code=204)
