"""A hypervisor's uptime, as Nova's libvirt driver gives it (``os-hypervisors``): from the
boot time the host's worker reports."""

from __future__ import annotations

from datetime import UTC, datetime

from db.models.compute import ComputeNode
from services.compute.context import ApiContext
from services.compute.views import service_is_up


def format_uptime(booted_at: datetime, now: datetime) -> str:
    """The first part of the host's ``uptime`` line (the time, and how long it has been up),
    which is what Nova's libvirt driver returns; bootflow's hosts report no load average."""
    minutes = int((now - booted_at).total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    since = f"{days} day{'s' if days != 1 else ''}, " if days else ""
    return f" {now:%H:%M:%S} up {since}{minutes // 60:2d}:{minutes % 60:02d}"


def host_uptime(ctx: ApiContext, node: ComputeNode) -> str | None:
    """The host's uptime; None while its service is down or it reported no boot time."""
    if node.booted_at is None or not service_is_up(node, ctx.service_down_seconds):
        return None
    return format_uptime(node.booted_at, datetime.now(UTC))
