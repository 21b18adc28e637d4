"""``POST /os-keypairs``: Nova's ``schemas/keypairs.py``, per microversion. 2.2 adds
``type``, 2.10 ``user_id`` (admins, for another user), 2.92 requires ``public_key`` (no
generation) and allows ``@`` and ``.`` in names."""

from __future__ import annotations

import string
from typing import Annotated, Any, ClassVar, Final

from pydantic import model_validator

from services.common.microversions import ApiVersion
from services.compute.microversions import v
from services.compute.schemas.base import (
    NovaObject,
    as_text,
    checked,
    holding,
    invalid,
    one_of,
    text,
)

KEY_TYPES: Final = ("ssh", "x509")
KEY_TYPE: Final = v("2.2")
KEY_OWNER: Final = v("2.10")
IMPORT_ONLY: Final = v("2.92")
# The keys column's size (Nova's is a TEXT too); a longer key is no key any tool makes.
MAX_PUBLIC_KEY: Final = 65535
_SAFE_20: Final = "_- " + string.digits + string.ascii_letters
_SAFE_292: Final = "@._- " + string.digits + string.ascii_letters


def _name_rule(safe: str) -> Any:
    """Nova's keypair_name_special_chars: a name (1-255 printable characters, no leading or
    trailing whitespace) of only ``safe`` characters."""

    def check(value: Any) -> str:
        name = as_text("name", value, min_length=1)
        if name != name.strip() or not name.isprintable():
            raise invalid(
                "name",
                name,
                "An invalid 'name' value was provided. The name must be: printable "
                "characters. Can not start or end with whitespace.",
            )
        if any(c not in safe for c in name):
            raise invalid(
                "name",
                name,
                "An invalid 'name' value was provided. The name must be: Only expected "
                f"characters: [{safe}]",
            )
        return name

    return checked(check)


class KeyPairV21(NovaObject):
    where: ClassVar[str] = "keypair"
    required: ClassVar[tuple[str, ...]] = ("name",)

    name: Annotated[str, _name_rule(_SAFE_20)]
    public_key: Annotated[str | None, text("public_key", max_length=MAX_PUBLIC_KEY)] = None


class KeyPairV22(KeyPairV21):
    type: Annotated[str, one_of("type", KEY_TYPES)] = "ssh"


class KeyPairV210(KeyPairV22):
    user_id: Annotated[str | None, text("user_id", min_length=1)] = None


class KeyPairV292(KeyPairV210):
    required: ClassVar[tuple[str, ...]] = ("name", "public_key")

    name: Annotated[str, _name_rule(_SAFE_292)]


class CreateKeyPair(NovaObject):
    @model_validator(mode="before")
    @classmethod
    def _object_rules(cls, data: Any) -> Any:
        holding(data, "keypair")
        cls.check_shape(data)
        return data


class CreateV21(CreateKeyPair):
    keypair: KeyPairV21


class CreateV22(CreateKeyPair):
    keypair: KeyPairV22


class CreateV210(CreateKeyPair):
    keypair: KeyPairV210


class CreateV292(CreateKeyPair):
    keypair: KeyPairV292


def create_schema(version: ApiVersion) -> type[CreateKeyPair]:
    for since, schema in (
        (IMPORT_ONLY, CreateV292),
        (KEY_OWNER, CreateV210),
        (KEY_TYPE, CreateV22),
    ):
        if version.at_least(since):
            return schema
    return CreateV21
