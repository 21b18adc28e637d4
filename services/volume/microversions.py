"""Cinder's API microversions: the ``OpenStack-API-Version: volume X.Y`` header.

No header means 3.0, ``latest`` the newest; a malformed version is a 400 and one outside
3.0-3.70 a 406, as Cinder answers. Every other response says which version served it and
that it varies by the header, so caches keep versions apart.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp

from services.common.microversions import ApiVersion, Microversions
from services.common.microversions import MicroversionMiddleware as _Middleware
from services.common.microversions import Version as Version
from services.volume.errors import cinder_error

SERVICE: Final = "volume"

# Microversions this service behaves differently from (named as in cinder/api/microversions.py).
VOLUME_LIST_BOOTABLE: Final = ApiVersion(3, 2)
GROUP_VOLUME: Final = ApiVersion(3, 13)
VOLUME_DETAIL_PROVIDER_ID: Final = ApiVersion(3, 21)
NEW_ATTACH: Final = ApiVersion(3, 27)
NEW_ATTACH_COMPLETION: Final = ApiVersion(3, 44)
VOLUME_SHARED_TARGETS_AND_SERVICE_FIELDS: Final = ApiVersion(3, 48)
ATTACHMENT_CREATE_MODE_ARG: Final = ApiVersion(3, 54)
VOLUME_CLUSTER_NAME: Final = ApiVersion(3, 61)
VOLUME_TYPE_ID_IN_VOLUME_DETAIL: Final = ApiVersion(3, 63)
USE_QUOTA: Final = ApiVersion(3, 65)

MIN_VERSION: Final = ApiVersion(3, 0)
MAX_VERSION: Final = ApiVersion(3, 70)
# When Cinder last raised its maximum to 3.70 (its version document's "updated").
MAX_VERSION_UPDATED: Final = "2022-08-31T00:00:00Z"


VOLUME: Final = Microversions(SERVICE, MIN_VERSION, MAX_VERSION, cinder_error)


class MicroversionMiddleware(_Middleware):
    """The shared middleware with Cinder's versions (every path)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, VOLUME)
