"""Every activity the workflows call by name has exactly one implementation, registered on
the right worker, with the input and result types its definition promises."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from temporalio import activity

from bench import floor
from clients.service_account import service_session
from compute.driver import LibvirtDriver
from core import activity_defs
from core.config import Settings
from workers import compute, control
from workers.common import extra_modules, http_client
from workflows.boot_instance import BootInstance
from workflows.delete_instance import DeleteInstance

HOST_ACTIVITIES = {
    "allocate_port",
    "create_volume",
    "attach_volume",
    "fetch_image",
    "spawn",
    "destroy_guest",
    "list_domains",
    "get_console_output",
    "power_off_guest",
    "power_on_guest",
    "reboot_guest",
}


def _registered(functions: list) -> dict[str, object]:  # type: ignore[type-arg]
    out = {}
    for fn in functions:
        definition = activity._Definition.from_callable(fn)
        assert definition is not None
        out[definition.name] = fn
    return out


def test_workers_register_every_definition_with_its_types(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    on_control = _registered(control.build_activities(settings, control.database(settings)))
    driver = LibvirtDriver("test:///default", "node1", tmp_path / "node1")
    service = service_session(settings, http_client(settings))
    cache = compute.image_cache(settings, ["node1"])
    on_host = _registered(compute.build_activities(settings, cache, driver, service))

    assert set(on_host) == HOST_ACTIVITIES
    # The workflows send a step to the queue its definition names: the worker that has it.
    assert {d.name for d in activity_defs.ALL if d.on_host} == HOST_ACTIVITIES
    assert set(on_control) | set(on_host) == {d.name for d in activity_defs.ALL}
    assert not set(on_control) & set(on_host)
    # A local step runs in the worker that runs the workflow: the control worker.
    assert {d.name for d in activity_defs.ALL if d.local} <= set(on_control)
    assert {BootInstance, DeleteInstance} <= set(control.WORKFLOWS)
    for definition in activity_defs.ALL:
        fn = on_control.get(definition.name) or on_host[definition.name]
        hints = typing.get_type_hints(fn)
        params = [v for k, v in hints.items() if k != "return"]
        assert params == [definition.input_type], definition.name
        assert hints["return"] is definition.result_type, definition.name


def test_extra_worker_modules_add_their_workflows_and_activities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/boot.py runs its floor on the boot's own workers this way; production code
    does not know the floor."""
    assert extra_modules(Settings(data_dir=tmp_path)) == ([], [])
    monkeypatch.setenv("BOOTFLOW_EXTRA_WORKER_MODULES", '["bench.floor"]')
    assert extra_modules(Settings(data_dir=tmp_path)) == ([floor.FloorBoot], [floor.noop])
