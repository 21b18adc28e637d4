"""``POST /servers``: the body Nova's ``schemas/servers.py`` accepts, per microversion.

Every key Nova accepts is declared, so a body is read in one place; keys bootflow has no
use for are typed ``Any`` where Nova's own types were never enforced here, and create.py
refuses them by name when set. A schema checks shape and types only: what bootflow cannot
do with a well-formed body is create.py's to refuse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Final, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from core.validation import server_name_problem
from services.common.app import MAX_INT
from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.schemas.base import (
    BodyError,
    NovaObject,
    additional_properties,
    as_text,
    boolean,
    checked,
    holding,
    invalid,
    is_uuid,
    of_type,
    one_of,
    positive_integer,
    text,
    unexpected,
)
from services.compute.schemas.hostname import Fqdn, Hostname
from services.compute.schemas.metadata import metadata as metadata_type
from services.compute.schemas.server_update import AccessIPv4, AccessIPv6, Description

# NICs one server may have. Each is a virtio PCI device on the guest's one PCI bus (32
# slots, some taken by the bridge, disks and balloon), and a port against the project's
# quota; docs/design.md says why 16.
MAX_NICS_PER_SERVER: Final = 16
HINT_KEYS: Final = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
SOURCE_TYPES: Final = ("volume", "image", "snapshot", "blank")
_DEVICE_UUID: Final = re.compile(r"[a-zA-Z0-9._-]*")


def ref_id(value: str) -> str:
    """Nova's get_id_from_href: a reference may be an id or a URL ending in one."""
    return urlsplit(value).path.rstrip("/").rsplit("/", 1)[-1]


def _server_name(name: str) -> str:
    problem = server_name_problem(name)
    if problem:
        raise BodyError(problem)
    return name


