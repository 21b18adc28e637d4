"""Where Tempest 47.0.0's response schemas lag behind Nova itself: Nova's own answer at
that microversion fails the schema Tempest's client picks. Each gap is replaced, for the
microversions it concerns, by the schema of what Nova answers there, so the rest of the
document is still checked as strictly (docs/conformance.md lists them)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from tempest.lib.api_schema.response.compute.v2_1 import parameter_types
from tempest.lib.api_schema.response.compute.v2_2 import keypairs as keypairs_v22
from tempest.lib.api_schema.response.compute.v2_53 import hypervisors as hypervisors_v253

from tests.support.tempest_sweep import at_least

# Nova 2.88 drops the usage fields and cpu_info from a hypervisor's detail and show, and
# adds "uptime" (null where the host has none, as one whose service is down); Tempest's
# hypervisor client keeps its 2.53 schemas from 2.53 on, which require the one and refuse
# the other (nova/api/openstack/compute/hypervisors.py, _view_hypervisor).
HYPERVISOR_UPTIME: Final = "2.88"
DROPPED_AT_2_88: Final = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
    "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least",
    "cpu_info",
)  # fmt: skip
_SCHEMAS_288: Final = ("get_hypervisor", "list_hypervisors_detail")
_ORIGINAL: Final = {name: getattr(hypervisors_v253, name) for name in _SCHEMAS_288}


def hypervisor_schema_288(name: str) -> dict[str, Any]:
    """Tempest's 2.53 ``name`` schema as Nova answers from 2.88: without the usage Nova
    removed, with the uptime it added."""
    schema = copy.deepcopy(_ORIGINAL[name])
    body = schema["response_body"]["properties"]
    item = body["hypervisor"] if "hypervisor" in body else body["hypervisors"]["items"]
    for key in DROPPED_AT_2_88:
        item["properties"].pop(key)
        item["required"].remove(key)
    item["properties"]["uptime"] = {"type": ["string", "null"]}
    item["required"].append("uptime")
    return schema


# Nova 2.35 pages key pairs: a full page (as many as ``limit``) has ``keypairs_links``
# (nova/api/openstack/compute/views/keypairs.py); Tempest's 2.2 list schema, its newest,
# refuses the key.
KEYPAIR_LINKS: Final = "2.35"
_KEYPAIRS_V22: Final = keypairs_v22.list_keypairs


def keypairs_schema_235() -> dict[str, Any]:
    schema = copy.deepcopy(_KEYPAIRS_V22)
    schema["response_body"]["properties"]["keypairs_links"] = parameter_types.links
    return schema


@contextmanager
def nova_ahead_of_tempest(version: str | None) -> Iterator[None]:
    """Tempest's compute schemas at ``version``, with Nova's where Nova is ahead of them."""
    if version is not None and at_least(version, KEYPAIR_LINKS):
        keypairs_v22.list_keypairs = keypairs_schema_235()
    if version is not None and at_least(version, HYPERVISOR_UPTIME):
        for name in _SCHEMAS_288:
            setattr(hypervisors_v253, name, hypervisor_schema_288(name))
    try:
        yield
    finally:
        keypairs_v22.list_keypairs = _KEYPAIRS_V22
        for name, schema in _ORIGINAL.items():
            setattr(hypervisors_v253, name, schema)
