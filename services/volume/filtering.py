"""The volume list's ``metadata`` and ``bootable`` filters, parsed and matched as Cinder does.

Cinder reads ``metadata`` with ``ast.literal_eval``, so both ``{"k": "v"}`` and the
``{'k': 'v'}`` that ``urlencode`` makes of a Python dict (Tempest sends that) are accepted;
a volume matches when it has every pair. ``bootable`` takes Cinder's boolean spellings:
from 3.2 only oslo's strict ones (else 400), before it anything but false is true.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import ColumnElement, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB

from db.models.volume import Volume
from services.common.microversions import ApiVersion
from services.volume import microversions as mv
from services.volume.errors import invalid_input

# oslo.utils strutils.bool_from_string(strict=True).
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})
# Cinder's metadata keys and values are at most 255 characters; a filter holds a few.
MAX_METADATA_FILTER: Final = 16 * 1024


def parse_metadata(raw: str) -> dict[str, str]:
    """The pairs a ``metadata=`` filter asks for; 400 unless it is a dict of scalars."""
    if len(raw) > MAX_METADATA_FILTER:
        raise invalid_input(f"metadata filter is longer than {MAX_METADATA_FILTER} characters")
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in parsed.items()
    ):
        raise invalid_input(
            f"metadata filter must be a dict of key-value pairs, such as "
            f'{{"key": "value"}}, not {raw[:255]!r}'
        )
    # Cinder's metadata values are strings; a number matches its spelling.
    return {k: str(v) for k, v in parsed.items()}


def parse_bootable(raw: str, version: ApiVersion) -> bool:
    """Cinder's ``_check_boolean_filter_value``: strict from 3.2, lenient before."""
    if version.at_least(mv.VOLUME_LIST_BOOTABLE):
        value = raw.strip().lower()
        if value in _TRUE or value in _FALSE:
            return value in _TRUE
        raise invalid_input(f"'bootable = {raw}'")
    if raw in ("False", "false", "FALSE"):
        return False
    return bool(raw)


def has_metadata(pairs: Mapping[str, str], dialect: str) -> list[ColumnElement[bool]]:
    """One condition per pair; keys are bound values, never spliced into a JSON path."""
    if dialect == "postgresql":
        return [cast(Volume.metadata_, JSONB).contains({k: v}) for k, v in pairs.items()]
    conditions: list[ColumnElement[bool]] = []
    for key, value in pairs.items():
        each = func.json_each(Volume.metadata_).table_valued("key", "value", "type")
        conditions.append(
            exists(
                select(1)
                .select_from(each)
                .where(each.c.key == key, each.c.type == "text", each.c.value == value)
            )
        )
    return conditions


def conditions(params: Mapping[str, str], version: ApiVersion, dialect: str) -> list[Any]:
    """What the ``metadata`` and ``bootable`` filters in ``params`` require of a volume."""
    found: list[Any] = []
    if "metadata" in params:
        found.extend(has_metadata(parse_metadata(params["metadata"]), dialect))
    if "bootable" in params:
        found.append(Volume.bootable == parse_bootable(params["bootable"], version))
    return found
