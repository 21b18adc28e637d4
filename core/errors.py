"""Error types a caller can branch on, and the retry policies that follow from them.

Request errors (the user must change something) are non-retryable ``ApplicationError``s
whose ``type`` is one of the names below; the compute API maps each to Nova's HTTP status.
Anything else an activity raises (connection refused, HTTP 5xx, a libvirt hiccup) is
transient and retried with backoff. This module is imported by workflows: no I/O here.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Final

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


class ErrorType(StrEnum):
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    INVALID_REQUEST = "InvalidRequest"
    FLAVOR_NOT_FOUND = "FlavorNotFound"
    IMAGE_NOT_FOUND = "ImageNotFound"
    IMAGE_NOT_ACTIVE = "ImageNotActive"
    NETWORK_NOT_FOUND = "NetworkNotFound"
    PORT_NOT_FOUND = "PortNotFound"
    PORT_IN_USE = "PortInUse"
    QUOTA_EXCEEDED = "QuotaExceeded"
    INSTANCE_NOT_FOUND = "InstanceNotFound"
    INSTANCE_INVALID_STATE = "InstanceInvalidState"
    INSTANCE_IS_LOCKED = "InstanceIsLocked"
    NO_VALID_HOST = "NoValidHost"
    BUILD_ABORTED = "BuildAbortException"
    MAX_RETRIES_EXCEEDED = "MaxRetriesExceeded"
    IMAGE_VERIFICATION_FAILED = "ImageVerificationFailed"
    # A service the step needs (or the database) stayed down, restarting or overloaded
    # through the step's retries: nothing is wrong with the request; retry it later.
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    # What a workflow fails with when a stage failed in a way no type above names.
    BUILD_FAILED = "BuildFailed"
    DELETE_FAILED = "DeleteFailed"
    # A server action (stop, start, reboot) that failed on the host.
    ACTION_FAILED = "ActionFailed"


# Every type above: an ApplicationError with another type is an unexpected exception the SDK
# converted (its type is the exception's class name).
KNOWN_TYPES: Final = frozenset(ErrorType)

# What the compute API answers for a request error, as Nova does.
HTTP_STATUS: Final[dict[str, int]] = {
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.FORBIDDEN: 403,
    ErrorType.INVALID_REQUEST: 400,
    ErrorType.FLAVOR_NOT_FOUND: 400,
    ErrorType.IMAGE_NOT_FOUND: 400,
    ErrorType.IMAGE_NOT_ACTIVE: 400,
    ErrorType.NETWORK_NOT_FOUND: 400,
    ErrorType.PORT_NOT_FOUND: 400,
    ErrorType.PORT_IN_USE: 409,
    ErrorType.QUOTA_EXCEEDED: 403,
    ErrorType.INSTANCE_NOT_FOUND: 404,
    ErrorType.INSTANCE_INVALID_STATE: 409,
    ErrorType.INSTANCE_IS_LOCKED: 409,
    ErrorType.SERVICE_UNAVAILABLE: 503,
}


def request_error(error_type: str, message: str, *details: object) -> ApplicationError:
    """A non-retryable error the user caused and can fix; ``message`` says how."""
    return ApplicationError(message, *details, type=error_type, non_retryable=True)


# Forward steps: transient errors retry with backoff; request errors stop at once anyway.
STEP_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=8,
)

# Undo steps must not give up lightly: they keep trying well past a service restart.
UNDO_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=15),
    maximum_attempts=30,
)
