"""``PATCH /v2/images/{id}``: Glance's JSON-patch dialects, media types v2.1 and v2.0.

A v2.1 body is a list of ``{"op": "add"|"replace"|"remove", "path": "/<attribute>",
"value": ...}``; a v2.0 body (JSON Schema draft 4) names the path under the operation
(``{"replace": "/name", "value": "x"}``), and its ``add`` refuses an attribute that exists.
Parsing refuses malformed operations (400) and attributes callers never set (403) before
anything changes; applying follows Glance's semantics: ``add`` sets, ``replace`` needs an
existing additional property (409), base attributes may not be removed (403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from db.models.image import Image
from services.common.app import ApiError, bad_request, conflict, forbidden
from services.common.auth import AuthContext
from services.image import fields, policy

MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
MEDIA_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
# Each media type's JSON Schema draft, as Glance's RequestDeserializer maps them.
DRAFTS = {MEDIA_TYPE_V20: 4, MEDIA_TYPE: 10}
ACCEPT_PATCH = ", ".join(sorted(DRAFTS))
OPERATIONS = ("add", "remove", "replace")
# Glance lets these change only before data is uploaded.
_FORMAT_ATTRIBUTES = frozenset({"disk_format", "container_format"})


@dataclass(frozen=True)
class Change:
    op: str
    attribute: str
    value: Any = None
    draft: int = 10


def parse_changes(body: Any, draft: int = 10) -> list[Change]:
    if not isinstance(body, list):
        raise bad_request("Request body must be a JSON array of operation objects.")
    return [_parse_change(raw, draft) for raw in body]


def _operation(raw: dict[str, Any], draft: int) -> str:
    """The change's operation: ``op``, or in draft 4 the first operation named as a key."""
    available = ", ".join(OPERATIONS)
    op = raw.get("op")
    if op is None and draft == 4:
        op = next((key for key in OPERATIONS if key in raw), None)
    if op is None:
        raise bad_request(
            f"Unable to find `op` in JSON Schema change. It must be one of the following: "
            f"{available}."
        )
    if op not in OPERATIONS:
        raise bad_request(
            f"Invalid operation: `{op}`. It must be one of the following: {available}."
        )
    return str(op)


def _parse_change(raw: Any, draft: int) -> Change:
    if not isinstance(raw, dict):
        raise bad_request("Operations must be JSON objects.")
    op = _operation(raw, draft)
    path_key = op if draft == 4 else "path"
    if path_key not in raw:
        raise bad_request(f"Unable to find '{path_key}' in JSON Schema change")
    path = _decode_pointer(raw[path_key])
    if len(path) != 1:
        raise bad_request(f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
    attribute = path[0]
    fields.check_settable(attribute)
    if attribute == "id":
        raise forbidden("Attribute 'id' is read-only.")
    if op == "remove":
        return Change(op, attribute, draft=draft)
    if "value" not in raw:
        raise bad_request(f'Operation "{op}" requires a member named "value".')
    value = raw["value"]
    if attribute in fields.WRITABLE:
        value = fields.validate_base(attribute, value)
    else:
        value = fields.validate_property(attribute, value)
    return Change(op, attribute, value, draft)


def _decode_pointer(pointer: Any) -> list[str]:
    """A JSON pointer's tokens, refused as Glance refuses them."""
    if not isinstance(pointer, str):
        raise bad_request(f'Pointer `{pointer}` does not start with "/".')
    if not pointer.startswith("/"):
        raise bad_request(f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise bad_request(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise bad_request(f'Pointer `{pointer}` end with "/".')
    if not pointer[1:].strip():
        raise bad_request(f"Pointer `{pointer}` does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise bad_request(
            f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.'
        )
    return [p.replace("~1", "/").replace("~0", "~").strip() for p in pointer[1:].split("/")]


def apply_changes(image: Image, changes: list[Change], caller: AuthContext) -> None:
    """Apply ``changes`` in order to ``image``; any refusal leaves the caller's transaction
    to roll back, so a PATCH changes all or nothing."""
    if not changes:
        return
    policy.require_owner(image, caller, "modify_image")
    properties = dict(image.properties or {})
    for change in changes:
        if change.attribute in fields.WRITABLE:
            _apply_base(image, change, caller)
        else:
            _apply_property(properties, change)
    fields.check_property_count(properties)
    if properties != image.properties:
        # A new dict, so the ORM sees the JSON column change.
        image.properties = properties


def _apply_base(image: Image, change: Change, caller: AuthContext) -> None:
    name = change.attribute
    if change.op == "remove":
        raise forbidden(f"Property {name} may not be removed.")
    if change.op == "add" and change.draft == 4:
        # Every base attribute exists, so draft 4's add never sets one (as in Glance).
        raise conflict(f"Property {name} already present.")
    if name == "owner" and not caller.is_admin:
        raise forbidden("Owner can't be updated by non admin.")
    if name == "visibility":
        policy.check_visibility(change.value, caller)
    if name in _FORMAT_ATTRIBUTES and image.status != "queued":
        raise forbidden(f"Attribute {name} can be only replaced for a queued image.")
    setattr(image, name, change.value)


def _apply_property(properties: dict[str, Any], change: Change) -> None:
    name = change.attribute
    if change.op == "add":
        if change.draft == 4 and name in properties:
            raise conflict(f"Property {name} already present.")
        properties[name] = change.value
        return
    if name not in properties:
        raise conflict(f"Property {name} does not exist.")
    if change.op == "replace":
        properties[name] = change.value
    else:
        del properties[name]


def unsupported_media_type(content_type: str | None) -> ApiError:
    return ApiError(
        415, f"Image PATCH expects Content-Type one of: {ACCEPT_PATCH} (got {content_type!r})."
    )
