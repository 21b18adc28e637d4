"""The ``started`` fixture: the boots a create request would start, recorded instead of
started (``ServerApi._start`` replaced), for compute API tests without Temporal."""

from __future__ import annotations

import pytest

from core.messages import BootRequest
from services.compute.context import ApiContext
from services.compute.server_api import ServerApi


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[BootRequest]:
    """The boots a create would start: ``ServerApi._start`` records them (no Temporal here)."""
    boots: list[BootRequest] = []

    async def start(self: ServerApi, ctx: ApiContext, boot: BootRequest) -> None:
        boots.append(boot)

    monkeypatch.setattr(ServerApi, "_start", start)
    return boots
