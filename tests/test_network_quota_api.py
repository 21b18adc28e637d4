"""Neutron's quota API: read, set, reset, defaults and details; a limit set is the one the
next create is checked against."""

from __future__ import annotations

from typing import Any

import pytest

from clients.errors import HttpError
from clients.network import NetworkClient
from tests.support.neutron import call, refused
from tests.test_network_service import admin, alt, client, cloud, demo

__all__ = ["admin", "alt", "client", "cloud", "demo"]

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10}


def test_an_admin_sets_and_resets_a_projects_quota(
    demo: NetworkClient, admin: NetworkClient
) -> None:
    project = demo.session.token_info().project_id
    assert call(demo, "GET", f"quotas/{project}") == {"quota": DEFAULTS}
    assert call(admin, "GET", "quotas") == {"quotas": []}
    updated = call(admin, "PUT", f"quotas/{project}", {"quota": {"network": 2, "router": "1"}})
    assert updated == {"quota": {**DEFAULTS, "network": 2, "router": 1}}
    assert call(demo, "GET", f"quotas/{project}") == updated
    assert call(admin, "GET", "quotas") == {
        "quotas": [{**updated["quota"], "project_id": project, "tenant_id": project}]
    }
    assert call(demo, "GET", f"quotas/{project}/default") == {"quota": DEFAULTS}

    # The next creates are checked against the new limits.
    demo.create_network("a")
    demo.create_network("b")
    with pytest.raises(HttpError) as over:
        demo.create_network("c")
    assert (over.value.status, over.value.error_type, over.value.message) == (
        409,
        "OverQuota",
        "Quota exceeded for resources: ['network'].",
    )
    call(demo, "POST", "routers", {"router": {"name": "r1"}})
    assert refused(demo, "POST", "routers", {"router": {"name": "r2"}}) == (
        409,
        "OverQuota",
        "Quota exceeded for resources: ['router'].",
    )
    details = call(demo, "GET", f"quotas/{project}/details.json")["quota"]
    assert details["network"] == {"limit": 2, "used": 2, "reserved": 0}
    assert details["router"] == {"limit": 1, "used": 1, "reserved": 0}
    assert details["port"] == {"limit": 500, "used": 0, "reserved": 0}
    assert call(demo, "GET", f"quotas/{project}/details") == {"quota": details}

    # Unlimited, then back to the defaults.
    call(admin, "PUT", f"quotas/{project}", {"quota": {"network": -1}})
    demo.create_network("c")
    assert call(admin, "DELETE", f"quotas/{project}") is None
    assert call(demo, "GET", f"quotas/{project}") == {"quota": DEFAULTS}
    assert refused(admin, "DELETE", f"quotas/{project}") == (
        404,
        "TenantQuotaNotFound",
        f"Quota for tenant {project} could not be found.",
    )
    assert call(demo, "GET", "quotas/tenant") == {"tenant": {"tenant_id": project}}


def test_members_read_only_their_own_quota_and_change_none(
    demo: NetworkClient, alt: NetworkClient, admin: NetworkClient
) -> None:
    project = demo.session.token_info().project_id
    other = alt.session.token_info().project_id
    assert refused(demo, "GET", f"quotas/{other}")[:2] == (403, "PolicyNotAuthorized")
    assert refused(demo, "GET", f"quotas/{other}/details")[:2] == (403, "PolicyNotAuthorized")
    assert refused(demo, "GET", "quotas")[:2] == (403, "PolicyNotAuthorized")
    for method, body in (("PUT", {"quota": {"network": 500}}), ("DELETE", None)):
        assert refused(demo, method, f"quotas/{project}", body)[:2] == (403, "PolicyNotAuthorized")
    assert call(admin, "GET", f"quotas/{other}") == {"quota": DEFAULTS}
    assert call(admin, "GET", "quotas") == {"quotas": []}


# (body, status, Neutron error type, message)
BAD_UPDATES: list[tuple[Any, int, str, str]] = [
    (
        {"quota": {"network": -2}},
        400,
        "HTTPBadRequest",
        "Invalid input for network. Reason: '-2' is too small - must be at least '-1'.",
    ),
    (
        {"quota": {"port": 2**31}},
        400,
        "HTTPBadRequest",
        "Invalid input for port. Reason: '2147483648' is too large - must be no larger than "
        "'2147483647'.",
    ),
    (
        {"quota": {"subnet": "many"}},
        400,
        "InvalidInput",
        "Invalid input for operation: 'many' is not an integer",
    ),
    (
        {"quota": {"subnet": None}},
        400,
        "InvalidInput",
        "Invalid input for operation: 'None' is not an integer",
    ),
    ({"quota": {"floatingip": 5}}, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'floatingip'"),
    ({"quota": 5}, 400, "HTTPBadRequest", "Unable to find 'quota' in request body"),
    ({"quotas": {}}, 400, "HTTPBadRequest", "Unable to find 'quota' in request body"),
    ([], 400, "HTTPBadRequest", "Unable to find 'quota' in request body"),
]


def test_bad_quota_updates_are_400_and_change_nothing(
    admin: NetworkClient, demo: NetworkClient
) -> None:
    project = demo.session.token_info().project_id
    for body, status, kind, message in BAD_UPDATES:
        assert refused(admin, "PUT", f"quotas/{project}", body) == (status, kind, message), body
    # One bad limit among good ones sets none of them.
    mixed = {"quota": {"network": 5, "port": -7}}
    assert refused(admin, "PUT", f"quotas/{project}", mixed)[0] == 400
    assert refused(admin, "PUT", f"quotas/{'x' * 65}", {"quota": {"network": 1}})[0] == 400
    assert call(admin, "GET", f"quotas/{project}") == {"quota": DEFAULTS}
    assert call(admin, "GET", "quotas") == {"quotas": []}
