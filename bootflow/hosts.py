"""Compute hosts as an operator sees them: up or down, enabled or disabled, what is in flight
on them, and their task queue; and draining one (``bootflow host ...``).

A host is its ``compute_nodes`` row (written by its worker when it starts, as Nova's
resource tracker does) and its task queue ``compute-<host>``. Disabling a host keeps the
scheduler from choosing it (ComputeFilter) while its worker finishes what it has; a drained
host has no instance with a task on it and nothing waiting in its queue, so its worker can
stop. Like ``nova-manage``, this works on the database directly, from the control node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from bootflow import task_queues
from bootflow.config import Settings
from bootflow.temporal import connect, run_once
from db.base import utcnow
from db.models import ComputeNode, Instance
from db.session import SessionFactory

# A poller seen this recently is a worker that is polling now (a long poll lasts ~1 min).
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
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    instances: int  # not deleted, on this host
    in_flight: int  # of those, with a task (building, deleting, ...)
    heartbeat_at: datetime
    queue: QueueState | None = None  # None when Temporal could not be asked


def _counts(sessions: SessionFactory) -> dict[str, tuple[int, int]]:
    with sessions.begin() as session:
        rows = session.execute(
            select(
                Instance.host,
                func.count(),
                func.count(Instance.task_state),
            )
            .where(Instance.host.is_not(None), Instance.deleted.is_(False))
            .group_by(Instance.host)
        )
        return {str(host): (int(total), int(busy)) for host, total, busy in rows}


def host_states(settings: Settings, sessions: SessionFactory) -> list[HostState]:
    """Every host, from the database only (``queue`` is left unset)."""
    now = utcnow()
    counts = _counts(sessions)
    with sessions.begin() as session:
        nodes = list(session.scalars(select(ComputeNode).order_by(ComputeNode.host)))
        return [
            HostState(
                host=n.host,
                zone=n.availability_zone,
                up=(now - n.heartbeat_at).total_seconds() <= settings.service_down_seconds,
                disabled=n.disabled,
                disabled_reason=n.disabled_reason,
                vcpus=n.vcpus,
                vcpus_used=n.vcpus_used,
                memory_mb=n.memory_mb,
                memory_mb_used=n.memory_mb_used,
                instances=counts.get(n.host, (0, 0))[0],
                in_flight=counts.get(n.host, (0, 0))[1],
                heartbeat_at=n.heartbeat_at,
            )
            for n in nodes
        ]


def host_state(settings: Settings, sessions: SessionFactory, host: str) -> HostState:
    for state in host_states(settings, sessions):
        if state.host == host:
            return state
    raise LookupError(f"No compute host named {host!r} (its worker has never started)")


def set_disabled(
    sessions: SessionFactory, host: str, disabled: bool, reason: str | None = None
) -> None:
    """Take ``host`` out of scheduling (or put it back); what runs there is not touched."""
    with sessions.begin() as session:
        node = session.scalar(select(ComputeNode).where(ComputeNode.host == host))
        if node is None:
            raise LookupError(f"No compute host named {host!r} (its worker has never started)")
        node.disabled = disabled
        node.disabled_reason = reason if disabled else None


async def queue_states(settings: Settings, hosts: list[str]) -> dict[str, QueueState]:
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


def with_queues(settings: Settings, states: list[HostState]) -> list[HostState]:
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
    settings: Settings,
    sessions: SessionFactory,
    host: str,
    timeout: float,
    report: Callable[[HostState], None],
    interval: float = 2.0,
) -> HostState:
    """Disable ``host``, then wait until nothing is in flight on it and its queue is empty
    (twice in a row, ``interval`` apart); its last state. TimeoutError after ``timeout``."""
    set_disabled(sessions, host, True, "draining")
    deadline = time.monotonic() + timeout
    quiet = 0
    while True:
        (state,) = with_queues(settings, [host_state(settings, sessions, host)])
        report(state)
        quiet = quiet + 1 if drained(state) else 0
        if quiet >= 2:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{host} still has {state.in_flight} instance(s) in flight and "
                f"{state.queue.backlog if state.queue else '?'} task(s) queued "
                f"after {timeout:.0f}s; it stays disabled"
            )
        time.sleep(interval)
