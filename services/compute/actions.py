"""Server actions: ``os-stop``, ``os-start`` and ``reboot`` start their workflow
(workflows/server_actions.py) and answer 202 once it has begun, or Nova's 409 when the
server is locked or in a state the action cannot start from; ``lock`` and ``unlock`` are
changes of the record, with Nova's policy (a lock by an admin is an admin's to undo)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Response
from sqlalchemy.orm import Session
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from core import task_queues
from core.messages import ServerActionRequest
from core.server_actions import RULES, ActionRule, refusal_of
from core.workflow_ids import action_workflow_id
from db import actions
from db.models.compute import Instance
from services.common.app import ApiError
from services.compute import microversions as mv
from services.compute.context import ApiContext
from services.compute.schemas.actions import LockV273, Reboot
from services.compute.schemas.base import validated
from services.compute.server_api import ServerApi, visible_instance
from services.compute.temporal_calls import instance_attributes
from workflows.server_actions import WORKFLOWS

# The actions this module carries out, by the body's key.
ACTIONS: Final = frozenset({"os-stop", "os-start", "reboot", "lock", "unlock"})
UNLOCK_OVERRIDE: Final = "os_compute_api:os-lock-server:unlock:unlock_override"


async def server_action(
    api: ServerApi, ctx: ApiContext, server_id: str, action: str, args: Any
) -> Response:
    """Carry out ``action``; Nova's 202 with no body."""
    if action in ("lock", "unlock"):
        await asyncio.to_thread(_set_lock, api, ctx, server_id, action, args)
        return Response(status_code=202)
    rule = _rule(action, args)
    instance = await asyncio.to_thread(check, api, ctx, server_id, rule)
    await _start(api, ctx, rule, instance)
    return Response(status_code=202)


def _rule(action: str, args: Any) -> ActionRule:
    if action == "os-stop":
        return RULES["stop"]
    if action == "os-start":
        return RULES["start"]
    kind = validated(Reboot, args).type.upper()
    return RULES["reboot-hard" if kind == "HARD" else "reboot-soft"]


def rule_key(rule: ActionRule) -> str:
    return next(key for key, value in RULES.items() if value == rule)


def check(api: ServerApi, ctx: ApiContext, server_id: str, rule: ActionRule) -> Instance:
    """The caller's server, if ``rule`` may begin on it now (the workflow's first step
    checks again, atomically); else Nova's 404 or 409."""
    with api.sessions.begin() as session:
        instance = visible_instance(session, server_id, ctx)
        why = refusal_of(rule, instance, ctx.is_admin)
        if why is not None:
            raise ApiError(409, why.message)
        session.expunge(instance)
        return instance


def refuse_if_locked(api: ServerApi, ctx: ApiContext, server_id: str) -> None:
    """Nova's check_instance_lock for a delete: a locked server is an admin's to delete."""
    with api.sessions.begin() as session:
        instance = visible_instance(session, server_id, ctx)
        if instance.locked and not ctx.is_admin:
            raise ApiError(409, f"Instance {server_id} is locked")


async def _start(api: ServerApi, ctx: ApiContext, rule: ActionRule, instance: Instance) -> None:
    """Start the action's workflow and wait until it has begun (or refused)."""
    workflow = WORKFLOWS[rule.name]
    request = ServerActionRequest(instance.uuid, rule_key(rule), ctx.caller.token, ctx.request_id)
    kind = " (hard)" if rule.hard else ""
    await start_action_workflow(
        api, ctx, rule, instance, ActionWorkflow(workflow.run, request, workflow.accepted, kind)
    )


@dataclass(frozen=True)
class ActionWorkflow:
    """What starts an action's workflow: its run method and input, its ``accepted``
    update, and a word for its summary (" (hard)")."""

    run: Any
    request: Any
    accepted: Any
    kind: str = ""


async def start_action_workflow(
    api: ServerApi, ctx: ApiContext, rule: ActionRule, instance: Instance, started: ActionWorkflow
) -> None:
    """Start an action's workflow (``<action>-<uuid>``) and wait until it has begun (or
    refused): Nova's 202 then, or its 4xx."""
    workflow_id = action_workflow_id(rule.name, instance.uuid)
    kind = started.kind
    operation = WithStartWorkflowOperation(
        started.run,
        started.request,
        id=workflow_id,
        # One of each kind at a time; the task_state allows one action at all.
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        task_queue=task_queues.CONTROL,
        search_attributes=instance_attributes(instance.uuid, instance.name, instance.project_id),
        static_summary=f"{rule.name}{kind} server {instance.name}",
        static_details=(
            f"{rule.name.capitalize()}{kind} server **{instance.name}** ({instance.uuid}) on "
            f"{instance.host}, for {ctx.caller.user_name}. Request {ctx.request_id}."
        ),
    )
    try:
        await api.workflows.accept(
            operation,
            started.accepted,
            workflow_id,
            withdraw=False,
            update_id=f"accept-{workflow_id}-{ctx.request_id}",
        )
    except WorkflowAlreadyStartedError as exc:
        raise ApiError(
            409,
            f"Cannot '{rule.name}' instance {instance.uuid} while it is in task_state "
            f"{rule.task_state}",
        ) from exc


def _set_lock(api: ServerApi, ctx: ApiContext, server_id: str, action: str, args: Any) -> None:
    """Lock (with its reason from 2.73) or unlock, as Nova: the lock says whether the owner
    or an admin set it, and only an admin may lift an admin's lock."""
    reason = None
    if action == "lock" and ctx.at_least(mv.LOCKED_REASON):
        reason = validated(LockV273, {} if args is None else args).locked_reason
    with api.sessions.begin() as session:
        instance = visible_instance(session, server_id, ctx)
        owner = instance.project_id == ctx.caller.project_id
        if action == "unlock":
            expected = "owner" if owner else "admin"
            if instance.locked_by not in (None, expected) and not ctx.is_admin:
                raise ApiError(403, f"Policy doesn't allow {UNLOCK_OVERRIDE} to be performed.")
            instance.locked, instance.locked_by, instance.locked_reason = False, None, None
        else:
            instance.locked = True
            instance.locked_by = "owner" if owner else "admin"
            instance.locked_reason = reason
        _record(session, ctx, instance, action)


def _record(session: Session, ctx: ApiContext, instance: Instance, action: str) -> None:
    """The lock's instance action, as Nova records one (begun and done at once)."""
    actions.start_action(
        session,
        instance_uuid=instance.uuid,
        action=action,
        request_id=ctx.request_id,
        user_id=ctx.caller.user_id,
        project_id=ctx.caller.project_id,
        workflow_id=f"api-{ctx.request_id}",
    )
    actions.finish_action(session, f"api-{ctx.request_id}")
