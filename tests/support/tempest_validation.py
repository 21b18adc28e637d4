"""Check a response as Tempest 47.0.0's clients do: its status and body against one of
``tempest.lib.api_schema.response``'s schemas (Draft 4, with Tempest's format checks)."""

from __future__ import annotations

from typing import Any

import httpx
from tempest.lib.common.rest_client import RestClient


class _Response(dict[str, str]):
    """What Tempest's validator reads: the headers as a dict, the status as ``status``."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__({k.lower(): v for k, v in response.headers.items()})
        self.status = response.status_code


def assert_tempest_valid(schema: dict[str, Any], response: httpx.Response) -> Any:
    """The response's JSON body, once Tempest's schema accepts it (raises otherwise)."""
    body = response.json() if response.content else None
    RestClient.validate_response(schema, _Response(response), body)
    return body
