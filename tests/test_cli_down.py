"""``bootflow down`` and the real guests it leaves: said (how many, which), and stopped on
``--destroy-guests`` or when the user says so at the prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bootflow import guests
from bootflow import stack as stacks
from bootflow.cli import stack as stack_cli
from bootflow.cli.context import CliContext

LEFT = [
    guests.Guest("node1", "u-1", "instance-u-1", "web-1"),
    guests.Guest("node2", "u-2", "instance-u-2", ""),
]


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> list[list[guests.Guest]]:
    """A stack that stops at once and leaves LEFT running; each stop_guests call's guests."""
    calls: list[list[guests.Guest]] = []
    monkeypatch.setattr(stacks, "stop_running", lambda _settings: (4242, []))
    monkeypatch.setattr(guests, "running_guests", lambda _settings: list(LEFT))

    def stop(_settings: Any, which: list[guests.Guest]) -> list[guests.Guest]:
        calls.append(which)
        return which

    monkeypatch.setattr(guests, "stop_guests", stop)
    return calls


def _down(tmp_path: Path, *args: str, answer: str | None = None, tty: bool = False) -> str:
    runner = CliRunner()
    context = CliContext(tmp_path, False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack_cli, "_interactive", lambda: tty)
        done = runner.invoke(stack_cli.down, list(args), obj=context, input=answer)
    assert done.exit_code == 0, done.output
    return done.output


def test_down_says_which_guests_it_leaves_running(
    tmp_path: Path, stopped: list[list[guests.Guest]]
) -> None:
    out = _down(tmp_path)
    assert "stopped the stack (pid 4242)" in out
    assert "2 guests of this stack still running under test:///default" in out
    assert "web-1 (u-1), instance-u-2" in out
    assert "`bootflow down --destroy-guests` stops them" in out
    assert stopped == []


def test_destroy_guests_stops_them(tmp_path: Path, stopped: list[list[guests.Guest]]) -> None:
    out = _down(tmp_path, "--destroy-guests")
    assert stopped == [LEFT]
    assert "stopped 2 of 2 guests: web-1 (u-1), instance-u-2" in out
    assert "`bootflow up` starts them again" in out


@pytest.mark.parametrize(("answer", "stops"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_interactive_down_asks(
    tmp_path: Path, stopped: list[list[guests.Guest]], answer: str, stops: bool
) -> None:
    out = _down(tmp_path, answer=answer, tty=True)
    assert "Stop them? [y/N]" in out
    assert (stopped == [LEFT]) is stops


def test_no_guests_no_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks, "stop_running", lambda _settings: (None, []))
    out = _down(tmp_path)
    assert out.strip() == f"no stack is running on {tmp_path}"


def test_the_test_drivers_guests_are_not_listed(tmp_path: Path) -> None:
    """They live in the workers and end with them."""
    from core.config import load_settings

    settings = load_settings(tmp_path, libvirt_uri="test:///default", deployment_id="d-1")
    assert guests.running_guests(settings) == []
