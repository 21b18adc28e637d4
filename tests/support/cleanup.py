"""Clean-up that happens even when the test process is SIGKILLed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def when_this_process_ends(argv: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    """Run ``argv`` when the block ends, or when this process dies before that (SIGKILL
    included): a watcher in a session of its own waits for its stdin to close, which the
    kernel does when this process ends, then runs it. The block's end waits for it."""
    watcher = subprocess.Popen(
        ["sh", "-c", 'cat >/dev/null; exec "$@"', "sh", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    assert watcher.stdin is not None
    try:
        yield
    finally:
        watcher.stdin.close()
        watcher.wait(timeout=180)
