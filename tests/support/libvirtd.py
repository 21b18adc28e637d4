"""libvirtd at qemu:///system for the tests that boot real guests.

A libvirtd that already answers is reused and left alone. Otherwise the tests start one, with
virtlogd, as their own children: ``scripts/start-libvirtd.sh --foreground`` runs them in a PID
namespace that dies with the script, which dies with the test process (bootflow.lifetime).
So the daemons and every QEMU they start end with the test run, also when it is SIGKILLed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import libvirt
import psutil
import pytest

from bootflow import lifetime

REPO = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
# The first start probes QEMU's capabilities (8-12 s); later ones reuse libvirt's cache.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


class NoLibvirtd(Exception):
    """libvirtd does not answer and could not be started; raised with why, it says so."""

    def __str__(self) -> str:
        return f"real guests need libvirtd at {URI}, and it could not be started: {self.args[0]}"


def answers() -> bool:
    return subprocess.run(["virsh", "-c", URI, "uri"], capture_output=True).returncode == 0


@dataclass
class Daemons:
    """virtlogd and libvirtd this test run started: the process tree under ``proc``."""

    proc: subprocess.Popen[bytes]
    log: Path

    def processes(self) -> list[psutil.Process]:
        """Every process of the namespace: its init, the daemons and their QEMUs (orphans in
        a PID namespace go to its init, so all stay under ``proc``)."""
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """libvirtd, then virtlogd, by SIGTERM (each removes its sockets and pid file); the
        namespace ends with them, and with it any QEMU still running."""
        for name in ("libvirtd", "virtlogd"):
            daemons = [p for p in self.processes() if _name(p) == name]
            for daemon in daemons:
                daemon.terminate()
            psutil.wait_procs(daemons, timeout=STOP_TIMEOUT)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # unshare ignores SIGTERM; SIGKILL ends its whole namespace
            self.proc.wait()


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""


def start_daemons(log: Path) -> Daemons | None:
    """The daemons this call started, or None when a libvirtd already answered."""
    if answers():
        return None
    script = REPO / "scripts" / "start-libvirtd.sh"
    with open(log, "ab") as out:
        # Its own session: Ctrl-C reaches only pytest, whose teardown stops the daemons.
        proc = lifetime.spawn(
            [str(script), "--foreground"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    daemons = Daemons(proc, log)
    try:
        up = _await(daemons)
    except BaseException:
        daemons.stop()
        raise
    return daemons if up else None


def _await(daemons: Daemons) -> bool:
    """True once the libvirtd started answers; False if another one (starting up when the
    script looked) answers instead: the script then waits for that one and ends."""
    deadline = time.monotonic() + START_TIMEOUT
    while not answers():
        if daemons.proc.poll() is not None:
            if daemons.proc.returncode == 0 and answers():
                return False
            raise NoLibvirtd(_tail(daemons.log))
        if time.monotonic() > deadline:
            raise NoLibvirtd(f"no answer within {START_TIMEOUT:.0f}s; {_tail(daemons.log)}")
        time.sleep(0.2)
    if any(_name(p) == "libvirtd" for p in daemons.processes()):
        return True
    daemons.proc.wait(STOP_TIMEOUT)
    return False


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_daemons(log: Path) -> Iterator[Daemons | None]:
    """libvirtd answering for the block: the daemons this call started (stopped after it,
    and dying with this process if it is killed), or None when one already answered."""
    daemons = start_daemons(log)
    try:
        yield daemons
    finally:
        if daemons is not None:
            daemons.stop()


@pytest.fixture(scope="module")
def libvirt_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemons | None]:
    """The daemons the module's tests had to start (stopped after them), or None."""
    log = tmp_path_factory.mktemp("libvirtd") / "daemons.log"
    try:
        with running_daemons(log) as daemons:
            yield daemons
    except NoLibvirtd as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def libvirtd(libvirt_daemons: Daemons | None) -> Iterator[libvirt.virConnect]:
    """A connection to qemu:///system, whoever runs its libvirtd."""
    conn = libvirt.open(URI)
    try:
        yield conn
    finally:
        conn.close()
