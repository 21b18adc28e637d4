"""The Temporal client every bootflow process uses: one address, namespace, TLS and codec."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from core import search_attributes
from core.codec import EncryptionCodec
from core.config import CodecOptions, TemporalOptions

T = TypeVar("T")


def data_converter(settings: CodecOptions) -> DataConverter:
    key = settings.codec_key.get_secret_value()
    if not key:
        raise RuntimeError(
            "no payload encryption key: run `bootflow up` once, or set BOOTFLOW_CODEC_KEY"
        )
    keys = {kid: old.get_secret_value() for kid, old in settings.codec_old_keys.items()}
    codec = EncryptionCodec(keys | {settings.codec_key_id: key}, settings.codec_key_id)
    return dataclasses.replace(DataConverter.default, payload_codec=codec)


def _pem(path: str, data: str, what: str, variable: str) -> bytes | None:
    if path and data:
        raise RuntimeError(f"{what}: set {variable}_PATH or {variable}_DATA, not both")
    if path:
        try:
            return Path(path).expanduser().read_bytes()
        except OSError as exc:
            raise RuntimeError(f"{what} {path} ({variable}_PATH): {exc.strerror}") from exc
    return data.encode() if data else None


def tls_config(settings: TemporalOptions) -> TLSConfig | bool:
    """TLS to the cluster, as the Temporal CLI reads its TEMPORAL_TLS_* variables: on when
    TEMPORAL_TLS is true or any certificate, key, server name or API key is given (with only
    TEMPORAL_TLS, the system's roots verify the server); off when TEMPORAL_TLS is false."""
    s = settings
    if s.temporal_tls is False:
        return False
    ca = _pem(
        s.temporal_tls_server_ca_cert_path,
        s.temporal_tls_server_ca_cert_data,
        "the server CA certificate",
        "TEMPORAL_TLS_SERVER_CA_CERT",
    )
    cert = _pem(
        s.temporal_tls_client_cert_path,
        s.temporal_tls_client_cert_data,
        "the client certificate",
        "TEMPORAL_TLS_CLIENT_CERT",
    )
    key = _pem(
        s.temporal_tls_client_key_path,
        s.temporal_tls_client_key_data.get_secret_value(),
        "the client key",
        "TEMPORAL_TLS_CLIENT_KEY",
    )
    if s.temporal_tls_disable_host_verification:
        raise RuntimeError(
            "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: the Python SDK always "
            "verifies the server; set TEMPORAL_TLS_SERVER_NAME to the name in its certificate"
        )
    if (cert is None) != (key is None):
        raise RuntimeError(
            "mTLS needs both the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH or _DATA) "
            "and its key (TEMPORAL_TLS_CLIENT_KEY_PATH or _DATA)"
        )
    name = s.temporal_tls_server_name or None
    if ca is None and cert is None and name is None:
        return bool(s.temporal_tls or s.temporal_api_key.get_secret_value())
    return TLSConfig(server_root_ca_cert=ca, domain=name, client_cert=cert, client_private_key=key)


class TemporalUnreachable(RuntimeError):
    """The Temporal frontend could not be connected to: down, restarting, or not there."""


async def connect(settings: TemporalOptions) -> Client:
    """A client of the configured cluster; TemporalUnreachable if it does not answer.

    A client once connected needs no care after that: its calls fail while the server is
    down, and it connects again by itself on the first call after the server is back."""
    return await _connect(settings, data_converter(settings))


async def _connect(settings: TemporalOptions, converter: DataConverter) -> Client:
    tls = tls_config(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=converter,
            tls=tls,
            api_key=settings.temporal_api_key.get_secret_value() or None,
        )
    except RuntimeError as exc:  # the SDK's "Failed client connect: ..."
        raise TemporalUnreachable(
            f"Temporal at {settings.temporal_address} could not be reached: {exc}"
        ) from exc


def run_once(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)`` for a short-lived process (a CLI command) that uses a client.

    A client still referenced, through a cycle, when the interpreter exits is dropped during
    finalization, and the SDK's core then aborts the process about one run in six
    ("PyGILState_Release ... finalizing", exit -6). Collecting here drops it first."""
    try:
        return asyncio.run(work)
    finally:
        gc.collect()


async def temporal_answers(settings: TemporalOptions) -> bool:
    """Whether the Temporal frontend answers (connecting makes a call to it). No payload
    passes, so this needs no codec key."""
    await _connect(settings, DataConverter.default)
    return True


async def has_pollers(settings: TemporalOptions, queue: str, since: float = 0.0) -> bool:
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


async def ensure_search_attributes(settings: TemporalOptions) -> list[str]:
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
