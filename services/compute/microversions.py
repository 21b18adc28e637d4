"""Nova's API microversions: ``OpenStack-API-Version: compute X.Y`` and the legacy
``X-OpenStack-Nova-API-Version: X.Y``.

No header means 2.1 and ``latest`` the newest served; a malformed version is a 400 and one
outside MIN-MAX a 406, with Nova's messages. Every answer under ``/v2.1`` names the version
that served it in both headers and varies by both, as nova-api does. The version root
(``GET /``) is outside microversion control, as Nova's is.

bootflow serves up to 2.96 (Nova 2024.1 Caracal's maximum): every response difference up to
there is implemented (the views check the constants below); request features bootflow
cannot carry out (server tags, description, hostname, requested hosts...) are refused
with a 400 that says so, never silently dropped.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp

from services.common.app import nova_error
from services.common.microversions import ApiVersion, Microversions
from services.common.microversions import MicroversionMiddleware as _Middleware
from services.common.microversions import Version as Version

LEGACY_HEADER: Final = "X-OpenStack-Nova-API-Version"
SERVICE: Final = "compute"
PREFIX: Final = "/v2.1"


def v(text: str) -> ApiVersion:
    return ApiVersion.parse(text)


MIN_VERSION: Final = v("2.1")
MAX_VERSION: Final = v("2.96")

# The microversions whose differences bootflow implements (rest_api_version_history.rst).
EXTENDED_ATTRS_V23: Final = v("2.3")  # more OS-EXT-SRV-ATTR fields; delete_on_termination
KEYPAIR_FILTER_IP6: Final = v("2.5")
LOCKED: Final = v("2.9")
SERVICE_FORCED_DOWN: Final = v("2.11")
SERVER_GROUP_OWNER: Final = v("2.13")
SOFT_AFFINITY: Final = v("2.15")
HOST_STATUS: Final = v("2.16")
DESCRIPTION: Final = v("2.19")
ACTIONS_OF_DELETED: Final = v("2.21")
TAGS: Final = v("2.26")
CPU_INFO_OBJECT: Final = v("2.28")
HYPERVISOR_PAGING: Final = v("2.33")
NO_NETWORK_PROXIES: Final = v("2.36")  # floating IP and security group limits go
NETWORKS_REQUIRED: Final = v("2.37")  # networks required; "auto"/"none"; uuid format
INVALID_STATUS_400: Final = v("2.38")
AGGREGATE_UUID: Final = v("2.41")
NO_IMAGE_META_LIMIT: Final = v("2.39")
EMBEDDED_FLAVOR: Final = v("2.47")
REBUILD_KEY_NAME: Final = v("2.54")
EVENTS_FOR_OWNER: Final = v("2.51")
CREATE_TAGS: Final = v("2.52")
SERVICE_UUIDS: Final = v("2.53")  # hypervisor and service ids are uuids; PUT by id
FLAVOR_DESCRIPTION: Final = v("2.55")
NO_PERSONALITY: Final = v("2.57")  # and a rebuild's user_data
ACTIONS_PAGING: Final = v("2.58")
FLAVOR_EXTRA_SPECS: Final = v("2.61")
EVENT_HOST: Final = v("2.62")
TRUSTED_CERTS: Final = v("2.63")
GROUP_POLICY: Final = v("2.64")
CHANGES_BEFORE: Final = v("2.66")
SERVER_GROUPS_IN_SHOW: Final = v("2.71")
LOCKED_REASON: Final = v("2.73")
REQUESTED_HOST: Final = v("2.74")
STRICT_QUERY: Final = v("2.75")  # unknown query parameters 400; flavor swap 0
MORE_FILTERS: Final = v("2.83")
EVENT_DETAILS: Final = v("2.84")
NO_HYPERVISOR_USAGE: Final = v("2.88")
HOSTNAME: Final = v("2.90")
FQDN_HOSTNAME: Final = v("2.94")
PINNED_AZ: Final = v("2.96")


COMPUTE: Final = Microversions(
    SERVICE, MIN_VERSION, MAX_VERSION, nova_error, legacy_header=LEGACY_HEADER, prefix=PREFIX
)


class MicroversionMiddleware(_Middleware):
    """The shared middleware with Nova's versions (``/v2.1`` only; the root is unversioned)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, COMPUTE)
