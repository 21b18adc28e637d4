"""``POST /v2/images/{id}/actions/{deactivate,reactivate}``: Glance's image actions.

A deactivated image keeps its data but no one but an admin may download it, and Nova
boots only active images. As Glance: the owner (or an admin) acts, 204 on success,
repeating an action is a no-op, and only an active (deactivated) image deactivates
(reactivates); any other status is a 403.
"""

from __future__ import annotations

from fastapi import Response

from services.common.app import forbidden
from services.common.app import router as common_router
from services.common.auth import Auth
from services.common.db import Sessions
from services.image import policy

router = common_router(prefix="/v2/images/{image_id}/actions")

# Each action: the status it leaves an image in, and the one status it starts from.
_TRANSITIONS = {"deactivate": ("deactivated", "active"), "reactivate": ("active", "deactivated")}


def _act(action: str, image_id: str, caller: Auth, sessions: Sessions) -> Response:
    target, source = _TRANSITIONS[action]
    with sessions.begin() as session:
        image = policy.visible_image(session, image_id, caller, for_update=True)
        policy.require_owner(image, caller, action)
        if image.status not in (target, source):
            raise forbidden(f"Not allowed to {action} image in status '{image.status}'")
        if image.status == source:
            image.status = target
    return Response(status_code=204)


@router.post("/deactivate", status_code=204)
def deactivate_image(image_id: str, caller: Auth, sessions: Sessions) -> Response:
    return _act("deactivate", image_id, caller, sessions)


@router.post("/reactivate", status_code=204)
def reactivate_image(image_id: str, caller: Auth, sessions: Sessions) -> Response:
    return _act("reactivate", image_id, caller, sessions)
