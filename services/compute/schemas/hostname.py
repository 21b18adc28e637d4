"""A server's hostname as Nova's ``parameter_types``: ``hostname`` (2.90-2.93: 2 to 63
letters, digits and dashes, no dash at either end, so no dot) and ``fqdn`` (2.94+: up to
255 letters, digits, dashes, dots and underscores). One definition for create, update and
rebuild."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from services.compute.schemas.base import checked, invalid

_HOSTNAME: Final = r"^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$"
_FQDN: Final = r"^[a-zA-Z0-9-._]*$"


def _rule(pattern: str, min_length: int, max_length: int) -> Any:
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise invalid("hostname", value, f"{value!r} is not of type 'string'")
        if len(value) < min_length:
            raise invalid("hostname", value, f"{value!r} is too short")
        if len(value) > max_length:
            raise invalid("hostname", value, f"{value!r} is too long")
        if not compiled.search(value):
            raise invalid("hostname", value, f"{value!r} does not match '{pattern}'")
        return value

    return checked(check)


Hostname = Annotated[str | None, _rule(_HOSTNAME, 2, 63)]
Fqdn = Annotated[str | None, _rule(_FQDN, 1, 255)]
