"""How activities turn failures into retry decisions, in one place.

Transient failures are retried by Temporal with backoff: a service or the database down,
restarting or overloaded (unreachable, HTTP 5xx and 429, a lost database connection)
becomes a retryable ApplicationError of type ServiceUnavailable, so a step that runs out of
retries says so (the compute API answers 503); libvirt timeouts propagate as they are.
Anything else a service refuses is the request's fault, so it becomes a non-retryable
ApplicationError with a type a caller can read. ``classify`` is applied to every activity by
activities.hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libvirt
from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError, CancelledError

from clients.errors import HttpError, transient
from core.errors import ErrorType, request_error
from core.faults import NonRetryableFault
from db.session import connection_lost

# libvirt errors worth another try: the hypervisor was busy or briefly unreachable. Not
# VIR_ERR_INTERNAL_ERROR: QEMU reports a guest that cannot start that way ("process exited
# while connecting to monitor"), and that is the host's to give up on (reschedule).
_TRANSIENT_LIBVIRT = frozenset(
    {
        libvirt.VIR_ERR_OPERATION_TIMEOUT,
        libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
        libvirt.VIR_ERR_SYSTEM_ERROR,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_NO_CONNECT,
    }
)

# A refusal whose body names no type of its own. Never BUILD_ABORTED: that is the host's
# failure (it reschedules), and a service refusing the request is not the host's doing.
_BY_STATUS = {
    400: ErrorType.INVALID_REQUEST,
    401: ErrorType.UNAUTHORIZED,
    403: ErrorType.FORBIDDEN,
    413: ErrorType.QUOTA_EXCEEDED,
}


def hypervisor_failure(message: str) -> libvirt.libvirtError:
    """A definitive libvirt error saying ``message`` (an injected one): no error code, not
    the code and message libvirt last left on this thread."""
    exc = libvirt.libvirtError(message)
    exc.err = None
    exc.args = (message,)
    return exc


def start_refused(instance_uuid: str, host: str, exc: libvirt.libvirtError) -> ApplicationError:
    """The hypervisor would not start the guest: the build aborts on this host (and the
    boot reschedules)."""
    error = request_error(
        ErrorType.BUILD_ABORTED,
        f"Build of instance {instance_uuid} aborted: the hypervisor on {host} failed to "
        f"start it: {exc}",
    )
    error.__cause__ = exc
    return error


def transient_libvirt(exc: libvirt.libvirtError) -> bool:
    """Whether a libvirt error is worth another try on the same host; any other one is
    definitive (the build aborts there, and reschedules)."""
    return exc.get_error_code() in _TRANSIENT_LIBVIRT


def classify(exc: BaseException) -> BaseException:
    """The exception to report for ``exc``: itself if retryable, else a non-retryable one."""
    if isinstance(exc, (ApplicationError, CancelledError)):
        return exc
    if isinstance(exc, NonRetryableFault):
        return ApplicationError(str(exc), type="InjectedFault", non_retryable=True)
    if transient(exc) or (isinstance(exc, DBAPIError) and connection_lost(exc)):
        return ApplicationError(_outage(exc), type=ErrorType.SERVICE_UNAVAILABLE)
    if isinstance(exc, HttpError):
        return request_error(refusal_type(exc), exc.message)
    if isinstance(exc, libvirt.libvirtError) and not transient_libvirt(exc):
        return request_error(ErrorType.BUILD_ABORTED, f"libvirt: {exc}")
    return exc


def _outage(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return f"The database is unavailable: {exc.orig}"
    return str(exc)  # the clients' messages name the service and what it answered


def refusal_type(exc: HttpError) -> str:
    """The error type of a service's refusal: the service's own CamelCase type (Neutron's
    IpAddressGenerationFailure, Cinder's VolumeSizeExceedsAvailableQuota), else by status."""
    given = exc.error_type or ""
    if given.isidentifier() and given[:1].isupper():
        return given
    return _BY_STATUS.get(exc.status, ErrorType.INVALID_REQUEST)


@contextmanager
def service_errors(doing: str) -> Iterator[None]:
    """Around a service call: a refusal becomes a request error naming what was being done
    (so it fails the build without rescheduling it, and without marking the host)."""
    try:
        yield
    except HttpError as exc:
        if exc.transient:
            raise
        raise request_error(refusal_type(exc), f"Could not {doing}: {exc.message}") from exc
