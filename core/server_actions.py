"""Nova's server actions that run on the guest's host (stop, start, reboot, rebuild): which states
each starts from, the task_state it runs in and the vm_state it ends in, and the checks
Nova's compute API makes before one begins (check_instance_lock, check_instance_host,
check_instance_state), with Nova's messages.

Pure rules: the compute API checks them before it starts an action's workflow (a quick
409), and the workflow's first control step checks them again where it sets the
task_state, atomically, so two actions racing for one server cannot both begin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from core.errors import ErrorType
from core.states import TaskState, VmState


@dataclass(frozen=True)
class ActionRule:
    """One action: ``name`` is Nova's (its instance action and its 409 messages)."""

    name: str
    vm_states: frozenset[str]
    task_state: str
    final_vm_state: str
    # Nova's stop: a clean shutdown first (hard: destroy at once).
    hard: bool = False


STOP: Final = ActionRule(
    "stop", frozenset({VmState.ACTIVE, VmState.ERROR}), TaskState.POWERING_OFF, VmState.STOPPED
)
START: Final = ActionRule(
    "start", frozenset({VmState.STOPPED}), TaskState.POWERING_ON, VmState.ACTIVE
)
# Nova's ALLOW_SOFT_REBOOT and ALLOW_HARD_REBOOT (bootflow has no paused or suspended).
REBOOT_SOFT: Final = ActionRule(
    "reboot", frozenset({VmState.ACTIVE}), TaskState.REBOOTING, VmState.ACTIVE
)
REBOOT_HARD: Final = ActionRule(
    "reboot",
    frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}),
    TaskState.REBOOTING_HARD,
    VmState.ACTIVE,
    hard=True,
)

# Nova's rebuild: from active, stopped or error; it ends active (a stopped server stopped
# again, as Nova's compute manager does; the workflow decides).
REBUILD: Final = ActionRule(
    "rebuild",
    frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}),
    TaskState.REBUILDING,
    VmState.ACTIVE,
)

RULES: Final = {
    "stop": STOP,
    "start": START,
    "reboot-soft": REBOOT_SOFT,
    "reboot-hard": REBOOT_HARD,
    "rebuild": REBUILD,
}


@dataclass(frozen=True)
class Refusal:
    """Why an action may not begin: its error type (409 both) and Nova's message."""

    error_type: str
    message: str


def refusal(
    rule: ActionRule,
    instance_uuid: str,
    *,
    vm_state: str,
    task_state: str | None,
    host: str | None,
    locked: bool,
    is_admin: bool,
) -> Refusal | None:
    """Why ``rule`` may not begin on the instance, in the order Nova's decorators check
    (lock, host, state); None when it may."""
    if locked and not is_admin:
        return Refusal(ErrorType.INSTANCE_IS_LOCKED, f"Instance {instance_uuid} is locked")
    if not host:
        return Refusal(ErrorType.INSTANCE_INVALID_STATE, f"Instance {instance_uuid} is not ready")
    if vm_state not in rule.vm_states:
        return _invalid(rule, instance_uuid, "vm_state", vm_state)
    if task_state is not None:
        return _invalid(rule, instance_uuid, "task_state", task_state)
    return None


class ServerState(Protocol):
    """What the checks read of a server (an instance row)."""

    @property
    def uuid(self) -> str: ...
    @property
    def vm_state(self) -> str: ...
    @property
    def task_state(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def locked(self) -> bool: ...


def refusal_of(rule: ActionRule, server: ServerState, is_admin: bool) -> Refusal | None:
    """``refusal`` for a server as its record has it."""
    return refusal(
        rule,
        server.uuid,
        vm_state=server.vm_state,
        task_state=server.task_state,
        host=server.host,
        locked=server.locked,
        is_admin=is_admin,
    )


def _invalid(rule: ActionRule, instance_uuid: str, attr: str, state: str) -> Refusal:
    return Refusal(
        ErrorType.INSTANCE_INVALID_STATE,
        f"Cannot '{rule.name}' instance {instance_uuid} while it is in {attr} {state}",
    )
