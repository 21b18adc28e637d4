"""``PUT /os-services/...``: Nova's ``schemas/services.py`` bodies, by service id from 2.53,
by action (``enable``, ``disable``, ``disable-log-reason``, ``force-down``) before."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import model_validator

from services.compute.schemas.base import BodyError, NovaObject, boolean, one_of, text


class ServiceUpdate(NovaObject):
    """2.53 on: the service's new status, why it is disabled, whether it is forced down."""

    where: ClassVar[str] = "service"

    status: Annotated[str | None, one_of("status", ("enabled", "disabled"), null=True)] = None
    disabled_reason: Annotated[str | None, text("disabled_reason", min_length=1, null=True)] = None
    forced_down: Annotated[bool, boolean("forced_down")] = False


class ServiceActionV21(NovaObject):
    """Before 2.53: the service named by host and binary; ``disabled_reason`` is read only
    by ``disable-log-reason`` (the action's own rule)."""

    where: ClassVar[str] = "service"
    excluded: ClassVar[frozenset[str]] = frozenset({"forced_down"})

    host: Annotated[str, text("host", min_length=1)]
    binary: Annotated[str, text("binary", min_length=1)]
    disabled_reason: Any = None
    forced_down: Any = None

    @model_validator(mode="before")
    @classmethod
    def _object_rules(cls, data: Any) -> Any:
        cls.check_shape(data)
        for name in ("host", "binary"):
            if name not in data:
                raise BodyError(f"'{name}' is a required property")
        return data


class ServiceActionV211(ServiceActionV21):
    """From 2.11 ``forced_down`` may be given (with the force-down action)."""

    excluded: ClassVar[frozenset[str]] = frozenset()
