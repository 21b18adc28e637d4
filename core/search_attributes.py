"""The custom search attributes a boot carries, for filtering in the Web UI and
``temporal workflow list --query 'VmState="error"'``.

Values are indexed by the server, so they are not encrypted: only names, ids and states go
here, never anything secret. Imported by workflows: no I/O.
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

INSTANCE_UUID: Final = SearchAttributeKey.for_keyword("InstanceUUID")
INSTANCE_NAME: Final = SearchAttributeKey.for_keyword("InstanceName")
PROJECT_ID: Final = SearchAttributeKey.for_keyword("ProjectId")
COMPUTE_HOST: Final = SearchAttributeKey.for_keyword("ComputeHost")
VM_STATE: Final = SearchAttributeKey.for_keyword("VmState")
TASK_STATE: Final = SearchAttributeKey.for_keyword("TaskState")

ALL: Final = (INSTANCE_UUID, INSTANCE_NAME, PROJECT_ID, COMPUTE_HOST, VM_STATE, TASK_STATE)

# What a state with no value is indexed as (a keyword can't be null once set).
NONE: Final = "none"
