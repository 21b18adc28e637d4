"""Server metadata as Nova's ``parameter_types.metadata``: an object whose keys are 1-255 of
``[a-zA-Z0-9-_:. ]`` and whose values are strings of at most 255 characters; the
bodies of ``/servers/{id}/metadata`` (``metadata``) and ``/metadata/{key}`` (``meta``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final

from services.compute.schemas.base import (
    NovaObject,
    additional_properties,
    checked,
    invalid,
)

MAX_LENGTH: Final = 255
_KEY: Final = re.compile(r"^[a-zA-Z0-9\-_:. ]{1,255}$")


def as_metadata(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid(field, value, f"{value!r} is not of type 'object'")
    bad = sorted(k for k in value if not _KEY.fullmatch(k))
    if bad:
        raise invalid(field, value, additional_properties(bad))
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(key, item, f"{item!r} is not of type 'string'")
        if len(item) > MAX_LENGTH:
            raise invalid(key, item, f"{item!r} is too long")
    return dict(value)


def metadata(field: str) -> Any:
    return checked(lambda value: as_metadata(field, value))


def _one_item(value: Any) -> dict[str, str]:
    items = as_metadata("meta", value)
    if len(items) != 1:
        words = "does not have enough properties" if not items else "has too many properties"
        raise invalid("meta", value, f"{value!r} {words}")
    return items


class MetadataBody(NovaObject):
    """``{"metadata": {...}}`` (PUT and POST /servers/{id}/metadata)."""

    required: ClassVar[tuple[str, ...]] = ("metadata",)
    metadata: Annotated[dict[str, str], metadata("metadata")]


class MetaItemBody(NovaObject):
    """``{"meta": {key: value}}``: exactly one item (PUT /servers/{id}/metadata/{key})."""

    required: ClassVar[tuple[str, ...]] = ("meta",)
    meta: Annotated[dict[str, str], checked(_one_item)]
