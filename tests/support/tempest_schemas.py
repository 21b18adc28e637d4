"""Tempest's own response schemas (``tempest.lib.api_schema``), as its service clients pick
and apply them: a body bootflow serves must pass the schema Tempest would check it with at
that microversion."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import httpx
from tempest.lib.common import api_version_request
from tempest.lib.common.rest_client import RestClient


class _Response(dict[str, str]):
    """What RestClient.validate_response reads of a response: its status and headers."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__({k.lower(): v for k, v in response.headers.items()})
        self.status = response.status_code


def schema_module(versions: list[dict[str, Any]], version: str | None) -> ModuleType:
    """The schema module a Tempest client's ``schema_versions_info`` gives ``version``."""
    wanted = api_version_request.APIVersionRequest(version)
    for item in versions:
        low = api_version_request.APIVersionRequest(item["min"])
        high = api_version_request.APIVersionRequest(item["max"])
        if wanted.is_null() and item["min"] is None:
            return item["schema"]  # type: ignore[no-any-return]
        if not wanted.is_null() and wanted.matches(low, high):
            return item["schema"]  # type: ignore[no-any-return]
    raise LookupError(f"no schema for {version}")


def validate(schema: dict[str, Any], response: httpx.Response) -> None:
    """Raise tempest's InvalidHTTPResponseBody (or status/header error) as its client would;
    unlike its client, an error status fails too (Tempest checks only successes' bodies)."""
    assert response.status_code in schema["status_code"], response.text
    body = response.json() if response.content else ""
    RestClient.validate_response(schema, _Response(response), body)
