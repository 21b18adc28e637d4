"""Instance states, with Nova's names and meanings (nova/compute/vm_states.py, task_states.py).

``vm_state`` is where the instance is at rest; ``task_state`` is the transition in progress
(``None`` when nothing is). The API's ``status`` is derived from both, as Nova's is.
"""

from __future__ import annotations

from typing import Final


class VmState:
    BUILDING: Final = "building"
    ACTIVE: Final = "active"
    STOPPED: Final = "stopped"
    ERROR: Final = "error"
    DELETED: Final = "deleted"


class TaskState:
    SCHEDULING: Final = "scheduling"
    NETWORKING: Final = "networking"
    BLOCK_DEVICE_MAPPING: Final = "block_device_mapping"
    SPAWNING: Final = "spawning"
    DELETING: Final = "deleting"
    POWERING_OFF: Final = "powering-off"
    POWERING_ON: Final = "powering-on"
    REBOOTING: Final = "rebooting"
    REBOOTING_HARD: Final = "rebooting_hard"
    REBUILDING: Final = "rebuilding"
    REBUILD_SPAWNING: Final = "rebuild_spawning"


class PowerState:
    """libvirt's domain states folded into Nova's power_state codes."""

    NOSTATE: Final = 0
    RUNNING: Final = 1
    PAUSED: Final = 3
    SHUTDOWN: Final = 4
    CRASHED: Final = 6
    SUSPENDED: Final = 7


# Each boot stage and the task_state the record has while it runs (the order Nova's compute
# manager walks them): the boot workflow, the one writer of a building record's task_state,
# sets the record's (set_task_state) and its progress from this table. The stages before the
# record exists (authenticate, validate) keep the state the boot was started with: the
# compute API starts it "scheduling", as Nova's API creates the instance.
STAGE_TASK_STATE: Final[dict[str, str | None]] = {
    "create record": TaskState.SCHEDULING,
    "schedule": TaskState.SCHEDULING,
    "allocate port": TaskState.NETWORKING,
    "create volume": TaskState.BLOCK_DEVICE_MAPPING,
    "attach volume": TaskState.BLOCK_DEVICE_MAPPING,
    "fetch image": TaskState.SPAWNING,
    "spawn": TaskState.SPAWNING,
    "finish": TaskState.SPAWNING,
}


# A rebuild's task states: the guest is destroyed and spawned again on its host.
REBUILD_TASK_STATES: Final = frozenset({TaskState.REBUILDING, TaskState.REBUILD_SPAWNING})

# Task states that change the status word (Nova's _STATE_MAP); any other keeps the
# vm_state's.
_REBUILD_STATUS: Final = {TaskState.REBUILDING: "REBUILD", TaskState.REBUILD_SPAWNING: "REBUILD"}
_TASK_STATUS: Final[dict[str, dict[str, str]]] = {
    VmState.ACTIVE: {
        TaskState.REBOOTING: "REBOOT",
        TaskState.REBOOTING_HARD: "HARD_REBOOT",
        **_REBUILD_STATUS,
    },
    VmState.STOPPED: _REBUILD_STATUS,
    VmState.ERROR: _REBUILD_STATUS,
}


# The status of a vm_state whatever its task state, unless _TASK_STATUS says otherwise.
_VM_STATUS: Final = {
    VmState.BUILDING: "BUILD",
    VmState.ACTIVE: "ACTIVE",
    VmState.STOPPED: "SHUTOFF",
    VmState.ERROR: "ERROR",
    VmState.DELETED: "DELETED",
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """The compute API's ``status`` for a vm_state/task_state pair, as Nova maps it."""
    by_task = _TASK_STATUS.get(vm_state, {})
    if task_state in by_task:
        return by_task[task_state]
    return _VM_STATUS.get(vm_state, "UNKNOWN")


def states_of_statuses(statuses: set[str]) -> tuple[set[str], set[str] | None]:
    """The vm_states and task_states that the (upper-case) ``statuses`` name, as Nova's
    task_and_vm_state_from_status; the task_states are None when any goes (a vm_state's
    own status was asked for: Nova then filters on the vm_state only)."""
    vm_states = {vm for vm, word in _VM_STATUS.items() if word in statuses}
    task_states: set[str] = set()
    for vm_state, by_task in _TASK_STATUS.items():
        for task_state, word in by_task.items():
            if word in statuses:
                vm_states.add(vm_state)
                task_states.add(task_state)
    own = any(word in statuses for word in _VM_STATUS.values())
    return vm_states, None if own else task_states
