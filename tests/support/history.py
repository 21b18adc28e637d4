"""What a workflow history reveals: every payload in it, wherever it sits, and whether a
secret can be read from it.

A history's JSON holds payload bytes as base64, so searching its text for a token proves
nothing. Here the history is parsed into its protobuf messages (which decodes the base64)
and walked by type, so every ``Payload`` is found: workflow and activity inputs and
results, update outcomes, failures' details, memo, headers, user metadata (summaries),
markers and search attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

from core import search_attributes
from core.codec import ENCODING as ENCRYPTED

# Indexed by the server, so plain by design: the bootflow attributes, and the one the SDK
# sets for workflow.patched. Any other plain search attribute is reported.
PLAIN_SEARCH_ATTRIBUTES = frozenset(
    {key.name for key in search_attributes.ALL} | {"TemporalChangeVersion"}
)
_SEARCH_ATTRIBUTES = "search_attributes.indexed_fields["
# SDK core's own markers, whose data core writes and reads back itself, in plain JSON:
# workflow.patched's {"id": <patch id>, "deprecated": ...}, and a local activity's
# {"seq", "attempt", "activity_id", "activity_type", times} (its result is encrypted).
_CORE_MARKERS = {
    "core_patch": "marker_recorded_event_attributes.details[patch-data]",
    "core_local_activity": "marker_recorded_event_attributes.details[data]",
}


@dataclass(frozen=True)
class FoundPayload:
    event_id: int
    path: str  # e.g. "activity_task_scheduled_event_attributes.input.payloads[0]"
    payload: Payload

    @property
    def encoding(self) -> str:
        return self.payload.metadata.get("encoding", b"").decode(errors="replace")

    def __str__(self) -> str:
        return f"event {self.event_id} {self.path} ({self.encoding or 'no encoding'})"


def load(history: WorkflowHistory | Mapping[str, Any] | Path) -> WorkflowHistory:
    """A history as fetched, as its JSON (``to_json_dict()``), or an exported file."""
    if isinstance(history, WorkflowHistory):
        return history
    if isinstance(history, Path):
        return WorkflowHistory.from_json(history.stem, json.loads(history.read_text()))
    return WorkflowHistory.from_json("history", dict(history))


def payloads(history: WorkflowHistory | Mapping[str, Any] | Path) -> Iterator[FoundPayload]:
    """Every payload of every event, found by its protobuf type."""
    for event in load(history).events:
        yield from _walk(event, event.event_id, "")


def _walk(message: Message, event_id: int, path: str) -> Iterator[FoundPayload]:
    if isinstance(message, Payload):
        yield FoundPayload(event_id, path, message)
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        name = f"{path}.{field.name}" if path else field.name
        entry = field.message_type
        assert entry is not None
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    yield from _walk(item, event_id, f"{name}[{key}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _walk(item, event_id, f"{name}[{index}]")
        else:
            yield from _walk(value, event_id, name)


def _plain_by_design(found: FoundPayload, event: HistoryEvent) -> bool:
    if _SEARCH_ATTRIBUTES in found.path:
        key = found.path.rsplit("[", 1)[1].rstrip("]")
        return key in PLAIN_SEARCH_ATTRIBUTES
    plain = _CORE_MARKERS.get(event.marker_recorded_event_attributes.marker_name)
    return plain is not None and found.path.startswith(plain)


def leaks(history: WorkflowHistory | Mapping[str, Any] | Path, secrets: Iterable[str]) -> list[str]:
    """What a history gives away: each payload that is not encrypted (search attributes and
    SDK core's markers' data excepted, as they must stay plain), and each place where a
    secret's bytes can be read, in a payload's decoded bytes or anywhere in an event."""
    found = load(history)
    needles = [s.encode() for s in secrets if s]
    if not needles:
        raise ValueError("no secrets to look for")
    problems = []
    events = {event.event_id: event for event in found.events}
    for item in payloads(found):
        if item.encoding.encode() != ENCRYPTED and not _plain_by_design(
            item, events[item.event_id]
        ):
            problems.append(f"{item}: not encrypted")
        raw = [item.payload.data, *item.payload.metadata.values()]
        problems += [
            f"{item}: holds secret #{n}"
            for n, needle in enumerate(needles)
            if any(needle in part for part in raw)
        ]
    for event in found.events:
        serialized = event.SerializeToString()
        problems += [
            f"event {event.event_id}: holds secret #{n}"
            for n, needle in enumerate(needles)
            if needle in serialized
        ]
    return problems


def assert_sealed(
    history: WorkflowHistory | Mapping[str, Any] | Path, secrets: Iterable[str]
) -> list[FoundPayload]:
    """Fails naming each leak; else the history's payloads (for further checks)."""
    problems = leaks(history, secrets)
    assert not problems, "history reveals:\n" + "\n".join(problems)
    return list(payloads(history))


async def input_token(
    history: WorkflowHistory | Mapping[str, Any] | Path, codec: PayloadCodec
) -> str:
    """The user's token the workflow's input carries (sealed): the secret to look for."""
    start = load(history).events[0].workflow_execution_started_event_attributes
    opened = await codec.decode([start.input.payloads[0]])
    token = json.loads(opened[0].data)["auth_token"]
    assert isinstance(token, str) and len(token) > 32, "no token in the workflow input"
    return token
