"""Retries by error class, in one place: what ``activities.errors.classify`` leaves retryable
(transient: connection failures, HTTP 5xx and 429, libvirt timeouts) and what it turns into a
non-retryable ApplicationError with a type a caller can read, and the retry policies that
act on that."""

from __future__ import annotations

import sqlite3

import httpx
import libvirt
import pytest
from sqlalchemy.exc import OperationalError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from activities.errors import classify, service_errors, transient_libvirt
from clients.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    HttpError,
    NotFound,
    Unauthorized,
)
from core.errors import (
    HTTP_STATUS,
    KNOWN_TYPES,
    STEP_RETRY,
    UNDO_RETRY,
    ErrorType,
    request_error,
)
from core.faults import InjectedFault, NonRetryableFault


def libvirt_error(code: int, message: str = "libvirt says no") -> libvirt.libvirtError:
    """A libvirtError with the given error code, as libvirt raises it."""
    exc = libvirt.libvirtError(message)
    exc.err = (code, libvirt.VIR_FROM_QEMU, message, libvirt.VIR_ERR_ERROR, "", "", "", 0, 0)
    return exc


def non_retryable(exc: BaseException) -> ApplicationError:
    classified = classify(exc)
    assert isinstance(classified, ApplicationError), classified
    assert classified.non_retryable
    return classified


@pytest.mark.parametrize(
    "exc",
    [
        HttpError(500, "The network service answered 500: internal error"),
        HttpError(502, "The network service answered 502: bad gateway"),
        HttpError(503, "The image service answered 503: service unavailable"),
        HttpError(504, "The volume service answered 504: gateway timeout"),
        HttpError(429, "The network service answered 429: too many requests"),
        ConnectionFailed("The network service could not be reached: connection refused"),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status', '')}",
)
def test_a_service_down_is_retried_and_says_so_when_retries_run_out(exc: BaseException) -> None:
    """Retryable, with a type the compute API answers 503 for once the retries run out."""
    classified = classify(exc)
    assert isinstance(classified, ApplicationError) and not classified.non_retryable
    assert classified.type == ErrorType.SERVICE_UNAVAILABLE
    assert classified.message == str(exc)
    assert HTTP_STATUS[classified.type] == 503


def test_a_lost_database_connection_is_a_service_unavailable_too() -> None:
    locked = OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    locked.orig.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[union-attr]
    classified = classify(locked)
    assert isinstance(classified, ApplicationError) and not classified.non_retryable
    assert classified.type == ErrorType.SERVICE_UNAVAILABLE
    assert classified.message == "The database is unavailable: database is locked"
    # Any other database error is a bug: raised as it is (retried, then a 500).
    broken = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    assert classify(broken) is broken


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        InjectedFault("injected: lost the answer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_transient_errors_stay_retryable(exc: BaseException) -> None:
    assert classify(exc) is exc  # raised as is: Temporal retries it with backoff


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (BadRequest(400, "Invalid input for field"), ErrorType.INVALID_REQUEST),
        (HttpError(400, "bad"), ErrorType.INVALID_REQUEST),
        (Forbidden(403, "Policy does not allow"), ErrorType.FORBIDDEN),
        (HttpError(413, "VolumeLimitExceeded"), ErrorType.QUOTA_EXCEEDED),
        # Any other refusal is the request's too: never BUILD_ABORTED, the host's failure.
        (NotFound(404, "No volume with id"), ErrorType.INVALID_REQUEST),
        (
            Unauthorized(401, "The request you have made requires authentication."),
            ErrorType.UNAUTHORIZED,
        ),
        (Conflict(409, "Volume is in use", "conflictingRequest"), ErrorType.INVALID_REQUEST),
        # A service's own CamelCase type is kept (Neutron's, Cinder's; Keystone's titles are not).
        (
            Conflict(409, "No more IP addresses on network", "IpAddressGenerationFailure"),
            "IpAddressGenerationFailure",
        ),
        (
            HttpError(413, "exceeds allowed gigabytes quota", "VolumeSizeExceedsAvailableQuota"),
            "VolumeSizeExceedsAvailableQuota",
        ),
        (NotFound(404, "Could not find image", "Not Found"), ErrorType.INVALID_REQUEST),
    ],
    ids=[
        "400",
        "400-untyped",
        "403",
        "413",
        "404",
        "401",
        "409-nova-type",
        "409-neutron-type",
        "413-cinder-type",
        "404-keystone-title",
    ],
)
def test_refusals_become_non_retryable_with_a_readable_type(exc: HttpError, expected: str) -> None:
    classified = non_retryable(exc)
    assert classified.type == expected
    assert classified.message == exc.message


