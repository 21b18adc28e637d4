"""Where Tempest 47.0.0's response schemas lag behind Nova itself: Nova's own answer at
that microversion fails the schema Tempest's client picks. Each gap is widened for the
microversions it concerns to what Nova answers there, so the rest of the document is still
checked as strictly (docs/conformance.md lists them)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tempest.lib.api_schema.response.compute.v2_53 import hypervisors as hypervisors_v253

from tests.support.tempest_sweep import at_least

# Nova 2.88 drops the usage fields and cpu_info from a hypervisor's detail and show, and
# adds "uptime" (null where the host has none, as one whose service is down); Tempest's
# hypervisor client keeps its 2.53 schemas from 2.53 on, which require the one and refuse
# the other (nova/api/openstack/compute/hypervisors.py, _view_hypervisor).
HYPERVISOR_UPTIME = "2.88"
DROPPED_AT_2_88 = frozenset(
    {
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "free_ram_mb",
        "free_disk_gb",
        "current_workload",
        "running_vms",
        "disk_available_least",
        "cpu_info",
    }
)


def _with_uptime() -> dict[str, Any]:
    detail = copy.deepcopy(hypervisors_v253.hypervisor_detail)
    detail["properties"]["uptime"] = {"type": ["string", "null"]}
    detail["required"] = [k for k in detail["required"] if k not in DROPPED_AT_2_88]
    for key in DROPPED_AT_2_88:  # and refuse them, as Nova no longer sends them
        del detail["properties"][key]
    show = copy.deepcopy(hypervisors_v253.get_hypervisor)
    show["response_body"]["properties"]["hypervisor"] = detail
    listed = copy.deepcopy(hypervisors_v253.list_hypervisors_detail)
    listed["response_body"]["properties"]["hypervisors"]["items"] = detail
    return {"get_hypervisor": show, "list_hypervisors_detail": listed}


@contextmanager
def nova_ahead_of_tempest(version: str | None) -> Iterator[None]:
    """Tempest's compute schemas at ``version``, widened where Nova is ahead of them."""
    if version is None or not at_least(version, HYPERVISOR_UPTIME):
        yield
        return
    widened = _with_uptime()
    before = {name: getattr(hypervisors_v253, name) for name in widened}
    for name, schema in widened.items():
        setattr(hypervisors_v253, name, schema)
    try:
        yield
    finally:
        for name, schema in before.items():
            setattr(hypervisors_v253, name, schema)
