"""Which failures of a host step move the boot to an alternate host (workflows.calls.host_failure).

A host failure (a timeout, a guest that would not start, retries run out) reschedules; a
request error, which every host would refuse alike, never does.
"""

from __future__ import annotations

import pytest
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from activities.errors import service_errors
from clients.errors import Conflict, HttpError, NotFound, Unauthorized
from core.errors import KNOWN_TYPES, ErrorType, request_error
from workflows.boot_instance import HOST_STEPS
from workflows.calls import host_failure

# Every bootflow error type a step can fail with for good, except the one that names a host
# failure (ServiceUnavailable is retried; its retries running out is the host's failure).
REQUEST_ERRORS = sorted(KNOWN_TYPES - {ErrorType.BUILD_ABORTED, ErrorType.SERVICE_UNAVAILABLE})


def _failed(step: str, cause: BaseException, retry_state: RetryState) -> ActivityError:
    err = ActivityError(
        f"{step} failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker@node1",
        activity_type=step,
        activity_id="1",
        retry_state=retry_state,
    )
    err.__cause__ = cause
    return err


@pytest.mark.parametrize("step", sorted(HOST_STEPS))
@pytest.mark.parametrize("error_type", REQUEST_ERRORS)
def test_a_request_error_never_reschedules(step: str, error_type: str) -> None:
    refused = request_error(error_type, "the request, not the host, is at fault")
    err = _failed(step, refused, RetryState.NON_RETRYABLE_FAILURE)
    assert not host_failure(err, HOST_STEPS)


def test_a_service_refusal_of_its_own_type_never_reschedules() -> None:
    # Neutron's IpAddressGenerationFailure, kept by activities.errors.classify.
    refused = request_error("IpAddressGenerationFailure", "No more IP addresses available")
    err = _failed("allocate_port", refused, RetryState.NON_RETRYABLE_FAILURE)
    assert not host_failure(err, HOST_STEPS)


@pytest.mark.parametrize(
    "refusal",
    [
        HttpError(413, "exceeds allowed gigabytes quota", "VolumeSizeExceedsAvailableQuota"),
        HttpError(413, "Request Entity Too Large"),
        NotFound(404, "No volume with id v-1"),
        Conflict(409, "Volume is in use", "conflictingRequest"),
        Unauthorized(401, "The request you have made requires authentication."),
    ],
    ids=["413-typed", "413", "404", "409", "401"],
)
def test_a_service_refusing_a_host_step_never_reschedules(refusal: HttpError) -> None:
    """A 5,000 GiB volume over the project's volume quota fails the build where it is:
    every host would be refused alike, so no host is tried next, none is marked."""
    with pytest.raises(ApplicationError) as raised, service_errors("create a volume"):
        raise refusal
    err = _failed("create_volume", raised.value, RetryState.NON_RETRYABLE_FAILURE)
    assert not host_failure(err, HOST_STEPS)


@pytest.mark.parametrize(
    "cause",
    [
        request_error(ErrorType.BUILD_ABORTED, "the guest stopped"),
        ApplicationError("connection refused", type="ConnectError"),  # retries ran out
        TimeoutError("", type=TimeoutType.SCHEDULE_TO_START, last_heartbeat_details=[]),
        TimeoutError("", type=TimeoutType.HEARTBEAT, last_heartbeat_details=[]),
    ],
    ids=["build-aborted", "retries-exhausted", "never-picked-up", "heartbeat-lost"],
)
def test_host_failures_reschedule(cause: BaseException) -> None:
    err = _failed("spawn", cause, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    assert host_failure(err, HOST_STEPS)


def test_a_control_step_failure_never_reschedules() -> None:
    timed_out = TimeoutError("", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    err = _failed("schedule_and_claim", timed_out, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    assert not host_failure(err, HOST_STEPS)
