"""Neutron's error shape and the errors this service raises, worded as Neutron words them.

Neutron answers ``{"NeutronError": {"type": ..., "message": ..., "detail": ""}}`` where
``type`` is the exception class name clients match on (``NetworkNotFound``,
``IpAddressGenerationFailure``...). Authentication failures come from keystonemiddleware in
front of Neutron, so a 401 has Keystone's shape instead.
"""

from __future__ import annotations

from typing import Any

from services.common.app import ApiError

# The type webob's exceptions give an error that names no Neutron exception.
_HTTP_TYPES = {
    400: "HTTPBadRequest",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    500: "HTTPInternalServerError",
    503: "HTTPServiceUnavailable",
}


def neutron_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    if status == 401:
        return {"error": {"code": 401, "title": "Unauthorized", "message": message}}
    error_type = kind or _HTTP_TYPES.get(status, "NeutronException")
    return {"NeutronError": {"type": error_type, "message": message, "detail": ""}}


def bad_request(message: str) -> ApiError:
    """A malformed request, as Neutron's API layer (webob) refuses it."""
    return ApiError(400, message, "HTTPBadRequest")


def invalid_input(reason: str) -> ApiError:
    return ApiError(400, f"Invalid input for operation: {reason}", "InvalidInput")


def invalid_attribute(attribute: str, reason: str) -> ApiError:
    """An attribute whose value fails validation, in Neutron's words."""
    return bad_request(f"Invalid input for {attribute}. Reason: {reason}.")


def policy_denied(rule: str) -> ApiError:
    return ApiError(403, f"{rule} is disallowed by policy", "PolicyNotAuthorized")


def network_not_found(network_id: str) -> ApiError:
    return ApiError(404, f"Network {network_id} could not be found.", "NetworkNotFound")


def subnet_not_found(subnet_id: str) -> ApiError:
    return ApiError(404, f"Subnet {subnet_id} could not be found.", "SubnetNotFound")


def port_not_found(port_id: str) -> ApiError:
    return ApiError(404, f"Port {port_id} could not be found.", "PortNotFound")


def network_in_use(network_id: str) -> ApiError:
    return ApiError(
        409,
        f"Unable to complete operation on network {network_id}. "
        "There are one or more ports still in use on the network.",
        "NetworkInUse",
    )


def subnet_in_use(subnet_id: str) -> ApiError:
    return ApiError(
        409,
        f"Unable to complete operation on subnet {subnet_id}: "
        "One or more ports have an IP allocation from this subnet.",
        "SubnetInUse",
    )


def ip_generation_failure(network_id: str) -> ApiError:
    return ApiError(
        409,
        f"No more IP addresses available on network {network_id}.",
        "IpAddressGenerationFailure",
    )


def ip_already_allocated(ip: str, subnet_id: str) -> ApiError:
    return ApiError(
        409,
        f"IP address {ip} already allocated in subnet {subnet_id}",
        "IpAddressAlreadyAllocated",
    )


def mac_in_use(network_id: str, mac: str) -> ApiError:
    return ApiError(
        409,
        f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
        "MacAddressInUse",
    )


def mac_generation_failure(network_id: str) -> ApiError:
    return ApiError(
        503,
        f"Unable to generate unique mac on network {network_id}.",
        "MacAddressGenerationFailure",
    )


def invalid_shared_setting(network_id: str) -> ApiError:
    return ApiError(
        409,
        f"Unable to reconfigure sharing settings for network {network_id}. "
        "Multiple tenants are using it.",
        "InvalidSharedSetting",
    )
