"""The history check the secrets tests rely on (tests/support/history.py) can fail: it finds
every payload, and a payload left unencrypted or a secret anywhere in an event is reported.
Run on the recorded histories, whose payloads the test-only keys can open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from core.codec import EncryptionCodec
from tests.support.history import assert_sealed, input_token, leaks, load, payloads

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(p for p in HISTORIES.glob("*-*.json") if p.name != "codec-keys.json")
ACTIVE = HISTORIES / "baseline-boot-active.json"


def _codec() -> EncryptionCodec:
    keys = json.loads((HISTORIES / "codec-keys.json").read_text())
    return EncryptionCodec(keys, next(iter(keys)))


async def _opened(payload: Payload) -> Payload:
    return (await _codec().decode([payload]))[0]


async def _token(history: WorkflowHistory) -> str:
    return await input_token(history, _codec())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recorded_histories_are_sealed(path: Path) -> None:
    history = load(path)
    found = assert_sealed(history, [await _token(history)])
    assert any(p.encoding == "binary/encrypted" for p in found)


def test_every_kind_of_payload_is_found() -> None:
    paths = {p.path for p in payloads(ACTIVE)}
    for expected in (
        "workflow_execution_started_event_attributes.input.payloads[0]",
        "user_metadata.summary",
        "user_metadata.details",
        "activity_task_scheduled_event_attributes.input.payloads[0]",
        "activity_task_completed_event_attributes.result.payloads[0]",
        "workflow_execution_update_completed_event_attributes.outcome.success.payloads[0]",
        "workflow_execution_completed_event_attributes.result.payloads[0]",
        "workflow_execution_started_event_attributes.search_attributes.indexed_fields[VmState]",
    ):
        assert expected in paths


async def test_an_unencrypted_payload_and_its_secret_are_reported() -> None:
    history = load(ACTIVE)
    token = await _token(history)
    assert not leaks(history, [token])
    # The authenticate step's input, as it would be without the codec: the token in clear.
    authenticate = next(
        e
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "authenticate"
    )
    sealed = authenticate.activity_task_scheduled_event_attributes.input.payloads[0]
    sealed.CopyFrom(await _opened(sealed))
    found = leaks(history, [token])
    where = f"event {authenticate.event_id} activity_task_scheduled_event_attributes.input"
    assert f"{where}.payloads[0] (json/plain): not encrypted" in found
    assert f"{where}.payloads[0] (json/plain): holds secret #0" in found
    # The old check on the JSON text missed it: there the bytes are base64.
    assert token not in json.dumps(history.to_json_dict())
    # An activity's summary (user metadata) is checked as well.
    authenticate.user_metadata.summary.CopyFrom(Payload(metadata={"encoding": b"json/plain"}))
    summary = f"event {authenticate.event_id} user_metadata.summary (json/plain): not encrypted"
    assert summary in leaks(history, [token])


async def test_headers_memo_search_attributes_and_failures_are_checked() -> None:
    history = load(ACTIVE)
    token = await _token(history)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    start = history.events[0]
    attrs = start.workflow_execution_started_event_attributes
    attrs.header.fields["tracing"].CopyFrom(plain)
    attrs.memo.fields["note"].CopyFrom(plain)
    # An indexed value is plain by design, but only for the known attributes, never a secret.
    attrs.search_attributes.indexed_fields["Token"].CopyFrom(plain)
    attrs.search_attributes.indexed_fields["InstanceName"].data = json.dumps(token).encode()
    found = "\n".join(leaks(history, [token]))
    base = "event 1 workflow_execution_started_event_attributes"
    assert f"{base}.header.fields[tracing] (json/plain): not encrypted" in found
    assert f"{base}.memo.fields[note] (json/plain): not encrypted" in found
    assert f"{base}.search_attributes.indexed_fields[Token] (json/plain): not encrypted" in found
    assert f"{base}.search_attributes.indexed_fields[InstanceName] (json/plain): holds" in found
    assert "indexed_fields[VmState]" not in found

    # Outside any payload: a failure's message is a plain string field.
    history = load(ACTIVE)
    failed = history.events[-1]
    failed.workflow_execution_failed_event_attributes.failure.message = f"bad token {token}"
    assert leaks(history, [token]) == [f"event {failed.event_id}: holds secret #0"]
