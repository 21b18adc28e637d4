"""Request bodies, checked as Cinder's JSON schemas check them (anything malformed is a 400)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from services.common.app import MAX_INT


def _size(value: object) -> object:
    # Cinder accepts a size as a JSON integer or a string of digits ("10"), nothing else.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a 'uuid'") from exc
    return value


def _strip(value: object) -> object:
    # Cinder trims leading and trailing white space from names and descriptions.
    return value.strip() if isinstance(value, str) else value


Size = Annotated[StrictInt, BeforeValidator(_size), Field(ge=1, le=MAX_INT)]
Uuid = Annotated[str, AfterValidator(_uuid)]
Name = Annotated[str, BeforeValidator(_strip), Field(max_length=255)]
MetadataKey = Annotated[str, Field(min_length=1, max_length=255)]
MetadataValue = Annotated[str, Field(max_length=255)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewVolume(BaseModel):
    """Cinder's ``volume`` of a create request (it ignores keys it does not know)."""

    size: Size
    name: Name | None = None
    description: Name | None = None
    display_name: Name | None = None
    display_description: Name | None = None
    volume_type: str | None = Field(None, max_length=255)
    metadata: dict[MetadataKey, MetadataValue] | None = None
    availability_zone: str | None = Field(None, max_length=255)
    image_ref: str | None = Field(None, alias="imageRef", max_length=255)
    image_id: str | None = Field(None, max_length=255)
    snapshot_id: Uuid | None = None
    source_volid: Uuid | None = None
    consistencygroup_id: Uuid | None = None
    backup_id: str | None = None
    multiattach: bool | None = None

    @property
    def display(self) -> tuple[str | None, str | None]:
        return (
            self.name if self.name is not None else self.display_name,
            self.description if self.description is not None else self.display_description,
        )

    @property
    def image(self) -> str | None:
        return self.image_ref if self.image_ref is not None else self.image_id


class VolumeCreateRequest(_Strict):
    volume: NewVolume
    scheduler_hints: dict[str, Any] | None = Field(None, alias="OS-SCH-HNT:scheduler_hints")


class Connector(BaseModel):
    """os-brick's connector: which host wants the volume, where, and how (any other keys kept)."""

    model_config = ConfigDict(extra="allow")

    host: str | None = None
    mountpoint: str | None = None
    mode: str | None = None  # rw or ro; anything else means "not said", as in Cinder


class NewAttachment(_Strict):
    volume_uuid: Uuid
    instance_uuid: Uuid | None = None
    connector: Connector | None = None
    mode: Literal["rw", "ro"] | None = None  # microversion 3.54+


class AttachmentCreateRequest(_Strict):
    attachment: NewAttachment


class AttachmentUpdate(_Strict):
    connector: Connector


class AttachmentUpdateRequest(_Strict):
    attachment: AttachmentUpdate


class VolumeChanges(_Strict):
    """``PUT /volumes/{id}``'s ``volume``: what may change, at least one of them."""

    name: Name | None = None
    description: Name | None = None
    display_name: Name | None = None
    display_description: Name | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> VolumeChanges:
        if not self.model_fields_set:
            raise ValueError(
                "one of name, description, display_name, display_description or metadata "
                "is required"
            )
        return self


class VolumeUpdateRequest(_Strict):
    volume: VolumeChanges
