"""Every recorded history replays against the current workflow code.

A change that makes the workflows non-deterministic for runs already in flight fails here.
``v1-*`` histories come from before the search-attribute upserts (``workflow.patched``),
later ones from after: both must replay. Record new ones with ``python -m tests.histories.record``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from bootflow.cli.replay import replayer
from bootflow.codec import EncryptionCodec

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(HISTORIES.glob("v*-*.json"))


def test_histories_of_each_kind_are_recorded() -> None:
    kinds = {p.name.split("-", 1)[1] for p in FILES}
    assert {
        "boot-active.json",
        "boot-compensated.json",
        "boot-rescheduled.json",
        "delete.json",
    } <= kinds


def _replayer() -> Replayer:
    keys = json.loads((HISTORIES / "codec-keys.json").read_text())
    return replayer(EncryptionCodec(keys, next(iter(keys))))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


@pytest.mark.parametrize("history", [_load(p) for p in FILES], ids=[p.stem for p in FILES])
async def test_history_replays_deterministically(history: WorkflowHistory) -> None:
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_changed_workflow_is_caught() -> None:
    """Replaying a boot's history as if it were a delete's diverges: the check can fail."""
    path = HISTORIES / "v1-boot-active.json"
    raw = json.loads(path.read_text())
    start = raw["events"][0]["workflowExecutionStartedEventAttributes"]
    start["workflowType"]["name"] = "DeleteInstance"
    history = WorkflowHistory.from_json("tampered", raw)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
