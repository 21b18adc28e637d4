"""What Nova's and Cinder's microversions share: a version ``X.Y``, parsed and compared, and
the error that refuses one (400 malformed, 406 out of range)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class VersionError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, version: ApiVersion) -> bool:
        return self >= version

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        """``X.Y``; anything else is a 400 with the services' own message."""
        match = _VERSION.match(text)
        if match is None:
            raise VersionError(
                400,
                f"API Version String {text} is of invalid format. "
                "Must be of format MajorNum.MinorNum.",
            )
        return cls(int(match.group(1)), int(match.group(2)))
