"""Child processes that die with the process that started them, even when it is SIGKILLed.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) does it, with two catches this
module handles: it fires when the *thread* that forked the child ends, so children are forked
from one thread that lives as long as the process; and a change of credentials clears it, so
it is set in the child after subprocess's ``user=``/``group=`` switch (which runs before
``preexec_fn``), never before a ``runuser``/``su`` that would switch later.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_forker: tuple[int, ThreadPoolExecutor] | None = None


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that has the child SIGKILLed when the calling thread ends (its whole
    process included). Fit for a child the calling thread waits for (``subprocess.run``);
    a child that outlives the call goes through :func:`spawn`."""
    parent = os.getpid()

    def preexec() -> None:
        if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(127)
        # The parent may have died before the signal was armed: then nobody would send it.
        if os.getppid() != parent:
            os._exit(127)

    return preexec


def _forking_thread() -> ThreadPoolExecutor:
    global _forker
    if _forker is None or _forker[0] != os.getpid():  # a forked copy has no such thread
        _forker = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="bootflow-spawn"))
    return _forker[1]


def spawn(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)`` for a child that dies with this process: forked
    from this process's long-lived spawning thread, whatever thread calls it."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, preexec_fn=die_with_parent(), **popen)

    return _forking_thread().submit(start).result()
