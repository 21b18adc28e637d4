"""Server actions' rules, answered before any workflow starts: Nova's checks (lock, host,
vm_state, task_state) with its messages, the status words of the new states, lock and
unlock with Nova's policy, and the bodies' schemas. The actions' workflows run end to end
in tests/e2e/test_server_actions.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from core.errors import ErrorType
from core.server_actions import REBOOT_HARD, REBOOT_SOFT, START, STOP, ActionRule, refusal
from core.states import TaskState, VmState, api_status
from db.models.compute import Instance, InstanceAction
from tests.support.cloud import LoopbackCloud
from tests.test_compute_api import _api, _error, _instance, _seeded_cloud

UUID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    yield from _seeded_cloud(database_url, tmp_path)


def _why(
    rule: ActionRule,
    *,
    vm_state: str = VmState.ACTIVE,
    task_state: str | None = None,
    host: str | None = "node1",
    locked: bool = False,
    admin: bool = False,
) -> tuple[str, str] | None:
    found = refusal(
        rule, UUID, vm_state=vm_state, task_state=task_state, host=host, locked=locked,
        is_admin=admin,
    )  # fmt: skip
    return None if found is None else (found.error_type, found.message)


def test_each_action_begins_only_from_novas_states_with_novas_messages() -> None:
    assert _why(STOP) is None and _why(STOP, vm_state=VmState.ERROR) is None
    assert _why(START, vm_state=VmState.STOPPED) is None
    assert _why(REBOOT_HARD, vm_state=VmState.STOPPED) is None
    assert _why(STOP, vm_state=VmState.STOPPED) == (
        ErrorType.INSTANCE_INVALID_STATE,
        f"Cannot 'stop' instance {UUID} while it is in vm_state stopped",
    )
    assert _why(START) == (
        ErrorType.INSTANCE_INVALID_STATE,
        f"Cannot 'start' instance {UUID} while it is in vm_state active",
    )
    assert _why(REBOOT_SOFT, vm_state=VmState.STOPPED) == (
        ErrorType.INSTANCE_INVALID_STATE,
        f"Cannot 'reboot' instance {UUID} while it is in vm_state stopped",
    )
    # One action at a time: another's task_state refuses it.
    assert _why(REBOOT_HARD, task_state=TaskState.POWERING_OFF) == (
        ErrorType.INSTANCE_INVALID_STATE,
        f"Cannot 'reboot' instance {UUID} while it is in task_state powering-off",
    )
    assert _why(STOP, vm_state=VmState.BUILDING, host=None) == (
        ErrorType.INSTANCE_INVALID_STATE,
        f"Instance {UUID} is not ready",
    )
    # A lock refuses all but admins, before any other check.
    locked = (ErrorType.INSTANCE_IS_LOCKED, f"Instance {UUID} is locked")
    assert _why(START, locked=True) == locked
    assert _why(STOP, locked=True, admin=True) is None


def test_the_new_states_have_novas_status_words() -> None:
    assert api_status(VmState.STOPPED, None) == "SHUTOFF"
    assert api_status(VmState.STOPPED, TaskState.POWERING_ON) == "SHUTOFF"
    assert api_status(VmState.ACTIVE, TaskState.POWERING_OFF) == "ACTIVE"
    assert api_status(VmState.ACTIVE, TaskState.REBOOTING) == "REBOOT"
    assert api_status(VmState.ACTIVE, TaskState.REBOOTING_HARD) == "HARD_REBOOT"


def _act(
    cloud: LoopbackCloud,
    server_id: str,
    body: object,
    user: str = "demo",
    version: str | None = None,
) -> httpx.Response:
    return _api(cloud, "POST", f"servers/{server_id}/action", json=body, user=user, version=version)


def test_actions_refused_before_a_workflow_with_novas_409s(cloud: LoopbackCloud) -> None:
    stopped = _instance(cloud, "stopped", vm_state=VmState.STOPPED)
    message = _error(_act(cloud, stopped, {"os-stop": None}), 409, "conflictingRequest")
    assert message == f"Cannot 'stop' instance {stopped} while it is in vm_state stopped"
    busy = _instance(cloud, "busy")
    with cloud.sessions.begin() as s:
        s.execute(update(Instance).where(Instance.uuid == busy).values(task_state="rebooting"))
    message = _error(_act(cloud, busy, {"reboot": {"type": "HARD"}}), 409, "conflictingRequest")
    assert message == f"Cannot 'reboot' instance {busy} while it is in task_state rebooting"
    building = _instance(cloud, "building", vm_state=VmState.BUILDING, host=None)
    message = _error(_act(cloud, building, {"os-start": None}), 409, "conflictingRequest")
    assert message == f"Instance {building} is not ready"
    # Another project's server is not found; a body breaking its schema is a 400.
    theirs = _instance(cloud, "theirs", owner="alt")
    _error(_act(cloud, theirs, {"os-stop": None}), 404, "itemNotFound")
    message = _error(_act(cloud, stopped, {"reboot": {"type": "warm"}}), 400, "badRequest")
    assert "'warm' is not one of" in message
    message = _error(_act(cloud, stopped, {"reboot": {}}), 400, "badRequest")
    assert "'type' is a required property" in message


def test_novas_actions_look_the_server_up_first_unknown_ones_do_not(cloud: LoopbackCloud) -> None:
    # Regression: they were unknown actions (400) where Nova looks the server up first.
    theirs = _instance(cloud, "theirs", owner="alt")
    for body in ({"forceDelete": None}, {"restore": None}):
        for server_id in (UUID, theirs):
            _error(_act(cloud, server_id, body), 404, "itemNotFound")
    # An action Nova has and bootflow does not: the server first, then a 400 naming it.
    _error(_act(cloud, UUID, {"resize": {"flavorRef": "2"}}), 404, "itemNotFound")
    mine = _instance(cloud, "mine")
    message = _error(_act(cloud, mine, {"resize": {"flavorRef": "2"}}), 400, "badRequest")
    assert message.startswith("The action resize is not supported by bootflow's compute API")
    # An action Nova does not know is its router's 400, before any lookup.
    message = _error(_act(cloud, UUID, {"os-frobnicate": {}}), 400, "badRequest")
    assert message == "There is no such action: os-frobnicate"
    message = _error(_act(cloud, mine, {"restore": None}), 409, "conflictingRequest")
    assert message == f"Cannot 'restore' instance {mine} while it is in vm_state active"
    message = _error(_act(cloud, mine, {"os-frobnicate": {}}), 400, "badRequest")
    assert message == "There is no such action: os-frobnicate"


def _shown(cloud: LoopbackCloud, server_id: str, version: str) -> dict[str, Any]:
    response = _api(cloud, "GET", f"servers/{server_id}", version=version)
    assert response.status_code == 200, response.text
    server: dict[str, Any] = response.json()["server"]
    return server


def test_lock_and_unlock_with_novas_policy(cloud: LoopbackCloud) -> None:
    server_id = _instance(cloud, "mine")
    assert (
        _act(cloud, server_id, {"lock": {"locked_reason": "backup"}}, version="2.73").status_code
        == 202
    )
    shown = _shown(cloud, server_id, "2.73")
    assert (shown["locked"], shown["locked_reason"]) == (True, "backup")
    assert _shown(cloud, server_id, "2.9")["locked"] is True
    assert "locked_reason" not in _shown(cloud, server_id, "2.72")
    # Locked: the owner's actions and delete are refused; an admin's pass the lock check.
    locked = f"Instance {server_id} is locked"
    assert _error(_act(cloud, server_id, {"os-stop": None}), 409, "conflictingRequest") == locked
    deleted = _api(cloud, "DELETE", f"servers/{server_id}")
    assert _error(deleted, 409, "conflictingRequest") == locked
    listed = _api(cloud, "GET", "servers?locked=true", version="2.73").json()["servers"]
    assert [s["id"] for s in listed] == [server_id]

    assert _act(cloud, server_id, {"unlock": None}).status_code == 202
    shown = _shown(cloud, server_id, "2.73")
    assert (shown["locked"], shown["locked_reason"]) == (False, None)

    # An admin's lock is the admin's to lift (Nova's unlock_override policy).
    assert _act(cloud, server_id, {"lock": None}, user="admin").status_code == 202
    message = _error(_act(cloud, server_id, {"unlock": None}), 403, "forbidden")
    assert message == (
        "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."
    )
    assert _act(cloud, server_id, {"unlock": None}, user="admin").status_code == 202
    with cloud.sessions.begin() as s:
        instance = s.get(Instance, server_id)
        assert instance is not None and not instance.locked and instance.locked_by is None
        recorded = s.scalars(
            select(InstanceAction.action)
            .where(InstanceAction.instance_uuid == server_id)
            .order_by(InstanceAction.id)
        ).all()
    assert list(recorded) == ["lock", "unlock", "lock", "unlock"]


def test_lock_bodies_follow_the_microversion(cloud: LoopbackCloud) -> None:
    server_id = _instance(cloud, "mine")
    too_long = {"lock": {"locked_reason": "x" * 256}}
    assert "is too long" in _error(
        _act(cloud, server_id, too_long, version="2.73"), 400, "badRequest"
    )
    extra = {"lock": {"reason": "x"}}
    _error(_act(cloud, server_id, extra, version="2.73"), 400, "badRequest")
    # Before 2.73 the body is not read, and no reason is kept.
    assert _act(cloud, server_id, too_long, version="2.72").status_code == 202
    assert _shown(cloud, server_id, "2.73")["locked_reason"] is None
