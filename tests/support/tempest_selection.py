"""What the conformance run selects (issue 20's groups of Tempest 47.0.0) and what it may
skip: `make conformance` (bench/conformance.py) and `make test`
(tests/e2e/test_conformance.py) run the same selection."""

from __future__ import annotations

import re

API = "tempest.api"
# The groups: name -> the test modules (regexes on test ids).
GROUPS: dict[str, list[str]] = {
    "identity v3 tokens": [
        rf"^{API}\.identity\.v3\.test_tokens\.",
        rf"^{API}\.identity\.admin\.v3\.test_tokens\.",
    ],
    "compute flavors": [rf"^{API}\.compute\.flavors\.test_flavors(_negative)?\."],
    "compute limits": [rf"^{API}\.compute\.limits\."],
    "compute admin": [
        rf"^{API}\.compute\.admin\.test_hypervisor(_negative)?\.",
        rf"^{API}\.compute\.admin\.test_services(_negative)?\.",
        rf"^{API}\.compute\.admin\.test_availability_zone(_negative)?\.",
    ],
    "compute server groups": [rf"^{API}\.compute\.servers\.test_server_group\."],
    "compute servers": [
        rf"^{API}\.compute\.servers\.test_create_server\.",
        rf"^{API}\.compute\.servers\.test_list_server_filters\.",
        rf"^{API}\.compute\.servers\.test_servers_negative\.",
        rf"^{API}\.compute\.servers\.test_servers\.",
        rf"^{API}\.compute\.servers\.test_server_metadata(_negative)?\.",
        rf"^{API}\.compute\.servers\.test_instance_actions(_negative)?\.",
        rf"^{API}\.compute\.servers\.test_availability_zone\.",
    ],
    "image v2 images": [rf"^{API}\.image\.v2\.test_images\."],
    "network networks and ports": [
        rf"^{API}\.network\.test_networks\.",
        rf"^{API}\.network\.test_ports\.",
    ],
    "volume get and list": [
        rf"^{API}\.volume\.test_volumes_get\.",
        rf"^{API}\.volume\.test_volumes_list\.",
    ],
}

# What the stack needs for Tempest: libvirt's test driver reports 3,072 MiB a host, too
# little for the servers Tempest's classes boot at once; quotas as devstack's.
STACK_ENV = {
    "BOOTFLOW_HOST_MEMORY_MB": "65536",
    "BOOTFLOW_HOST_VCPUS": "64",
    "BOOTFLOW_HOST_DISK_GB": "2000",
    "BOOTFLOW_QUOTA_INSTANCES": "50",
    "BOOTFLOW_QUOTA_CORES": "100",
    "BOOTFLOW_QUOTA_RAM_MB": "512000",
}


# Why Tempest may skip a test of the selection: each reason is a config flag for what the
# README lists as not offered ("Conformance"), or something bootflow does not advertise.
EXPECTED_SKIPS: dict[str, str] = {
    r"^(Pause|Suspend|Shelve) is not available\.$": "no pause, suspend or shelve",
    r"^Resize not available\.$": "no resize",
    r"^Instance password not available\.$": "no admin password in the guest",
    r"^Nova personality feature disabled$": "no personality files",
    r"^DiskConfig extension not enabled\.$": "no OS-DCF:diskConfig",
    r"^Instance validation tests are disabled\.$": "no validation over ssh",
    r"^IPv6 Tests are disabled\.$": "IPv4 only",
    r"^(security-group|ip-substring-filtering) extension not enabled\.$": (
        "Neutron extensions not advertised"
    ),
    r"^The public_network_id option must be specified\.$": "no public network",
    r"^Cinder volume clones are disabled$": "no Cinder clones",
    r"^FQDN hostname sanitization is not supported\.$": "no FQDN sanitization",
    r"^``\[compute\]/certified_image_ref`` required": "no image certificate validation",
    r"^The microversion range\[2\.(9[7-9]|1\d\d) - latest\] of this test is out of the "
    r"configuration range\[None - 2\.96\]\.$": "microversions past 2.96",
    r"^\w+ skipped as (image import is not available|Glance does not support v2\.17|store "
    r"weight is not configured|http store is disabled|show_multiple_locations is not "
    r"available)$": "Glance: uploads only, no stores or locations",
}


def unexpected_skip(reason: str) -> bool:
    """Whether a skip's reason (its first line; a class's skip names its setUpClass) is
    none of the expected ones."""
    reason = reason.removeprefix("setUpClass: ").strip()
    return not any(re.search(pattern, reason) for pattern in EXPECTED_SKIPS)
