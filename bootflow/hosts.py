"""Compute hosts as an operator sees them, and draining one (``bootflow host ...``).

A host is a nova-compute service and its hypervisor in the compute API (``os-services``,
``os-hypervisors``: the ``compute_nodes`` row its worker keeps) plus its task queue
``compute-<host>`` in Temporal. Disabling a host (``PUT /os-services/{id}``, as
``openstack compute service set --disable``) keeps the scheduler from choosing it while its
worker finishes what it has. A drained host has no server with a task on it and nothing
waiting in its queue, so its worker can stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from clients.compute import ComputeClient
from core import task_queues
from core.config import TemporalOptions
from core.temporal import connect, run_once

# A poller seen this recently is a worker polling now (a long poll lasts about a minute).
POLLER_FRESH_SECONDS = 90.0


@dataclass
class QueueState:
    pollers: int  # workers that polled the host's queue in the last POLLER_FRESH_SECONDS
    backlog: int  # activity tasks waiting for the host's worker


@dataclass
class HostState:
    host: str
    zone: str
    up: bool
    disabled: bool
    disabled_reason: str | None
    vcpus: str  # used/total
    memory_mb: str  # used/total
    disk_gb: str  # used/total
    # The allocation ratios the scheduler multiplies the totals by ("?" if not reported).
    cpu_allocation_ratio: float | str
    ram_allocation_ratio: float | str
    disk_allocation_ratio: float | str
    servers: int  # on this host, not deleted
    in_flight: int  # of those, with a task (building, deleting, ...)
    queue: QueueState | None = None  # None when Temporal could not be asked


def _used_of_total(hypervisor: dict[str, Any], field: str) -> str:
    return f"{hypervisor.get(f'{field}_used', '?')}/{hypervisor.get(field, '?')}"


def host_states(compute: ComputeClient) -> list[HostState]:
    """Every host, from the compute API (as an admin); ``queue`` is left unset."""
    zones = {s["host"]: s["zone"] for s in compute.list_services()}
    facts = {f["host"]: f for f in compute.hypervisor_facts()}
    states = []
    for hypervisor in sorted(compute.list_hypervisors(), key=lambda h: h["service"]["host"]):
        host = hypervisor["service"]["host"]
        servers = compute.list_servers(all_projects=True, host=host)
        ratios = facts.get(host, {}).get("allocation_ratios") or {}
        states.append(
            HostState(
                host=host,
                zone=zones.get(host, ""),
                up=hypervisor["state"] == "up",
                disabled=hypervisor["status"] == "disabled",
                disabled_reason=hypervisor["service"].get("disabled_reason"),
                vcpus=_used_of_total(hypervisor, "vcpus"),
                memory_mb=_used_of_total(hypervisor, "memory_mb"),
                disk_gb=_used_of_total(hypervisor, "local_gb"),
                cpu_allocation_ratio=ratios.get("cpu", "?"),
                ram_allocation_ratio=ratios.get("ram", "?"),
                disk_allocation_ratio=ratios.get("disk", "?"),
                servers=len(servers),
                in_flight=sum(1 for s in servers if s.get("OS-EXT-STS:task_state")),
            )
        )
    return states


def host_state(compute: ComputeClient, host: str) -> HostState:
    for state in host_states(compute):
        if state.host == host:
            return state
    raise LookupError(f"No compute host named {host!r} (its worker has never started)")


async def queue_states(settings: TemporalOptions, hosts: list[str]) -> dict[str, QueueState]:
    """Each host's activity queue: recent pollers and approximate backlog."""
    client = await connect(settings)
    since = time.time() - POLLER_FRESH_SECONDS
    out: dict[str, QueueState] = {}
    for host in hosts:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=task_queues.compute(host)),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                report_stats=True,
            )
        )
        pollers = sum(1 for p in response.pollers if p.last_access_time.ToSeconds() >= since)
        out[host] = QueueState(pollers, int(response.stats.approximate_backlog_count))
    return out


def with_queues(settings: TemporalOptions, states: list[HostState]) -> list[HostState]:
    """The states with their queues filled in, if Temporal answers within a few seconds."""
    try:
        queues = run_once(asyncio.wait_for(queue_states(settings, [s.host for s in states]), 10))
    except Exception:
        return states
    for state in states:
        state.queue = queues.get(state.host)
    return states


def drained(state: HostState) -> bool:
    return state.in_flight == 0 and state.queue is not None and state.queue.backlog == 0


def drain(
    settings: TemporalOptions,
    compute: ComputeClient,
    host: str,
    timeout: float,
    report: Callable[[HostState], None],
    interval: float = 2.0,
) -> HostState:
    """Disable ``host``, then wait until nothing is in flight on it and its queue is empty
    (twice in a row, ``interval`` apart); its last state. TimeoutError after ``timeout``."""
    compute.set_service_enabled(host, False, "draining")
    deadline = time.monotonic() + timeout
    quiet = 0
    while True:
        (state,) = with_queues(settings, [host_state(compute, host)])
        report(state)
        quiet = quiet + 1 if drained(state) else 0
        if quiet >= 2:
            return state
        if time.monotonic() > deadline:
            queued = state.queue.backlog if state.queue else "?"
            raise TimeoutError(
                f"{host} still has {state.in_flight} server(s) in flight and {queued} "
                f"task(s) queued after {timeout:.0f}s; it stays disabled"
            )
        time.sleep(interval)
