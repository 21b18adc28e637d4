"""``bootflow host list``: each host as the compute API's os-hypervisors and os-services
describe it (at the microversion the client asks for), in the operator's columns."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bootflow import hosts
from bootflow.cli import hosts as cli_hosts
from bootflow.cli.output import listing
from clients.compute import HOSTS_VERSION
from clients.tokens import AuthContext
from db.base import utcnow
from db.models.compute import ComputeNode
from services.compute.compute_services import service_view
from services.compute.context import ApiContext
from services.compute.hypervisors import hypervisor_view
from services.compute.microversions import v
from services.compute.own_api import facts_view

ADMIN = ApiContext(
    caller=AuthContext("u", "admin", "p", "admin", ("admin",), "", token=""),
    version=v(HOSTS_VERSION),
    base="http://127.0.0.1:8774",
    service_down_seconds=60.0,
)


def _node(host: str, **fields: Any) -> ComputeNode:
    values: dict[str, Any] = {
        "id": 1,
        "host": host,
        "hypervisor_type": "QEMU",
        "hypervisor_hostname": host,
        "cpu_arch": "x86_64",
        "availability_zone": "nova",
        "vcpus": 8,
        "memory_mb": 8192,
        "local_gb": 100,
        "vcpus_used": 2,
        "memory_mb_used": 1024,
        "local_gb_used": 21,
        "running_vms": 2,
        "cpu_allocation_ratio": 16.0,
        "ram_allocation_ratio": 1.5,
        "disk_allocation_ratio": 1.0,
        "disabled": False,
        "disabled_reason": None,
        "heartbeat_at": utcnow(),
    }
    values.update(fields)
    return ComputeNode(**values)


class _Compute:
    """The compute API's host views of ``nodes``, as ComputeClient returns them."""

    def __init__(self, nodes: list[ComputeNode]) -> None:
        self.nodes = nodes

    def list_hypervisors(self) -> list[dict[str, Any]]:
        return [hypervisor_view(ADMIN, n, True, "127.0.0.1") for n in self.nodes]

    def list_services(self) -> list[dict[str, Any]]:
        return [service_view(ADMIN, n) for n in self.nodes]

    def hypervisor_facts(self) -> list[dict[str, Any]]:
        return [facts_view(n) for n in self.nodes]

    def list_servers(self, all_projects: bool, host: str) -> list[dict[str, Any]]:
        return []


def test_host_list_shows_disk_and_allocation_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    compute = _Compute(
        [
            _node("node1"),
            _node(
                "node2",
                id=2,
                availability_zone="az2",
                local_gb=50,
                local_gb_used=0,
                cpu_allocation_ratio=4.0,
                ram_allocation_ratio=1.0,
                disk_allocation_ratio=2.0,
                disabled=True,
                disabled_reason="maintenance",
                heartbeat_at=utcnow() - timedelta(minutes=5),
            ),
        ]
    )
    states = hosts.host_states(compute)  # type: ignore[arg-type]
    listing([cli_hosts._row(s) for s in states], cli_hosts.COLUMNS, "json")
    rows = {row["Host"]: row for row in json.loads(capsys.readouterr().out)}
    picked = ("Zone", "State", "Status", "VCPUs", "RAM MiB", "Disk GiB")
    ratios = ("CPU ratio", "RAM ratio", "Disk ratio")
    assert [rows["node1"][c] for c in picked] == [
        "nova",
        "up",
        "enabled",
        "2/8",
        "1024/8192",
        "21/100",
    ]
    assert [rows["node1"][c] for c in ratios] == [16.0, 1.5, 1.0]
    assert [rows["node2"][c] for c in picked] == [
        "az2",
        "down",
        "disabled",
        "2/8",
        "1024/8192",
        "0/50",
    ]
    assert [rows["node2"][c] for c in ratios] == [4.0, 1.0, 2.0]
    assert list(rows["node1"]).index("Disk GiB") == list(rows["node1"]).index("RAM MiB") + 1


def test_host_list_says_unknown_for_numbers_the_api_does_not_give() -> None:
    class _Bare(_Compute):
        def list_hypervisors(self) -> list[dict[str, Any]]:
            views = super().list_hypervisors()
            for view in views:  # as at 2.88+: no usage
                for key in ("local_gb", "local_gb_used"):
                    view.pop(key)
            return views

        def hypervisor_facts(self) -> list[dict[str, Any]]:
            return []  # a host that has not reported its own facts

    (state,) = hosts.host_states(_Bare([_node("node1")]))  # type: ignore[arg-type]
    row = cli_hosts._row(state)
    assert [row[c] for c in ("Disk GiB", "CPU ratio", "RAM ratio", "Disk ratio")] == [
        "?/?",
        "?",
        "?",
        "?",
    ]
