"""Every recorded history replays against the current workflow code.

A change that makes the workflows non-deterministic for runs already in flight fails here.
``baseline-*`` histories are the one baseline (one of each kind, ``tests.histories.KINDS``);
a change made since under a ``workflow.patched`` id adds its own set (``<label>-*``), and the
next baseline retires them (docs/design.md, "Changing a workflow"). Record a set with
``python -m tests.histories.record <label>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from bootflow.cli.replay import replayer
from core.codec import EncryptionCodec
from tests.histories import KINDS

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(p for p in HISTORIES.glob("*-*.json") if p.name != "codec-keys.json")


def test_histories_of_each_kind_are_recorded() -> None:
    assert {p.stem.split("-", 1)[1] for p in FILES} == set(KINDS)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_history_is_what_its_name_says(path: Path) -> None:
    """A "rescheduled" boot that went straight to its host is no reschedule's coverage."""
    assert KINDS[path.stem.split("-", 1)[1]](_load(path)) is None


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
    path = HISTORIES / "baseline-boot-active.json"
    raw = json.loads(path.read_text())
    start = raw["events"][0]["workflowExecutionStartedEventAttributes"]
    start["workflowType"]["name"] = "DeleteInstance"
    history = WorkflowHistory.from_json("tampered", raw)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


def test_the_cli_names_the_event_where_a_history_diverged(tmp_path: Path) -> None:
    """``bootflow replay --file``: one line on stderr with the event id and core's message,
    none of core's WARN logging, exit 1."""
    raw = json.loads((HISTORIES / "baseline-boot-active.json").read_text())
    spawn = next(
        e
        for e in raw["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "spawn"
    )
    spawn["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "spawn_v0"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(raw))
    keys = json.loads((HISTORIES / "codec-keys.json").read_text())
    current = next(iter(keys))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BOOTFLOW_"))}
    env |= {
        "BOOTFLOW_DATA_DIR": str(tmp_path / "data"),
        "BOOTFLOW_CODEC_KEY": keys[current],
        "BOOTFLOW_CODEC_KEY_ID": current,
        "BOOTFLOW_CODEC_OLD_KEYS": json.dumps(keys),
    }
    bootflow = str(Path(sys.executable).parent / "bootflow")
    done = subprocess.run(
        [bootflow, "replay", "--file", str(tampered)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"Error: replay of tampered diverged at event {spawn['eventId']} (activity task "
        f"scheduled) of {len(raw['events'])}: [TMPRL1100] Nondeterminism error: Activity type "
        "of scheduled event 'spawn_v0' does not match activity type of activity command "
        "'spawn'\n"
    )
