"""``PUT /os-quota-sets/{project}`` and ``/os-quota-class-sets/{class}``: the bodies Nova's
``schemas/quota_sets.py`` and ``quota_classes.py`` accept, per microversion (Neutron's
resources go at 2.36, personality files at 2.57), refused in Nova's words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from services.common.app import MAX_INT, ApiError
from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.compute_quotas import FILE_RESOURCES, NETWORK_RESOURCES, RESOURCES
from services.compute.schemas.base import (
    BodyError,
    additional_properties,
    as_boolean,
    invalid,
    unexpected,
)

_NUMBER: Final = re.compile(r"^-?[0-9]+$")


@dataclass(frozen=True)
class QuotaUpdate:
    limits: dict[str, int]
    force: bool = False


def resources_at(version: ApiVersion) -> tuple[str, ...]:
    """The quota set's resources at ``version``."""
    gone: set[str] = set()
    if version.at_least(mv.NO_NETWORK_PROXIES):
        gone |= set(NETWORK_RESOURCES)
    if version.at_least(mv.NO_PERSONALITY):
        gone |= set(FILE_RESOURCES)
    return tuple(r for r in RESOURCES if r not in gone)


def as_quota(key: str, value: Any) -> int:
    """Nova's common_quota: an integer (or its digits) from -1 to MAX_INT."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise invalid(key, value, f"{value!r} does not match '^-?[0-9]+$'")
    number = int(value)
    if number < -1:
        raise invalid(key, value, f"{value!r} is less than the minimum of -1")
    if number > MAX_INT:
        raise invalid(key, value, f"{value!r} is greater than the maximum of {MAX_INT}")
    return number


def _object(where: str, data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid(where, data, f"{data!r} is not of type 'object'")
    extra = unexpected(data, allowed)
    if extra:
        raise invalid(where, data, additional_properties(extra))
    return data


def _parse(body: Any, key: str, resources: tuple[str, ...]) -> QuotaUpdate:
    data = _object("body", body, {key})
    if key not in data:
        raise invalid("body", data, f"'{key}' is a required property")
    force_allowed = key == "quota_set"
    allowed = set(resources) | ({"force"} if force_allowed else set())
    fields = _object(key, data[key], allowed)
    force = as_boolean("force", fields["force"]) if "force" in fields else False
    limits = {r: as_quota(r, v) for r, v in fields.items() if r != "force"}
    return QuotaUpdate(limits, force)


def parse_update(
    body: Any,
    version: ApiVersion,
    key: str = "quota_set",
    resources: tuple[str, ...] | None = None,
) -> QuotaUpdate:
    """The body's limits (and ``force``, for a quota set), or Nova's 400; ``resources``:
    those the body may name (the quota set's at ``version`` if not given)."""
    try:
        return _parse(body, key, resources_at(version) if resources is None else resources)
    except BodyError as exc:
        raise ApiError(400, exc.message) from None
