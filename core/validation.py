"""Request rules the compute API and the validate step share (Nova's, for server names)."""

from __future__ import annotations

import unicodedata
import uuid

MAX_NAME_LENGTH = 255


def server_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid server name, or None. Nova: 1-255 printable characters,
    no leading or trailing whitespace."""
    if not name:
        return "Invalid server name: it must not be empty."
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"Invalid server name: it is {len(name)} characters long; "
            f"at most {MAX_NAME_LENGTH} are allowed."
        )
    if name != name.strip():
        return f"Invalid server name {name!r}: it must not start or end with whitespace."
    bad = [c for c in name if unicodedata.category(c).startswith("C")]
    if bad:
        return f"Invalid server name {name!r}: it contains control characters."
    return None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
