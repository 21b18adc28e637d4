"""Workflow ids: one boot and one delete per instance, found again by the instance's uuid.

The id is the key that makes a create or delete retried by its caller start no second
workflow (update-with-start on an id already running joins it), and that a delete, the
CLI and the reaper use to find a boot.
"""

from __future__ import annotations


def boot_workflow_id(instance_uuid: str) -> str:
    """The BootInstance workflow of ``instance_uuid``."""
    return f"boot-{instance_uuid}"


def delete_workflow_id(instance_uuid: str) -> str:
    """The DeleteInstance workflow of ``instance_uuid``."""
    return f"delete-{instance_uuid}"


def action_workflow_id(action: str, instance_uuid: str) -> str:
    """A server action's workflow (``stop-<uuid>``, ``start-<uuid>``, ``reboot-<uuid>``):
    one of each kind runs at a time, and the task_state check allows one action at all."""
    return f"{action}-{instance_uuid}"
