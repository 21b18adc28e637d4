"""Who may see and change an image: Glance's default policy.

* Reading: admins see every image; others see their project's images, every ``public``
  or ``community`` one, and ``shared`` ones their project is a member of (whatever the
  membership's status; the list shows only accepted ones unless asked otherwise). An
  image a caller cannot see answers 404, as if it did not exist.
* Writing (create, upload, update, delete): the owner's members and admins. A caller who
  can see an image but does not own it (someone else's public image) gets a 403.
* Only admins publish (``visibility=public``) or create images for another project.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, true
from sqlalchemy.orm import Session

from db.models.image import Image, ImageMember
from services.common.app import ApiError, forbidden, not_found
from services.common.auth import AuthContext

# Roles that may change images (Glance's ADMIN_OR_PROJECT_MEMBER); readers only read.
_WRITER_ROLES = frozenset({"admin", "member"})


def not_authorized(action: str) -> ApiError:
    return forbidden(f"You are not authorized to complete {action} action.")


def image_not_found(image_id: str) -> ApiError:
    return not_found(f"No image found with ID {image_id}")


def can_see(image: Image, caller: AuthContext) -> bool:
    if caller.is_admin or image.visibility in ("public", "community"):
        return True
    if not caller.project_id:
        return False
    return image.owner == caller.project_id or is_member(image, caller)


def is_member(image: Image, caller: AuthContext) -> bool:
    """Whether the image is shared with the caller's project (any membership status)."""
    return image.visibility == "shared" and any(
        m.member_id == caller.project_id for m in image.members
    )


def visible_image(
    session: Session, image_id: str, caller: AuthContext, *, for_update: bool = False
) -> Image:
    """The image, or 404 when it does not exist or the caller may not see it.

    ``for_update`` locks the row (PostgreSQL) so a read-modify-write is not interleaved
    with another; SQLite's ``BEGIN IMMEDIATE`` transactions are serialized anyway.
    """
    image = session.get(Image, image_id, with_for_update=for_update)
    if image is None or not can_see(image, caller):
        raise image_not_found(image_id)
    return image


def require_writer(caller: AuthContext, action: str) -> None:
    """A project-scoped member or an admin: who may create and change images."""
    if not caller.project_id or not _WRITER_ROLES.intersection(caller.roles):
        raise not_authorized(action)


def require_owner(image: Image, caller: AuthContext, action: str) -> None:
    """Changing an image the caller can see: its own project's, or any for an admin."""
    require_writer(caller, action)
    if not caller.is_admin and image.owner != caller.project_id:
        raise not_authorized(action)


def check_visibility(visibility: str, caller: AuthContext) -> None:
    """Publishing an image to everyone is for admins (Glance's ``publicize_image``)."""
    if visibility == "public" and not caller.is_admin:
        raise not_authorized("publicize_image")


def check_owner(owner: str | None, caller: AuthContext) -> None:
    if not caller.is_admin and owner != caller.project_id:
        raise forbidden(f"You are not permitted to create images owned by '{owner}'.")


def listable(
    caller: AuthContext, visibility: str | None, member_status: str = "accepted"
) -> ColumnElement[bool]:
    """The images ``GET /v2/images`` shows the caller, given its ``visibility`` and
    ``member_status`` filters.

    As Glance: without a filter, community images appear only to their owner (admins
    included); ``visibility=all`` drops that rule; any other value selects just that one.
    Non-admins never list another project's private images, nor its shared ones unless
    their project's membership has ``member_status`` (``all``: any).
    """
    conditions: list[ColumnElement[bool]] = []
    if visibility is None:
        conditions.append(or_(Image.visibility != "community", Image.owner == caller.project_id))
    elif visibility != "all":
        conditions.append(Image.visibility == visibility)
    if not caller.is_admin:
        membership = [ImageMember.image_id == Image.id, ImageMember.member_id == caller.project_id]
        if member_status != "all":
            membership.append(ImageMember.status == member_status)
        shared_with_caller = and_(Image.visibility == "shared", exists().where(*membership))
        conditions.append(
            or_(
                Image.visibility.in_(("public", "community")),
                Image.owner == caller.project_id,
                shared_with_caller,
            )
        )
    return and_(true(), *conditions)
