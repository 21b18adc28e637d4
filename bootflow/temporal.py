"""The Temporal client every bootflow process uses: one address, namespace and codec."""

from __future__ import annotations

import dataclasses

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

from bootflow.codec import EncryptionCodec
from bootflow.config import Settings


def data_converter(settings: Settings) -> DataConverter:
    key = settings.codec_key.get_secret_value()
    if not key:
        raise RuntimeError(
            "no payload encryption key: run `bootflow up` once, or set BOOTFLOW_CODEC_KEY"
        )
    codec = EncryptionCodec({settings.codec_key_id: key}, settings.codec_key_id)
    return dataclasses.replace(DataConverter.default, payload_codec=codec)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


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
