"""StopServer, StartServer, RebootServer: Nova's server actions that run on the guest's
host, one workflow each (``stop-<uuid>``, ``start-<uuid>``, ``reboot-<uuid>``).

Each one: authenticate; begin (Nova's checks, the task_state and the instance action, one
control step: the ``accepted`` update answers the caller then, as Nova's API answers 202
or 409); the guest's part on its host's queue; end (vm_state and power_state, no task).
A failure on the host leaves the server as Nova does (the task_state cleared, a fault
recorded; a failed reboot in error), never mid-task. A delete that begins meanwhile wins:
the end step then writes nothing (the delete owns the record), and the delete's
destroy_guest removes the guest whatever the action did to it.

No ``from __future__ import annotations``: see workflows/boot_instance.py.
"""

from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core.errors import UNDO_RETRY, ErrorType
    from core.messages import (
        Accepted,
        ActionResult,
        ActionTarget,
        AuthenticateInput,
        BeginActionInput,
        EndActionInput,
        Fault,
        GuestPower,
        GuestPowerInput,
        ServerActionRequest,
    )
    from core.server_actions import RULES, ActionRule
    from core.states import VmState
    from workflows.calls import Acceptance, error_type, fault_of, run


class _ServerAction:
    """One action's run; a subclass names its workflow type and its step on the host."""

    on_host: ClassVar[act.ActivityDef[GuestPowerInput, GuestPower]]

    def __init__(self) -> None:
        self._acceptance = Acceptance()

    @workflow.update
    async def accepted(self) -> Accepted:
        """Returns once the action has begun (its task_state set), or raises why not."""
        return await self._acceptance.wait()

    async def _run(self, request: ServerActionRequest) -> ActionResult:
        rule = RULES[request.rule]
        try:
            context = await run(act.AUTHENTICATE, AuthenticateInput(request.auth_token))
            begin = BeginActionInput(
                request.instance_uuid, request.rule, context, request.request_id
            )
            target = await run(act.BEGIN_SERVER_ACTION, begin, summary=f"begin {rule.name}")
        except ActivityError as err:
            await self._acceptance.reject(err, ErrorType.ACTION_FAILED)
        self._acceptance.accept(request.instance_uuid)
        workflow.set_current_details(f"{rule.name} {target.name} on {target.host}")
        guest = GuestPowerInput(request.instance_uuid, hard=rule.hard)
        try:
            power = await run(
                self.on_host, guest, host=target.host, summary=f"{rule.name} on {target.host}"
            )
        except ActivityError as err:
            fault = fault_of(err, rule.name)
            await self._end(rule, target, _vm_state_after_failure(rule, target), None, fault)
            raise ApplicationError(
                fault.message, type=error_type(err) or ErrorType.ACTION_FAILED, non_retryable=True
            ) from err
        recorded = await self._end(rule, target, rule.final_vm_state, power.power_state, None)
        return ActionResult(request.instance_uuid, rule.final_vm_state, recorded)

    async def _end(
        self,
        rule: ActionRule,
        target: ActionTarget,
        vm_state: str,
        power_state: int | None,
        fault: Fault | None,
    ) -> bool:
        # Retried as an undo is: the server must not be left mid-task for want of a try.
        end = EndActionInput(target.instance_uuid, rule.task_state, vm_state, power_state, fault)
        return await run(act.END_SERVER_ACTION, end, retry=UNDO_RETRY, summary=f"end {rule.name}")


def _vm_state_after_failure(rule: ActionRule, target: ActionTarget) -> str:
    """As Nova: a failed stop or start keeps its vm_state (reverts_task_state); a failed
    reboot leaves the server in error."""
    return VmState.ERROR if rule.name == "reboot" else target.vm_state


@workflow.defn(name="StopServer")
class StopServer(_ServerAction):
    on_host = act.POWER_OFF_GUEST

    @workflow.run
    async def run(self, request: ServerActionRequest) -> ActionResult:
        return await self._run(request)


@workflow.defn(name="StartServer")
class StartServer(_ServerAction):
    on_host = act.POWER_ON_GUEST

    @workflow.run
    async def run(self, request: ServerActionRequest) -> ActionResult:
        return await self._run(request)


@workflow.defn(name="RebootServer")
class RebootServer(_ServerAction):
    on_host = act.REBOOT_GUEST

    @workflow.run
    async def run(self, request: ServerActionRequest) -> ActionResult:
        return await self._run(request)


# The workflow of each action (core.server_actions.RULES' names).
WORKFLOWS: dict[str, type[StopServer] | type[StartServer] | type[RebootServer]] = {
    "stop": StopServer,
    "start": StartServer,
    "reboot": RebootServer,
}
