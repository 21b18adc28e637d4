"""The bodies of the server actions bootflow carries out (Nova's schemas/reboot.py,
lock_server.py): stop and start take any body, as Nova's."""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

from services.compute.schemas.base import NovaObject, one_of, text

REBOOT_TYPES: Final = ("HARD", "Hard", "hard", "SOFT", "Soft", "soft")


class Reboot(NovaObject):
    where: ClassVar[str] = "reboot"
    required: ClassVar[tuple[str, ...]] = ("type",)

    type: Annotated[str, one_of("type", REBOOT_TYPES)] = "SOFT"


class LockV273(NovaObject):
    """``lock`` from 2.73: an optional reason (before, the body is not read)."""

    where: ClassVar[str] = "lock"

    locked_reason: Annotated[str | None, text("locked_reason", min_length=1, max_length=255)] = None
