"""``PUT /servers/{id}``: the body Nova's ``schemas/servers.py`` (``update``) accepts, per
microversion: a name (leading and trailing spaces trimmed), the access IPs, the disk config,
a description from 2.19, a hostname from 2.90 (an FQDN from 2.94)."""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from core.validation import server_name_problem
from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.schemas.base import BodyError, NovaObject, checked, invalid, text
from services.compute.schemas.hostname import Fqdn, Hostname


def _name(value: str) -> str:
    """Nova's name_with_leading_trailing_spaces, then normalize_name (the trim)."""
    name = value.strip()
    problem = server_name_problem(name)
    if problem:
        raise BodyError(problem)
    return name


def _description(value: str | None) -> str | None:
    if value is not None and any(unicodedata.category(c).startswith("C") for c in value):
        raise invalid("description", value, f"{value!r} does not match the printable characters")
    return value


def _address(key: str, version: int) -> Any:
    """An IPv4 or IPv6 address, as Nova's ``format: ipv4``/``ipv6``; kept as Nova prints it."""

    def check(value: Any) -> str:
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != version:
            raise invalid(key, value, f"{value!r} is not a 'ipv{version}'")
        return address.compressed

    return checked(check)


# The access IPs and the description as Nova's ``parameter_types`` (its create and update
# schemas share them): one definition for POST and PUT /servers.
AccessIPv4 = Annotated[str | None, _address("accessIPv4", 4)]
AccessIPv6 = Annotated[str | None, _address("accessIPv6", 6)]
Description = Annotated[
    str | None, text("description", max_length=255, null=True), AfterValidator(_description)
]


class UpdateV21(NovaObject):
    where: ClassVar[str] = "server"

    name: Annotated[str | None, text("name", min_length=1), AfterValidator(_name)] = None
    access_ip_v4: AccessIPv4 = Field(None, alias="accessIPv4")
    access_ip_v6: AccessIPv6 = Field(None, alias="accessIPv6")
    disk_config: Annotated[str | None, checked(lambda v: _disk_config(v))] = Field(
        None, alias="OS-DCF:diskConfig"
    )


class UpdateV219(UpdateV21):
    description: Description = None


class UpdateV290(UpdateV219):
    hostname: Hostname = None


class UpdateV294(UpdateV219):
    hostname: Fqdn = None


def _disk_config(value: Any) -> str:
    if value not in ("AUTO", "MANUAL"):
        raise invalid("OS-DCF:diskConfig", value, f"{value!r} is not one of ['AUTO', 'MANUAL']")
    return str(value)


class UpdateBodyV21(NovaObject):
    required: ClassVar[tuple[str, ...]] = ("server",)
    server: UpdateV21


class UpdateBodyV219(UpdateBodyV21):
    server: UpdateV219


class UpdateBodyV290(UpdateBodyV21):
    server: UpdateV290


class UpdateBodyV294(UpdateBodyV21):
    server: UpdateV294


_BY_VERSION: tuple[tuple[ApiVersion, type[UpdateBodyV21]], ...] = (
    (mv.FQDN_HOSTNAME, UpdateBodyV294),
    (mv.HOSTNAME, UpdateBodyV290),
    (mv.DESCRIPTION, UpdateBodyV219),
)


def update_schema(version: ApiVersion) -> type[UpdateBodyV21]:
    return next((model for since, model in _BY_VERSION if version.at_least(since)), UpdateBodyV21)
