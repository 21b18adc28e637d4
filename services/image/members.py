"""``/v2/images/{id}/members``: share a ``shared`` image with other projects, as Glance.

The owner (or an admin) adds and removes members; a member project accepts or rejects
the image for itself (its status starts ``pending``). A member sees the image whatever its
status, and in its image list once accepted (``member_status`` shows the others). The
owner sees every membership, a member only its own; non-shared images have no members.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models.image import Image, ImageMember
from services.common.app import ApiError, bad_request, conflict, forbidden, not_found
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.image import policy
from services.image.bodies import JsonBody
from services.image.views import isotime

router = common_router(prefix="/v2/images/{image_id}/members")

STATUSES: Final = ("pending", "accepted", "rejected")
# Glance's image_member_quota, and its member column's length.
MAX_MEMBERS: Final = 128
MAX_MEMBER_ID: Final = 255


def member_view(member: ImageMember) -> dict[str, Any]:
    return {
        "created_at": isotime(member.created_at),
        "image_id": member.image_id,
        "member_id": member.member_id,
        "schema": "/v2/schemas/member",
        "status": member.status,
        "updated_at": isotime(member.updated_at),
    }


def _shared_image(session: Session, image_id: str, caller: AuthContext, action: str) -> Image:
    # Changes lock the image row, so two member changes of one image take turns.
    changing = action in ("create", "update", "delete")
    image = policy.visible_image(session, image_id, caller, for_update=changing)
    if image.visibility != "shared":
        raise forbidden(
            f"Not allowed to {action} members for image {image_id}: "
            "Only shared images have members."
        )
    return image


def _is_owner(image: Image, caller: AuthContext) -> bool:
    return caller.is_admin or image.owner == caller.project_id


def _membership(image: Image, member_id: str, caller: AuthContext) -> ImageMember:
    """The membership, if the caller may see it: the owner all, a member its own."""
    for member in image.members:
        if member.member_id == member_id and (
            _is_owner(image, caller) or member_id == caller.project_id
        ):
            return member
    raise not_found(f"{member_id} not found in the member list of the image {image.id}.")


def _new_member_id(body: Any) -> str:
    if not isinstance(body, dict):
        raise bad_request('Expected a member in the form: {"member": "image_id"}')
    if "member" not in body:
        raise bad_request("Member to be added not specified")
    member_id = body["member"]
    if not member_id:
        raise bad_request("Member can't be empty")
    if not isinstance(member_id, str) or len(member_id) > MAX_MEMBER_ID:
        raise bad_request(f"Member must be a project id of at most {MAX_MEMBER_ID} characters.")
    return member_id


@router.post("")
def create_member(
    image_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    member_id = _new_member_id(body)
    image = _shared_image(session, image_id, caller, "create")
    if not _is_owner(image, caller):
        raise forbidden(f"Not allowed to create members for image {image_id}.")
    if any(m.member_id == member_id for m in image.members):
        raise conflict(f"Member {member_id} is duplicated for image {image_id}")
    count = session.scalar(
        select(func.count()).select_from(ImageMember).where(ImageMember.image_id == image_id)
    )
    if (count or 0) >= MAX_MEMBERS:
        raise ApiError(
            413,
            f"Image member limit exceeded for image {image_id}: The limit has been exceeded "
            "on the number of allowed image members for this image. "
            f"Attempted: {(count or 0) + 1}, Maximum: {MAX_MEMBERS}",
        )
    member = ImageMember(image_id=image_id, member_id=member_id, status="pending")
    image.members.append(member)
    session.flush()
    return member_view(member)


@router.get("")
def list_members(image_id: str, caller: Auth, session: DbSession) -> dict[str, Any]:
    image = _shared_image(session, image_id, caller, "list")
    owner = _is_owner(image, caller)
    shown = [m for m in image.members if owner or m.member_id == caller.project_id]
    shown.sort(key=lambda m: (m.created_at, m.id))
    return {"members": [member_view(m) for m in shown], "schema": "/v2/schemas/members"}


@router.get("/{member_id}")
def show_member(image_id: str, member_id: str, caller: Auth, session: DbSession) -> dict[str, Any]:
    try:
        image = _shared_image(session, image_id, caller, "get")
    except ApiError as exc:
        # As Glance: a 403 here would tell that the image exists.
        raise not_found(exc.message) from None
    return member_view(_membership(image, member_id, caller))


def _new_status(body: Any) -> str:
    if not isinstance(body, dict):
        raise bad_request('Expected a status in the form: {"status": "status"}')
    if "status" not in body:
        raise bad_request("Status not specified")
    if body["status"] not in STATUSES:
        raise bad_request('Incorrect request: Status must be "pending", "accepted" or "rejected".')
    return str(body["status"])


@router.put("/{member_id}")
def update_member(
    image_id: str, member_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    status = _new_status(body)
    image = _shared_image(session, image_id, caller, "update")
    member = _membership(image, member_id, caller)
    # Only the member project decides for itself (an admin may for it); the owner may not.
    if member_id != caller.project_id and not caller.is_admin:
        raise forbidden(f"Not allowed to update members for image {image_id}.")
    if member.status != status:
        member.status = status
        member.updated_at = utcnow()
    session.flush()
    return member_view(member)


@router.delete("/{member_id}", status_code=204)
def delete_member(image_id: str, member_id: str, caller: Auth, session: DbSession) -> Response:
    image = _shared_image(session, image_id, caller, "delete")
    member = _membership(image, member_id, caller)
    if not _is_owner(image, caller):
        raise forbidden(f"Not allowed to delete members for image {image_id}.")
    image.members.remove(member)
    return Response(status_code=204)
