"""Step 4: choose a host with filters and weighers and claim its resources (seed 9-11);
on a host failure, claim an alternate instead (Nova's reschedule)."""

from __future__ import annotations

import random

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio import activity

from core import activity_defs as act
from core.config import SchedulerOptions
from core.errors import ErrorType, request_error
from core.messages import (
    ClaimAlternateInput,
    FlavorSpec,
    InstanceRef,
    Placement,
    RescheduleInput,
    ScheduleInput,
)
from db import actions
from db.base import utcnow
from db.instances import write_task_state
from db.models.compute import Claim, ComputeNode, Instance
from db.session import SessionFactory
from scheduler import claims
from scheduler.filters import check_filter_names, up_and_enabled
from scheduler.host_state import RequestSpec
from scheduler.manager import resolve_hints, select_hosts


def request_spec(
    instance_uuid: str,
    flavor: FlavorSpec,
    availability_zone: str | None = None,
    image_properties: dict[str, str] | None = None,
) -> RequestSpec:
    return RequestSpec(
        instance_uuid=instance_uuid,
        vcpus=flavor.vcpus,
        memory_mb=flavor.memory_mb,
        root_gb=flavor.root_gb,
        availability_zone=availability_zone,
        image_properties=image_properties or {},
    )


class SchedulerActivities:
    def __init__(self, sessions: SessionFactory, settings: SchedulerOptions) -> None:
        self.sessions = sessions
        # A misspelt filter stops the control worker at start, not every boot.
        check_filter_names(settings.scheduler_filters)
        self.options = settings
        self.rng = random.Random()  # noqa: S311 (spreading load, not secrets)

    @activity.defn(name=act.SCHEDULE_AND_CLAIM.name)
    def schedule_and_claim(self, request: ScheduleInput) -> Placement:
        """Filter, weigh, claim on the best host that still fits; the next best are the
        alternates. Key: the instance uuid (a retry finds the claim the first try made)."""
        with self.sessions.begin() as session:
            spec = resolve_hints(
                session,
                request_spec(
                    request.instance_uuid,
                    request.flavor,
                    availability_zone=request.availability_zone,
                    image_properties=request.image_properties,
                ),
                request.scheduler_hints,
                request.project_id,
            )
            held = session.scalar(
                select(Claim.host).where(Claim.instance_uuid == request.instance_uuid)
            )
            selection = select_hosts(
                session,
                spec,
                self.options,
                utcnow(),
                self.rng,
                exclude=frozenset([held]) if held else frozenset(),
            )
            if held is not None:
                self._claimed(session, request)
                return Placement(
                    held,
                    selection.candidates + 1,
                    selection.hosts[: self.options.scheduler_max_attempts - 1],
                )
        for index, host in enumerate(selection.hosts):
            # One transaction per attempt: a host that filled up meanwhile fails its
            # conditional UPDATE, and the next-best host is tried.
            with self.sessions.begin() as session:
                if claims.claim(session, spec, host):
                    self._claimed(session, request)
                    alternates = selection.hosts[index + 1 :]
                    activity.logger.info(
                        "claimed %s for %s (%d candidates, alternates %s)",
                        host,
                        request.instance_uuid,
                        selection.candidates,
                        alternates,
                    )
                    return Placement(host, selection.candidates, alternates)
        if selection.report is not None:
            raise request_error(ErrorType.NO_VALID_HOST, selection.report.explain())
        tried = selection.hosts
        raise request_error(
            ErrorType.NO_VALID_HOST,
            f"No valid host was found. {selection.candidates} hosts passed the filters; "
            f"the {len(tried)} tried ({', '.join(tried)}) could not be claimed: the request "
            "does not fit there now (a claim checks vCPUs, RAM and disk whichever filters "
            "are enabled), or its server group's policy forbids it.",
        )

    @staticmethod
    def _claimed(session: Session, request: ScheduleInput) -> None:
        """The record leaves scheduling with its claim, when the workflow asks so: the
        stage after it then begins without a write of its own."""
        if request.task_state is not None:
            write_task_state(session.connection(), request.instance_uuid, request.task_state)

    @activity.defn(name=act.CLAIM_ALTERNATE.name)
    def claim_alternate(self, request: ClaimAlternateInput) -> bool:
        """Claim on one alternate host; False if it no longer fits, or is now disabled or
        down (ComputeFilter's rule, checked in the claim's UPDATE), so the workflow moves on
        to the next alternate instead of waiting out a dead host's pickup timeout. Key: the
        instance uuid (a claim it already holds there counts as done)."""
        with self.sessions.begin() as session:
            instance = session.get(Instance, request.instance_uuid)
            spec = resolve_hints(
                session,
                request_spec(request.instance_uuid, request.flavor),
                request.scheduler_hints,
                instance.project_id if instance else "",
            )
            alive = up_and_enabled(utcnow(), self.options.service_down)
            claimed = claims.claim(session, spec, request.host, only_if=alive)
        if not claimed:
            activity.logger.info(
                "alternate %s for %s is disabled, down or full; skipped",
                request.host,
                request.instance_uuid,
            )
        return claimed

    @activity.defn(name=act.RECORD_RESCHEDULE.name)
    def record_reschedule(self, request: RescheduleInput) -> bool:
        """The build failed on a host: count it against the host (the build-failure weigher
        pushes it down), note a reschedule action, set the instance back to scheduling.
        Key: instance and host (a retry finds the action it wrote and counts once)."""
        with self.sessions.begin() as session:
            instance = session.get(Instance, request.instance_uuid)
            if instance is None:
                return False
            workflow_id = activity.info().workflow_id or ""
            before = len(actions.list_actions(session, instance.uuid, "reschedule"))
            action = actions.start_action(
                session,
                instance_uuid=instance.uuid,
                action="reschedule",
                request_id=f"{request.request_id or instance.request_id}-{request.from_host}",
                user_id=instance.user_id,
                project_id=instance.project_id,
                workflow_id=f"{workflow_id}#{request.from_host}",
            )
            action.message = f"from {request.from_host}: {request.reason}"[:1000]
            action.finish_time = utcnow()
            if len(actions.list_actions(session, instance.uuid, "reschedule")) > before:
                session.execute(
                    update(ComputeNode)
                    .where(ComputeNode.host == request.from_host)
                    .values(failed_builds=ComputeNode.failed_builds + 1)
                )
            return True

    @activity.defn(name=act.RELEASE_CLAIM.name)
    def release_claim(self, request: InstanceRef) -> bool:
        """Give the claimed resources back. Key: the instance uuid (a second call finds no
        claim and changes nothing)."""
        with self.sessions.begin() as session:
            return claims.release(session, request.instance_uuid)
