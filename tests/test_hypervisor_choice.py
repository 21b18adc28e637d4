"""Which hypervisor `bootflow up` runs its hosts on, and the stack id a data dir keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootflow import seed, stack
from bootflow.stack import QEMU_URI, TEST_URI, StackError, choose_hypervisor
from core.config import load_settings


@pytest.fixture
def libvirtd_up(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether qemu:///system answers, as the test says."""
    state = [True]

    def unreachable(uri: str) -> str | None:
        return None if uri.startswith("test:") or state[0] else "Failed to connect socket"

    monkeypatch.setattr(stack, "libvirt_unreachable", unreachable)
    monkeypatch.delenv("BOOTFLOW_LIBVIRT_URI", raising=False)
    return state


def test_a_new_data_dir_gets_real_guests_when_libvirtd_answers(
    tmp_path: Path, libvirtd_up: list[bool]
) -> None:
    assert choose_hypervisor(load_settings(tmp_path)).libvirt_uri == QEMU_URI
    libvirtd_up[0] = False
    assert choose_hypervisor(load_settings(tmp_path)).libvirt_uri == TEST_URI


def test_the_first_choice_is_kept_and_flags_override_it(
    tmp_path: Path, libvirtd_up: list[bool]
) -> None:
    libvirtd_up[0] = False
    seed.ensure_files(choose_hypervisor(load_settings(tmp_path)))  # what `up` pins
    libvirtd_up[0] = True
    assert choose_hypervisor(load_settings(tmp_path)).libvirt_uri == TEST_URI
    assert choose_hypervisor(load_settings(tmp_path), "qemu").libvirt_uri == QEMU_URI
    given = choose_hypervisor(load_settings(tmp_path), "qemu", libvirt_uri="test:///other")
    assert given.libvirt_uri == "test:///other"


def test_asking_for_qemu_without_libvirtd_says_how_to_start_it(
    tmp_path: Path, libvirtd_up: list[bool]
) -> None:
    libvirtd_up[0] = False
    with pytest.raises(StackError, match=r"scripts/start-libvirtd\.sh"):
        choose_hypervisor(load_settings(tmp_path), "qemu")


def test_each_data_dir_has_its_own_stable_deployment_id(tmp_path: Path) -> None:
    first = seed.ensure_files(load_settings(tmp_path / "a"))
    again = seed.ensure_files(load_settings(tmp_path / "a"))
    other = seed.ensure_files(load_settings(tmp_path / "b"))
    assert first.deployment_id and first.deployment_id == again.deployment_id
    assert other.deployment_id != first.deployment_id
    pinned = json.loads((tmp_path / "a" / "bootflow.json").read_text())
    assert pinned["deployment_id"] == first.deployment_id