def _flavor_ref(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise invalid("flavorRef", value, f"{value!r} is not of type 'string', 'integer'")
    return ref_id(str(value))


def _image_ref(value: Any) -> str:
    if not isinstance(value, str) or (value and not is_uuid(ref_id(value))):
        raise BodyError(
            f"Invalid imageRef provided: {value!r} is not an image id (a UUID); give the "
            "image's id, not its name."
        )
    return ref_id(value) if value else ""


def _block_device_list(value: Any) -> Any:
    value = value or []
    if not isinstance(value, list):
        raise invalid("block_device_mapping_v2", value, f"{value!r} is not of type 'array'")
    return value


class BlockDevice(NovaObject):
    """One ``block_device_mapping_v2`` item (Nova's block_device_mapping_new_item)."""

    where: ClassVar[str] = "block_device_mapping_v2"

    virtual_name: Any = None
    volume_id: Any = None
    snapshot_id: Any = None
    volume_size: Any = None
    device_name: Any = None
    delete_on_termination: Any = None
    no_device: Any = None
    connection_info: Any = None
    source_type: Annotated[Any, one_of("source_type", SOURCE_TYPES, null=True)] = None
    uuid: Any = None
    image_id: Any = None
    destination_type: Annotated[Any, one_of("destination_type", ("local", "volume"), null=True)] = (
        None
    )
    guest_format: Any = None
    device_type: Any = None
    disk_bus: Any = None
    boot_index: Any = None
    tag: Any = None
    volume_type: Any = None


class BlankVolume(NovaObject):
    """A block device that is a new blank volume: what bootflow reads of it."""

    where: ClassVar[str] = "block_device_mapping_v2"
    additional: ClassVar[bool] = True

    volume_size: Annotated[int, positive_integer("volume_size", MAX_INT)]
    device_name: Any = None
    delete_on_termination: Annotated[bool, boolean("delete_on_termination")] = False

    @model_validator(mode="before")
    @classmethod
    def _sized(cls, data: Any) -> Any:
        if isinstance(data, dict) and "volume_size" not in data:
            raise BodyError("Invalid block device mapping: a blank volume needs a volume_size.")
        return data


def _device_uuid(value: Any) -> str:
    """Nova's bdm ``uuid``: 1 to 255 of letters, digits, dot, underscore and hyphen."""
    text_value = as_text("uuid", value, min_length=1)
    if not _DEVICE_UUID.fullmatch(text_value):
        raise invalid("uuid", value, f"{value!r} does not match '^[a-zA-Z0-9._-]*$'")
    return text_value


class BootVolume(NovaObject):
    """A block device that is the server's root volume (destination_type volume,
    boot_index 0): what bootflow reads of it."""

    where: ClassVar[str] = "block_device_mapping_v2"
    additional: ClassVar[bool] = True

    source_type: str
    uuid: Annotated[str, checked(_device_uuid)]
    # Read for a volume made from an image; an existing volume has its own size (Nova's).
    volume_size: Annotated[int | None, positive_integer("volume_size", MAX_INT)] = None
    device_name: Any = None
    delete_on_termination: Annotated[bool, boolean("delete_on_termination")] = False

    @model_validator(mode="before")
    @classmethod
    def _identified(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("uuid"):
            raise BodyError("Block Device Mapping is Invalid: Missing device UUID.")
        return data


class SecurityGroup(NovaObject):
    where: ClassVar[str] = "security_groups"
    name: Any = None


# -- networks -----------------------------------------------------------------------------


def _nic_list(words: bool) -> Any:
    """``networks``: a list of NICs (at most MAX_NICS_PER_SERVER) or, with ``words`` (from
    2.37), "auto" or "none"."""

    def check(value: Any) -> Any:
        if value is None or (words and value in ("auto", "none")):
            return value
        if isinstance(value, str):
            raise invalid(
                "networks", value, f"{value!r} is not valid under any of the given schemas"
            )
        if not isinstance(value, list):
            raise invalid("networks", value, f"{value!r} is not of type 'array'")
        if len(value) > MAX_NICS_PER_SERVER:
            raise BodyError(
                f"Too many networks: {len(value)} NICs asked for, but a server has at most "
                f"{MAX_NICS_PER_SERVER} (one per PCI slot bootflow's guests keep for NICs)."
            )
        return value

    return checked(check)


def _port(value: Any) -> Any:
    if value is not None and not is_uuid(value):
        raise invalid("port", value, f"{value!r} is not a 'uuid'")
    return value


class Nic(NovaObject):
    """One ``networks`` item: a port, or a network's ``uuid`` (2.1-2.31)."""

    where: ClassVar[str] = "networks"
    # Before 2.37 a malformed network id is Nova's own message, not the schema's.
    strict_uuid: ClassVar[bool] = False

    fixed_ip: Any = None
    port: Annotated[str | None, checked(_port)] = None
    uuid: Any = None

    @model_validator(mode="after")
    def _network(self) -> Nic:
        if self.port or self.fixed_ip or getattr(self, "tag", None):
            return self  # a port stands for its network; the rest is create.py's to refuse
        if "uuid" not in self.model_fields_set:
            raise BodyError("Bad network format: missing 'uuid'")
        if not is_uuid(self.uuid):
            if self.strict_uuid:
                raise invalid("uuid", self.uuid, f"{self.uuid!r} is not a 'uuid'")
            raise BodyError(
                f"Bad networks format: network uuid is not in proper format ({self.uuid})"
            )
        return self


class NicV232(Nic):
    tag: Any = None


class NicV237(Nic):
    strict_uuid: ClassVar[bool] = True


class NicV242(NicV237):
    tag: Any = None


# -- the server ---------------------------------------------------------------------------


class ServerV21(NovaObject):
    where: ClassVar[str] = "server"
    required: ClassVar[tuple[str, ...]] = ("name", "flavorRef")

    name: Annotated[str, text("name", min_length=1), AfterValidator(_server_name)]
    flavorRef: Annotated[str, checked(_flavor_ref)]
    imageRef: Annotated[str, checked(_image_ref)] = ""
    # The legacy mapping: refused whenever set, so never read further.
    block_device_mapping: Any = None
    block_device_mapping_v2: Annotated[list[BlockDevice], checked(_block_device_list)] = []
    min_count: Annotated[int, positive_integer("min_count")] = 1
    max_count: Annotated[int | None, positive_integer("max_count")] = None
    metadata: Annotated[dict[str, str] | None, metadata_type("metadata")] = None
    accessIPv4: AccessIPv4 = None
    accessIPv6: AccessIPv6 = None
    personality: Any = None
    user_data: Any = None
    key_name: Any = None
    config_drive: Annotated[bool | None, boolean("config_drive", null=True)] = None
    disk_config: Annotated[
        str | None, one_of("OS-DCF:diskConfig", ("AUTO", "MANUAL"), null=True)
    ] = Field(None, alias="OS-DCF:diskConfig")
    # Accepted and not used, as Nova with enable_instance_password=False and libvirt's
    # inject_password=False (its defaults for guests without an agent).
    adminPass: Annotated[str | None, text("adminPass", max_length=1 << 20)] = None
    security_groups: Annotated[
        list[SecurityGroup] | None, of_type("security_groups", list, "array", null=True)
    ] = None
    networks: Annotated[Sequence[Nic] | None, _nic_list(words=False)] = None
    availability_zone: Annotated[str | None, text("availability_zone", min_length=1, null=True)] = (
        None
    )
    return_reservation_id: Annotated[bool, boolean("return_reservation_id")] = False


class ServerV219(ServerV21):
    description: Description = None


class ServerV232(ServerV219):
    networks: Annotated[Sequence[NicV232] | None, _nic_list(words=False)] = None


NicsT = TypeVar("NicsT")
# From 2.37 ``networks`` may be a word; a list is tried first, so its refusal is the one told.
_Words = Annotated[NicsT | Literal["auto", "none"] | None, Field(union_mode="left_to_right")]


class ServerV237(ServerV219):
    required: ClassVar[tuple[str, ...]] = ("name", "flavorRef", "networks")
    required_hint: ClassVar[dict[str, str]] = {
        "networks": '. Give networks: [{"uuid": ...}] or [{"port": ...}], '
        '"auto" (the project\'s only network) or "none".'
    }
    # A narrower type than the base's cannot add the words; the schema is what decides.
    networks: Annotated[_Words[Sequence[NicV237]], _nic_list(words=True)] = None  # type: ignore[assignment]


class ServerV242(ServerV237):
    networks: Annotated[_Words[Sequence[NicV242]], _nic_list(words=True)] = None


class ServerV252(ServerV242):
    tags: Any = None


class ServerV257(ServerV252):
    excluded: ClassVar[frozenset[str]] = frozenset({"personality"})


class ServerV263(ServerV257):
    trusted_image_certificates: Any = None


class ServerV274(ServerV263):
    host: Any = None
    hypervisor_hostname: Any = None


class ServerV290(ServerV274):
    hostname: Hostname = None


class ServerV294(ServerV290):
    hostname: Fqdn = None


# -- scheduler hints ------------------------------------------------------------------------


def _hint(key: str, uuids: bool) -> Any:
    """A hint naming servers or a group: one string or a non-empty list of them."""

    def check(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        bad = not values or not all(isinstance(x, str) for x in values)
        if bad or (uuids and not all(is_uuid(x) for x in values)):
            raise invalid(key, value, f"{value!r} is not valid under any of the given schemas")
        return [str(x) for x in values]

    return checked(check)


class SchedulerHints(NovaObject):
    """Nova's scheduler hints bootflow acts on; others are accepted and, as with filters
    not enabled in Nova, have no effect."""

    where: ClassVar[str] = "os:scheduler_hints"
    additional: ClassVar[bool] = True

    group: Annotated[list[str] | None, _hint("group", uuids=True)] = None
    same_host: Annotated[list[str] | None, _hint("same_host", uuids=False)] = None
    different_host: Annotated[list[str] | None, _hint("different_host", uuids=True)] = None

    @model_validator(mode="after")
    def _one_group(self) -> SchedulerHints:
        if self.group is not None and len(self.group) > 1:
            raise BodyError("Only one server group can be given in the 'group' scheduler hint.")
        return self

    def chosen(self) -> dict[str, list[str]]:
        """The hints given, in Nova's order."""
        return self.model_dump(exclude_none=True)


# -- the request ----------------------------------------------------------------------------

ServerT = TypeVar("ServerT", bound=ServerV21)


class CreateServer(NovaObject, Generic[ServerT]):
    """The whole body: ``server`` and the scheduler hints (under either of Nova's keys; the
    first one wins)."""

    server: ServerT
    hints: SchedulerHints | None = None

    @model_validator(mode="before")
    @classmethod
    def _object_rules(cls, data: Any) -> Any:
        holding(data, "server")
        server_schema = cls.model_fields["server"].annotation
        assert isinstance(server_schema, type) and issubclass(server_schema, NovaObject)
        server_schema.check_shape(data["server"])
        extra = unexpected(data, {"server", *HINT_KEYS})
        if extra:
            # bootflow's answer here has always said "was", however many keys.
            raise BodyError(additional_properties(extra, plural=False))
        hints = data.get(HINT_KEYS[0], data.get(HINT_KEYS[1]))
        return {"server": data["server"], "hints": hints}


# Each server schema from the microversion it starts at (rest_api_version_history.rst),
# newest first.
_SCHEMAS: Final[tuple[tuple[ApiVersion, type[ServerV21]], ...]] = (
    (mv.FQDN_HOSTNAME, ServerV294),
    (mv.HOSTNAME, ServerV290),
    (mv.REQUESTED_HOST, ServerV274),
    (mv.TRUSTED_CERTS, ServerV263),
    (mv.NO_PERSONALITY, ServerV257),
    (mv.CREATE_TAGS, ServerV252),
    (mv.v("2.42"), ServerV242),
    (mv.NETWORKS_REQUIRED, ServerV237),
    (mv.v("2.32"), ServerV232),
    (mv.DESCRIPTION, ServerV219),
    (mv.MIN_VERSION, ServerV21),
)


def create_schema(version: ApiVersion) -> type[CreateServer[Any]]:
    """The create body's schema at ``version`` (Nova's create_v2xx)."""
    server = next(schema for since, schema in _SCHEMAS if version.at_least(since))
    return CreateServer[server]  # type: ignore[valid-type]


# -- actions --------------------------------------------------------------------------------


def _console_length(value: Any) -> int | None:
    """Lines from the end: an integer (or its string) of -1 or more; -1 or null for all."""
    if value is None:
        return None
    try:
        length = int(value)
    except (TypeError, ValueError):
        length = -2
    if isinstance(value, bool) or length < -1:
        raise BodyError(f"Invalid input for field/attribute length. Value: {value}.")
    return None if length == -1 else length


class GetConsoleOutput(NovaObject):
    """``os-getConsoleOutput`` (``openstack console log show``); Nova ignores other keys."""

    where: ClassVar[str] = "os-getConsoleOutput"
    additional: ClassVar[bool] = True

    length: Annotated[int | None, checked(_console_length)] = None
