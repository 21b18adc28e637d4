"""The control steps of a server action (stop, start, reboot): its begin (Nova's API
checks, the task_state and the instance action, in one transaction) and its end (the
vm_state and power_state the host step left, or the fault of its failure)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio import activity

from activities.instances import visible_instance
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import ActionTarget, BeginActionInput, EndActionInput
from core.server_actions import RULES, Refusal, refusal_of
from db import actions
from db.models.compute import Instance, InstanceAction, InstanceFault
from db.session import SessionFactory


class ServerActionActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=act.BEGIN_SERVER_ACTION.name)
    def begin_server_action(self, request: BeginActionInput) -> ActionTarget:
        """Refuse as Nova's API would (locked, no host, wrong vm_state or task_state), else
        set the action's task_state and start its instance action. The task_state is set
        by an UPDATE that holds only while no other task runs, so of two actions racing
        one begins. Key: the workflow (a retry that finds its own task_state and action
        begun carries on)."""
        rule = RULES[request.rule]
        workflow_id = activity.info().workflow_id or ""
        context = request.context
        with self.sessions.begin() as session:
            instance = visible_instance(session, request.instance_uuid, context)
            if not (instance.task_state == rule.task_state and begun(session, workflow_id)):
                take(session, instance, rule.name, request, workflow_id)
            assert instance.host is not None  # (refused above otherwise)
            return ActionTarget(
                instance.uuid, instance.host, instance.vm_state, instance.name, instance.project_id
            )

    @activity.defn(name=act.END_SERVER_ACTION.name)
    def end_server_action(self, request: EndActionInput) -> bool:
        """Leave the server in ``vm_state`` with no task, its power state and the fault of a
        failure; finish the instance action. Only while it is still in the action's
        task_state: False when a delete took it over (the delete owns the record now).
        Key: the instance and task_state (a retry finds its own outcome written)."""
        workflow_id = activity.info().workflow_id or ""
        values: dict[str, object] = {"vm_state": request.vm_state, "task_state": None}
        if request.power_state is not None:
            values["power_state"] = request.power_state
        with self.sessions.begin() as session:
            done = session.execute(
                update(Instance)
                .where(
                    Instance.uuid == request.instance_uuid,
                    Instance.task_state == request.task_state,
                    Instance.deleted.is_(False),
                )
                .values(**values)
            )
            fault = request.fault
            message = fault.message if fault else None
            if not done.rowcount:  # type: ignore[attr-defined]
                actions.finish_action(session, workflow_id, message or _TAKEN_OVER)
                return _already_ended(session, request)
            if fault is not None:
                session.add(
                    InstanceFault(
                        instance_uuid=request.instance_uuid,
                        code=fault.code,
                        message=fault.message,
                        details=fault.details,
                    )
                )
            actions.finish_action(session, workflow_id, message)
            return True


_TAKEN_OVER = "The server was deleted (or changed) while the action ran."


def take(
    session: Session, instance: Instance, action: str, request: BeginActionInput, workflow_id: str
) -> None:
    """Check Nova's rules and set the task_state, atomically; raise why not."""
    rule = RULES[request.rule]
    context = request.context
    why = refusal_of(rule, instance, context.is_admin)
    if why is None:
        taken = session.execute(
            update(Instance)
            .where(
                Instance.uuid == instance.uuid,
                Instance.task_state.is_(None),
                Instance.vm_state.in_(rule.vm_states),
                Instance.deleted.is_(False),
            )
            .values(task_state=rule.task_state)
            .execution_options(synchronize_session="fetch")
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            actions.start_action(
                session,
                instance_uuid=instance.uuid,
                action=action,
                request_id=request.request_id,
                user_id=context.user_id,
                project_id=context.project_id,
                workflow_id=workflow_id,
            )
            return
        # Another action or a delete began meanwhile: its state is the reason.
        session.refresh(instance)
        why = refusal_of(rule, instance, context.is_admin) or Refusal(
            ErrorType.INSTANCE_INVALID_STATE,
            f"Cannot '{rule.name}' instance {instance.uuid}: another task began meanwhile",
        )
    raise request_error(why.error_type, why.message)


def begun(session: Session, workflow_id: str) -> bool:
    return (
        session.scalar(
            select(InstanceAction.id).where(
                InstanceAction.workflow_id == workflow_id, InstanceAction.finish_time.is_(None)
            )
        )
        is not None
    )


def _already_ended(session: Session, request: EndActionInput) -> bool:
    """Whether an earlier try of this step wrote the outcome (no task, the vm_state)."""
    instance = session.get(Instance, request.instance_uuid)
    return (
        instance is not None
        and not instance.deleted
        and instance.task_state is None
        and instance.vm_state == request.vm_state
    )
