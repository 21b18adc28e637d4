"""The host's image cache, as Nova's ``_base``: one verified copy of each image.

Concurrent boots of the same image on one host fetch it once: the first takes a file lock
and downloads to a temporary file, verifies size and checksums against the image record,
then renames it into place; the others wait on the lock and find it there. A waiter polls
the lock and calls its ``heartbeat`` between tries, so a step blocked behind a long download
still shows it is alive.

A cached copy stays while any instance on the host uses it; once none does, it is removed
after it has gone unused for a configurable age (its mtime is its last use).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class ImageVerificationError(Exception):
    """The downloaded bytes are not the image the image service describes."""


@dataclass
class Download:
    size: int
    md5: str
    sha512: str


# (destination path, progress callback) -> what was written; the caller streams the bytes.
Fetcher = Callable[[Path, Callable[[int], None]], Download]

# How often a boot waiting on another download of the same image tries the lock again.
LOCK_POLL_SECONDS = 0.5


def _nothing() -> None:
    pass


class ImageCache:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    def path(self, image_id: str) -> Path:
        return self.base_dir / image_id

    @contextmanager
    def _locked(self, image_id: str, heartbeat: Callable[[], None] = _nothing) -> Iterator[None]:
        """The image's lock, held; while another holder has it, ``heartbeat`` is called every
        LOCK_POLL_SECONDS."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / f".{image_id}.lock", "w") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    heartbeat()
                    time.sleep(LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure(
        self,
        image_id: str,
        size: int,
        md5: str | None,
        sha512: str | None,
        fetch: Fetcher,
        progress: Callable[[int], None] = lambda _n: None,
        heartbeat: Callable[[], None] = _nothing,
    ) -> tuple[Path, bool]:
        """The cached copy's path, and whether this call downloaded it. ``progress`` hears
        the bytes downloaded so far; ``heartbeat`` is called while another download of the
        image holds its lock."""
        target = self.path(image_id)
        with self._locked(image_id, heartbeat):
            if target.exists() and target.stat().st_size == size:
                os.utime(target)  # last use, for the cache's age-based cleanup
                return target, False
            partial = target.with_name(f".{image_id}.part")
            try:
                got = fetch(partial, progress)
                if (
                    got.size != size
                    or (md5 and got.md5 != md5)
                    or (sha512 and got.sha512 != sha512)
                ):
                    raise ImageVerificationError(
                        f"image {image_id}: the download does not match the image record "
                        f"(got {got.size} bytes, md5 {got.md5}; expected {size} bytes, md5 {md5})"
                    )
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
        return target, True

    def cleanup(
        self, in_use: set[Path], max_unused_seconds: float, now: float | None = None
    ) -> list[str]:
        """Remove cached images no instance uses that were last used over
        ``max_unused_seconds`` ago; the ids removed. A boot that just fetched an image has
        touched it, so it is young and stays even before its instance records it."""
        if not self.base_dir.exists():
            return []
        now = time.time() if now is None else now
        in_use = {p.resolve() for p in in_use}
        removed = []
        for entry in sorted(self.base_dir.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue  # locks and partial downloads
            with self._locked(entry.name):
                try:
                    unused_for = now - entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if entry.resolve() in in_use or unused_for < max_unused_seconds:
                    continue
                entry.unlink()
                removed.append(entry.name)
        return removed


def file_digests(path: Path) -> Download:
    md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha512.update(chunk)
            size += len(chunk)
    return Download(size, md5.hexdigest(), sha512.hexdigest())
