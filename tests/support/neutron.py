"""Raw Neutron v2.0 calls for tests of what NetworkClient has no method for (routers,
quotas, bulk bodies), and the refusal a call met."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.errors import HttpError
from clients.network import NetworkClient


def call(client: NetworkClient, method: str, path: str, body: Any = None) -> Any:
    """``method`` on ``v2.0/<path>`` with ``body`` as JSON; the answer's JSON (None: empty)."""
    answer = client.session.request("network", method, f"v2.0/{path}", json=body)
    return answer.json() if answer.content else None


def refusal(attempt: Callable[[], object]) -> tuple[int, str | None, str]:
    """(status, Neutron error type, message) of the error ``attempt`` must raise."""
    with pytest.raises(HttpError) as refused:
        attempt()
    return refused.value.status, refused.value.error_type, refused.value.message


def refused(
    client: NetworkClient, method: str, path: str, body: Any = None
) -> tuple[int, str | None, str]:
    return refusal(lambda: call(client, method, path, body))
