"""``POST /servers/{id}/action {"rebuild": {...}}``: the body Nova's ``schemas/servers.py``
(``rebuild``, ``rebuild_v219`` ... ``rebuild_v294``) accepts, per microversion."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, Field

from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.schemas.base import (
    NovaObject,
    boolean,
    checked,
    invalid,
    is_uuid,
    one_of,
    text,
)
from services.compute.schemas.hostname import Fqdn, Hostname
from services.compute.schemas.metadata import metadata as metadata_type
from services.compute.schemas.server_update import AccessIPv4, AccessIPv6, Description
from services.compute.schemas.servers import _server_name, ref_id

# Nova's rebuild user_data: base64, at most 65535 characters.
MAX_USER_DATA: Final = 65535


def _image_ref(value: Any) -> str:
    """Nova's parameter_types.image_id: an image's id (or a URL ending in one)."""
    if not isinstance(value, str) or not is_uuid(ref_id(value)):
        raise invalid("imageRef", value, f"{value!r} is not a 'uuid'")
    return ref_id(value)


def _key_name(value: Any) -> str | None:
    """Nova's parameter_types.name_or_none: null (no key) or a key pair's name."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or value != value.strip():
        raise invalid("key_name", value, f"{value!r} is not valid under any of the given schemas")
    return value


def _user_data(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid("user_data", value, f"{value!r} is not of type 'string', 'null'")
    if len(value) > MAX_USER_DATA:
        raise invalid("user_data", value, f"{value!r} is too long")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("user_data", value, f"{value!r} is not a 'base64'") from None
    return value


class RebuildV21(NovaObject):
    where: ClassVar[str] = "rebuild"
    required: ClassVar[tuple[str, ...]] = ("imageRef",)

    name: Annotated[str | None, text("name", min_length=1), AfterValidator(_server_name)] = None
    imageRef: Annotated[str, checked(_image_ref)]
    # Accepted and not used (Nova's enable_instance_password = False).
    adminPass: Annotated[str | None, text("adminPass", max_length=1 << 20)] = None
    metadata: Annotated[dict[str, str] | None, metadata_type("metadata")] = None
    # bootflow's flavors have no ephemeral disk: nothing to preserve either way.
    preserve_ephemeral: Annotated[bool, boolean("preserve_ephemeral")] = False
    disk_config: Annotated[
        str | None, one_of("OS-DCF:diskConfig", ("AUTO", "MANUAL"), null=True)
    ] = Field(None, alias="OS-DCF:diskConfig")
    accessIPv4: AccessIPv4 = None
    accessIPv6: AccessIPv6 = None
    personality: Any = None


class RebuildV219(RebuildV21):
    description: Description = None


class RebuildV254(RebuildV219):
    key_name: Annotated[str | None, checked(_key_name)] = None


class RebuildV257(RebuildV254):
    excluded: ClassVar[frozenset[str]] = frozenset({"personality"})
    user_data: Annotated[str | None, checked(_user_data)] = None


class RebuildV263(RebuildV257):
    trusted_image_certificates: Any = None


class RebuildV290(RebuildV263):
    hostname: Hostname = None


class RebuildV294(RebuildV263):
    hostname: Fqdn = None


_SCHEMAS: Final[tuple[tuple[ApiVersion, type[RebuildV21]], ...]] = (
    (mv.FQDN_HOSTNAME, RebuildV294),
    (mv.HOSTNAME, RebuildV290),
    (mv.TRUSTED_CERTS, RebuildV263),
    (mv.NO_PERSONALITY, RebuildV257),
    (mv.REBUILD_KEY_NAME, RebuildV254),
    (mv.DESCRIPTION, RebuildV219),
    (mv.MIN_VERSION, RebuildV21),
)


def rebuild_schema(version: ApiVersion) -> type[RebuildV21]:
    """The rebuild body's schema at ``version``."""
    return next(schema for since, schema in _SCHEMAS if version.at_least(since))