def test_libvirt_timeouts_and_lost_connections_are_transient() -> None:
    for code in (
        libvirt.VIR_ERR_OPERATION_TIMEOUT,
        libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
        libvirt.VIR_ERR_SYSTEM_ERROR,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_NO_CONNECT,
    ):
        exc = libvirt_error(code)
        assert transient_libvirt(exc), code
        assert classify(exc) is exc, code


@pytest.mark.parametrize(
    "code",
    [
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_INTERNAL_ERROR,  # QEMU could not start the guest
        libvirt.VIR_ERR_OPERATION_FAILED,
        libvirt.VIR_ERR_XML_ERROR,
        libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
        libvirt.VIR_ERR_OPERATION_INVALID,
        None,  # no code at all (raised by hand)
    ],
)
def test_other_libvirt_errors_abort_the_build(code: int | None) -> None:
    exc = libvirt_error(code) if code is not None else libvirt.libvirtError("by hand")
    if code is None:
        exc.err = None
    assert not transient_libvirt(exc)
    classified = non_retryable(exc)
    assert classified.type == ErrorType.BUILD_ABORTED
    assert classified.message.startswith("libvirt: ")


def test_request_errors_and_injected_final_faults_pass_as_non_retryable() -> None:
    refused = request_error(ErrorType.QUOTA_EXCEEDED, "Quota exceeded for ram")
    assert classify(refused) is refused and refused.non_retryable
    assert non_retryable(NonRetryableFault("injected")).type == "InjectedFault"


def test_service_errors_names_what_was_being_done_and_keeps_transient_ones() -> None:
    with pytest.raises(ApplicationError) as refused, service_errors("attach volume v-1"):
        raise NotFound(404, "No volume v-1")
    assert refused.value.non_retryable and refused.value.type == ErrorType.INVALID_REQUEST
    assert refused.value.message == "Could not attach volume v-1: No volume v-1"
    with pytest.raises(HttpError) as transient, service_errors("attach volume v-1"):
        raise HttpError(503, "try later")
    classified = classify(transient.value)
    assert isinstance(classified, ApplicationError) and not classified.non_retryable


@pytest.mark.parametrize("policy", [STEP_RETRY, UNDO_RETRY], ids=["step", "undo"])
def test_retry_policies_retry_transient_errors_with_backoff(policy: RetryPolicy) -> None:
    assert policy.backoff_coefficient > 1 and policy.initial_interval.total_seconds() > 0
    assert policy.maximum_interval is not None
    assert policy.maximum_attempts > 1
    # Request errors stop at once by their own non_retryable flag; a policy that names types
    # may name only those, never one of the transient classes classify leaves retryable.
    named = set(policy.non_retryable_error_types or ())
    assert named <= KNOWN_TYPES
    transient_names = {
        type(e).__name__
        for e in (
            HttpError(503, ""),
            ConnectionFailed(""),
            httpx.ConnectError(""),
            libvirt_error(libvirt.VIR_ERR_OPERATION_TIMEOUT),
            InjectedFault(""),
        )
    }
    assert not named & transient_names


def test_undo_steps_try_harder_than_forward_steps() -> None:
    assert UNDO_RETRY.maximum_attempts >= STEP_RETRY.maximum_attempts
    assert UNDO_RETRY.maximum_interval is not None and STEP_RETRY.maximum_interval is not None
    assert UNDO_RETRY.maximum_interval >= STEP_RETRY.maximum_interval
