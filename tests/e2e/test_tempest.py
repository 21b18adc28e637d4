"""A short Tempest 47.0.0 run against the shared stack: OpenStack's own tests of the APIs
bootflow serves without booting a server (tokens, flavors, services, availability zones,
hypervisors, server groups, image lists), each listed by name, all passing on main when
this list was written. `make conformance` runs the issue's whole set (bench/conformance.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.stack import RunningStack
from tests.support.tempest import first_error_line, run_tests, write_workspace

pytestmark = pytest.mark.e2e

COMPUTE = "tempest.api.compute"
_TESTS = {
    "tempest.api.identity.v3.test_tokens.TokensV3Test": [
        "test_create_token",
        "test_token_auth_creation_existence_deletion",
        "test_validate_token",
    ],
    f"{COMPUTE}.flavors.test_flavors.FlavorsV2TestJSON": [
        "test_get_flavor",
        "test_list_flavors",
        "test_list_flavors_detailed_filter_by_min_disk",
        "test_list_flavors_detailed_filter_by_min_ram",
        "test_list_flavors_detailed_limit_results",
        "test_list_flavors_detailed_using_marker",
        "test_list_flavors_filter_by_min_disk",
        "test_list_flavors_filter_by_min_ram",
        "test_list_flavors_limit_results",
        "test_list_flavors_using_marker",
        "test_list_flavors_with_detail",
    ],
    f"{COMPUTE}.flavors.test_flavors_negative.FlavorsV2NegativeTest": ["test_boot_with_low_ram"],
    f"{COMPUTE}.admin.test_availability_zone.AZAdminV2TestJSON": [
        "test_get_availability_zone_list",
        "test_get_availability_zone_list_detail",
    ],
    f"{COMPUTE}.admin.test_availability_zone_negative.AZAdminNegativeTestJSON": [
        "test_get_availability_zone_list_detail_with_non_admin_user",
    ],
    f"{COMPUTE}.admin.test_services.ServicesAdminTestJSON": [
        "test_get_service_by_host_name",
        "test_get_service_by_service_binary_name",
        "test_list_services",
    ],
    f"{COMPUTE}.admin.test_services_negative.ServicesAdminNegativeTestJSON": [
        "test_get_service_by_invalid_params",
        "test_get_service_by_invalid_service_and_valid_host",
        "test_get_service_with_valid_service_and_invalid_host",
        "test_list_services_with_non_admin_user",
    ],
    f"{COMPUTE}.admin.test_services_negative.ServicesAdminNegativeV253TestJSON": [
        "test_disable_log_reason_with_invalid_service_id",
        "test_disable_service_with_invalid_service_id",
        "test_enable_service_with_invalid_service_id",
        "test_get_service_by_invalid_params",
        "test_get_service_by_invalid_service_and_valid_host",
        "test_get_service_with_valid_service_and_invalid_host",
        "test_list_services_with_non_admin_user",
    ],
    f"{COMPUTE}.admin.test_hypervisor.HypervisorAdminTestJSON": ["test_get_hypervisor_list"],
    f"{COMPUTE}.admin.test_hypervisor_negative.HypervisorAdminNegativeTestJSON": [
        "test_get_hypervisor_list_details_with_non_admin_user",
        "test_get_hypervisor_list_with_non_admin_user",
        "test_get_hypervisor_stats_with_non_admin_user",
        "test_get_hypervisor_uptime_with_non_admin_user",
        "test_get_nonexistent_hypervisor_uptime",
        "test_show_hypervisor_with_non_admin_user",
        "test_show_nonexistent_hypervisor",
    ],
    f"{COMPUTE}.admin.test_hypervisor_negative.HypervisorAdminNegativeUnderV252Test": [
        "test_search_nonexistent_hypervisor",
        "test_show_servers_with_nonexistent_hypervisor",
    ],
    f"{COMPUTE}.servers.test_server_group.ServerGroupTestJSON": [
        "test_create_delete_multiple_server_groups_with_same_name_policy",
        "test_create_delete_server_group_with_affinity_policy",
        "test_create_delete_server_group_with_anti_affinity_policy",
    ],
    f"{COMPUTE}.servers.test_server_group.ServerGroup264TestJSON": ["test_create_get_server_group"],
    "tempest.api.image.v2.test_images.ListUserImagesTest": [
        "test_list_hidden_image",
        "test_list_image_param_owner",
        "test_list_images_param_container_format",
        "test_list_images_param_disk_format",
        "test_list_images_param_limit",
        "test_list_images_param_min_max_size",
        "test_list_images_param_name",
        "test_list_images_param_sort",
        "test_list_images_param_sort_key_dir",
        "test_list_images_param_status",
        "test_list_images_param_tag",
        "test_list_images_param_visibility",
        "test_list_no_params",
    ],
}
TESTS = [f"{cls}.{name}" for cls, names in _TESTS.items() for name in names]


def test_tempest_read_apis_pass(stack: RunningStack, tmp_path: Path) -> None:
    """Each listed Tempest test runs and passes: the documents validate against Tempest's
    response schemas, and the behaviour is the one Tempest expects of OpenStack."""
    workspace = tmp_path / "tempest"
    # No shared network or extra image: the stack is shared with the other e2e tests.
    write_workspace(stack.settings, workspace, servers=False)
    results = run_tests(workspace, [rf"^{re.escape(t)}(\[|$)" for t in TESTS], timeout=600)
    outcome = {r.id: r.status for r in results}
    failures = [f"{r.id}: {first_error_line(r.detail)}" for r in results if r.status != "success"]
    assert outcome == dict.fromkeys(TESTS, "success"), "\n".join(failures)
