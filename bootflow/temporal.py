"""The Temporal client every bootflow process uses: one address, namespace and codec."""

from __future__ import annotations

import dataclasses

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

from bootflow import search_attributes
from bootflow.codec import EncryptionCodec
from bootflow.config import Settings


def data_converter(settings: Settings) -> DataConverter:
    key = settings.codec_key.get_secret_value()
    if not key:
        raise RuntimeError(
            "no payload encryption key: run `bootflow up` once, or set BOOTFLOW_CODEC_KEY"
        )
    keys = {kid: old.get_secret_value() for kid, old in settings.codec_old_keys.items()}
    codec = EncryptionCodec(keys | {settings.codec_key_id: key}, settings.codec_key_id)
    return dataclasses.replace(DataConverter.default, payload_codec=codec)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


async def temporal_answers(settings: Settings) -> bool:
    """Whether the Temporal frontend answers (connecting makes a call to it)."""
    await connect(settings)
    return True


async def has_pollers(settings: Settings, queue: str, since: float = 0.0) -> bool:
    """Whether a worker has polled ``queue`` since the ``since`` unix time."""
    client = await connect(settings)
    for kind in (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=kind,
            )
        )
        if any(p.last_access_time.ToSeconds() >= int(since) for p in response.pollers):
            return True
    return False


async def ensure_search_attributes(settings: Settings) -> list[str]:
    """Register bootflow's search attributes on the namespace; the names it added.

    Idempotent, and done through the operator API rather than the dev server's
    ``--search-attribute`` flag, which a persisted dev server applies only when it creates
    its database (and which no real cluster has).
    """
    client = await connect(settings)
    namespace = settings.temporal_namespace
    have = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = [k.name for k in search_attributes.ALL if k.name not in have.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes=dict.fromkeys(
                    missing, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                ),
            )
        )
    return missing
