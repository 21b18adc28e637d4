"""``bootflow``'s global behaviour: exit codes, one-line errors, ``--debug`` anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BOOTFLOW = str(Path(sys.executable).parent / "bootflow")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bootflow`` with an empty data dir and no credentials: commands fail for want of them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BOOTFLOW_"))}
    env["BOOTFLOW_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [BOOTFLOW, *args], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )


def test_a_failure_is_one_line_without_debug(tmp_path: Path) -> None:
    done = _run(tmp_path, "server", "list")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: no credentials: set OS_AUTH_URL")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--debug", "server", "list"),
        ("server", "list", "--debug"),
        ("server", "--debug", "list"),
        ("flavor", "list", "-f", "json", "--debug"),
        ("network", "list", "--debug"),
        ("volume", "list", "--debug"),
    ],
    ids=" ".join,
)
def test_debug_before_or_after_the_subcommand_shows_the_traceback(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _run(tmp_path, *args)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert "CliError: no credentials" in done.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = _run(tmp_path, "server", "list", "--no-such-option")
    assert done.returncode == 2 and "No such option '--no-such-option'" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("server", "create", "vm1", "--flavor", "1", "--image", "i", "--network", "n"),
        ("host", "drain", "node1"),
        ("init",),
    ],
    ids=" ".join,
)
def test_a_negative_number_of_seconds_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    option = "--wait" if args == ("init",) else "--timeout"
    done = _run(tmp_path, *args, option, "-1")
    assert done.returncode == 2, done.stderr
    assert "-1.0 is not in the range x>=0" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--data-dir", "{x}"),
        ("--data-dir", "{other}", "status", "--data-dir", "{x}"),
        ("--data-dir", "{x}", "status"),
        ("down", "--data-dir", "{x}"),
    ],
    ids=" ".join,
)
def test_data_dir_before_or_after_the_subcommand(tmp_path: Path, args: tuple[str, ...]) -> None:
    """``bootflow up --data-dir X`` as users type it; given twice, the later one wins."""
    x, other = tmp_path / "x", tmp_path / "other"
    done = _run(tmp_path, *(a.format(x=x, other=other) for a in args))
    said = done.stdout + done.stderr
    assert str(x) in said, said
    assert str(other) not in said and str(tmp_path / "data") not in said


def test_data_dir_after_a_command_finds_its_openrc(tmp_path: Path) -> None:
    x = tmp_path / "x"
    x.mkdir()
    (x / "openrc").write_text(
        "export OS_AUTH_URL=http://127.0.0.1:9/v3\nexport OS_USERNAME=demo\n"
        "export OS_PASSWORD=p\nexport OS_PROJECT_NAME=demo\n"
    )
    done = _run(tmp_path, "server", "list", "--data-dir", str(x))
    assert done.returncode == 1
    assert "127.0.0.1:9" in done.stderr and "is the stack up?" in done.stderr
    assert "--data-dir" in _run(tmp_path, "up", "--help").stdout
