"""Neutron's native bulk create: ``POST /v2.0/networks`` with ``{"networks": [...]}``.

Each item is read exactly as a single create's body (an item may also be wrapped as
``{"network": {...}}``, as Neutron accepts); the whole request is one transaction, so
either every resource is created or none is, and the first refusal is the answer.
"""

from __future__ import annotations

from typing import Any

from services.network.errors import bad_request

# Neutron bounds a bulk only by its request size; the body limit already caps it near
# this, and one transaction stays short.
MAX_BULK = 1000


def bodies(body: Any, resource: str) -> tuple[list[Any], bool]:
    """Each single-resource body a create asks for, and whether it was a bulk request."""
    collection = f"{resource}s"
    if not isinstance(body, dict) or collection not in body:
        return [body], False
    if len(body) > 1:
        extra = sorted(k for k in body if k != collection)
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(extra)}'")
    items = body[collection]
    if not isinstance(items, list) or not items:
        raise bad_request("Resources required")
    if len(items) > MAX_BULK:
        raise bad_request(
            f"A bulk request creates at most {MAX_BULK} {collection}; got {len(items)}"
        )
    return [
        item if isinstance(item, dict) and resource in item else {resource: item} for item in items
    ], True


def answer(resource: str, views: list[dict[str, Any]], bulk: bool) -> dict[str, Any]:
    """``{"networks": [...]}`` for a bulk, ``{"network": {...}}`` for a single create."""
    return {f"{resource}s": views} if bulk else {resource: views[0]}
