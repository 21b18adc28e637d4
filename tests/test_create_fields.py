"""``accessIPv4``, ``accessIPv6`` and (2.19+) ``description`` at create: checked as
``PUT /servers/{id}`` checks them, carried with each boot into the record, and shown."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import ActivityEnvironment

from activities.instances import InstanceActivities
from core.messages import BootRequest, CreateInstanceInput, FlavorSpec, ImageSpec, RequestContext
from tests import test_compute_metadata
from tests.support.cloud import LoopbackCloud
from tests.test_compute_api import _api, _create, _error, _instance, _project, _user

# The fixture: a seeded cloud with one host, node1.
cloud = test_compute_metadata.cloud
FIELDS = {"accessIPv4": "192.0.2.7", "accessIPv6": "2001:DB8::0:7", "description": "web front"}


def test_create_carries_the_access_ips_and_description_with_each_boot(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    assert _create(cloud, FIELDS | {"min_count": 2}).status_code == 202
    # The IPv6 address as Nova prints it (compressed, lower case), as PUT stores it.
    assert [(b.access_ip_v4, b.access_ip_v6, b.description) for b in started] == [
        ("192.0.2.7", "2001:db8::7", "web front")
    ] * 2
    assert _create(cloud, {"accessIPv4": "192.0.2.8"}).status_code == 202
    assert (started[-1].access_ip_v4, started[-1].description) == ("192.0.2.8", None)


@pytest.mark.parametrize(
    ("server", "version", "expected"),
    [
        ({"accessIPv4": "192.0.2.300"}, "2.96", "'192.0.2.300' is not a 'ipv4'"),
        ({"accessIPv4": "2001:db8::7"}, "2.96", "'2001:db8::7' is not a 'ipv4'"),
        ({"accessIPv6": "192.0.2.7"}, "2.96", "'192.0.2.7' is not a 'ipv6'"),
        ({"accessIPv4": None}, "2.96", "accessIPv4"),
        ({"description": "d"}, "2.18", "'description' was unexpected"),
        ({"description": "x" * 256}, "2.96", "description"),
        ({"description": "bell\x07"}, "2.96", "does not match the printable characters"),
    ],
)
def test_bad_access_ips_and_descriptions_are_refused_as_put_refuses_them(
    cloud: LoopbackCloud, started: list[BootRequest], server: dict[str, str], version: str,
    expected: str,
) -> None:  # fmt: skip
    assert expected in _error(_create(cloud, server, version), 400, "badRequest")
    assert started == []


def test_the_record_is_written_with_them_and_shown(cloud: LoopbackCloud) -> None:
    request = CreateInstanceInput(
        instance_uuid=str(uuid.uuid4()),
        name="web",
        request_id="req-1",
        context=RequestContext(
            _user(cloud, "demo"),
            "demo",
            _project(cloud, "demo"),
            "demo",
            ["member"],
            "2099-01-01T00:00:00Z",
        ),
        flavor=FlavorSpec("1", "m1.tiny", 1, 512, 1),
        image=ImageSpec("img-1", "cirros", 1, "qcow2", None),
        description="web front",
        access_ip_v4="192.0.2.7",
        access_ip_v6="2001:db8::7",
    )
    ActivityEnvironment().run(InstanceActivities(cloud.sessions).create_instance_record, request)
    shown = _api(cloud, "GET", f"servers/{request.instance_uuid}", version="2.19").json()
    server = shown["server"]
    assert (server["accessIPv4"], server["accessIPv6"], server["description"]) == (
        "192.0.2.7",
        "2001:db8::7",
        "web front",
    )
    listed = _api(cloud, "GET", "servers/detail", version="2.19").json()["servers"]
    assert [(s["accessIPv4"], s["description"]) for s in listed] == [("192.0.2.7", "web front")]


def test_admins_filter_and_sort_servers_by_them(cloud: LoopbackCloud) -> None:
    front = _instance(cloud, "front", description="web front", access_ip_v4="192.0.2.7")
    back = _instance(cloud, "back", description="db back", access_ip_v4="192.0.2.10")
    _instance(cloud, "bare")

    def ids(query: str) -> list[str]:
        listed = _api(cloud, "GET", f"servers/detail?all_tenants=1&{query}", user="admin")
        return [s["id"] for s in listed.json()["servers"]]

    assert ids("description=front") == [front]
    assert ids("display_description=back") == [back]
    assert ids("access_ip_v4=192.0.2.1") == [back]
    assert ids("sort_key=display_description&sort_dir=asc")[:2] == [back, front]
    assert ids("sort_key=access_ip_v4&sort_dir=desc")[-2:] == [front, back]
