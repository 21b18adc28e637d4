"""Step 4: choose a host with filters and weighers, and claim its resources (seed 9-11)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from temporalio import activity

from bootflow import activity_defs as act
from bootflow.config import Settings
from bootflow.errors import ErrorType, request_error
from bootflow.messages import InstanceRef, Placement, ScheduleInput
from db.base import utcnow
from db.models import Claim, ComputeNode
from db.session import SessionFactory
from scheduler import claims
from scheduler.filters import (
    AvailabilityZoneFilter,
    ComputeFilter,
    CoreFilter,
    DiskFilter,
    HostFilter,
    RamFilter,
    run_filters,
)
from scheduler.host_state import HostState, RequestSpec
from scheduler.weighers import RAMWeigher, weigh


class SchedulerActivities:
    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def _filters(self) -> list[HostFilter]:
        return [
            ComputeFilter(utcnow(), timedelta(seconds=self.settings.service_down_seconds)),
            AvailabilityZoneFilter(),
            CoreFilter(),
            RamFilter(),
            DiskFilter(),
        ]

    @activity.defn(name=act.SCHEDULE_AND_CLAIM.name)
    def schedule_and_claim(self, request: ScheduleInput) -> Placement:
        """Filter, weigh, then claim on the best host that still fits. Key: the instance
        uuid (a retry finds the claim the first try made and returns that host)."""
        spec = RequestSpec(
            instance_uuid=request.instance_uuid,
            vcpus=request.flavor.vcpus,
            memory_mb=request.flavor.memory_mb,
            root_gb=request.flavor.root_gb,
            availability_zone=request.availability_zone,
        )
        with self.sessions.begin() as session:
            held = session.get(Claim, request.instance_uuid)
            if held is not None:
                return Placement(held.host, candidates=1)
            hosts = [HostState.from_node(n) for n in session.scalars(select(ComputeNode))]
        passed, report = run_filters(hosts, spec, self._filters())
        ranked = weigh(passed, [RAMWeigher()])
        for host in ranked:
            # One transaction per attempt: a host that filled up meanwhile just fails its
            # conditional UPDATE, and the next-best host is tried.
            with self.sessions.begin() as session:
                if claims.claim(session, spec, host.host):
                    activity.logger.info(
                        "claimed %s for %s (%d candidates)",
                        host.host,
                        request.instance_uuid,
                        len(ranked),
                    )
                    return Placement(host.host, candidates=len(ranked))
        if ranked:
            raise request_error(
                ErrorType.NO_VALID_HOST,
                f"No valid host was found. {len(ranked)} hosts passed the filters, but each "
                "filled up before the claim.",
            )
        raise request_error(ErrorType.NO_VALID_HOST, report.explain())

    @activity.defn(name=act.RELEASE_CLAIM.name)
    def release_claim(self, request: InstanceRef) -> bool:
        """Give the claimed resources back. Key: the instance uuid (a second call finds no
        claim and changes nothing)."""
        with self.sessions.begin() as session:
            return claims.release(session, request.instance_uuid) is not None
