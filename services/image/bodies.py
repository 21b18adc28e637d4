"""Request bodies as Glance reads them: JSON documents (with Glance's words for a missing or
malformed one) and media types."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from services.common.app import bad_request


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise bad_request("Body expected in request.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("Malformed JSON in request body.") from None


async def _json_body(request: Request) -> Any:
    return parse_json(await request.body())


JsonBody = Annotated[Any, Depends(_json_body)]
