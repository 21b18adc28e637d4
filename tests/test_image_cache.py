"""The host's image cache: fetched once under concurrency, verified, never half-written; and
the fetch_image step heartbeating all the while."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities import images as images_module
from activities.images import ImageActivities
from clients.image import Transfer
from compute.image_cache import Download, ImageCache, ImageVerificationError, file_digests
from core.messages import FetchImageInput, ImageSpec

DATA = b"x" * 100_000
MD5 = hashlib.md5(DATA, usedforsecurity=False).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()


def test_concurrent_boots_of_one_image_fetch_it_once(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    fetches: list[int] = []

    def fetch(dest: Path, progress: Callable[[int], None]) -> Download:
        fetches.append(1)
        time.sleep(0.2)  # a slow download, so the others arrive while it runs
        dest.write_bytes(DATA)
        progress(len(DATA))
        return file_digests(dest)

    results: list[tuple[Path, bool]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(cache.ensure("img", len(DATA), MD5, SHA512, fetch))
        )
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fetches) == 1
    assert sorted(downloaded for _, downloaded in results) == [False] * 4 + [True]
    assert cache.path("img").read_bytes() == DATA


def test_a_corrupt_download_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)

    def corrupt(dest: Path, progress: Callable[[int], None]) -> Download:
        dest.write_bytes(DATA[:-1] + b"y")
        return file_digests(dest)

    with pytest.raises(ImageVerificationError):
        cache.ensure("img", len(DATA), MD5, SHA512, corrupt)
    assert not cache.path("img").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def _fetch_data(dest: Path, progress: Callable[[int], None]) -> Download:
    dest.write_bytes(DATA)
    return file_digests(dest)


def test_unused_bases_go_after_their_age_and_used_ones_stay(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    for image in ("used", "unused-old", "unused-young"):
        cache.ensure(image, len(DATA), MD5, SHA512, _fetch_data)
    now = time.time()
    day = 86400.0
    for image, age in (("used", 10 * day), ("unused-old", 2 * day), ("unused-young", 60)):
        os.utime(cache.path(image), (now - age, now - age))

    removed = cache.cleanup({cache.path("used")}, max_unused_seconds=day, now=now)
    assert removed == ["unused-old"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "unused-young",
        "used",
    ]
    # A boot that finds a base in the cache makes it young again.
    os.utime(cache.path("unused-young"), (now - 2 * day, now - 2 * day))
    cache.ensure("unused-young", len(DATA), MD5, SHA512, _fetch_data)
    assert cache.cleanup({cache.path("used")}, max_unused_seconds=day) == []


def test_a_boot_waiting_on_anothers_download_heartbeats(tmp_path: Path) -> None:
    """The lock is polled, not blocked on: a step waiting behind a long download of the
    same image still heartbeats, so it is not taken for a dead worker."""
    cache = ImageCache(tmp_path)
    holding = threading.Event()

    def slow(dest: Path, progress: Callable[[int], None]) -> Download:
        holding.set()
        time.sleep(1.5)
        dest.write_bytes(DATA)
        return file_digests(dest)

    first = threading.Thread(target=cache.ensure, args=("img", len(DATA), MD5, SHA512, slow))
    first.start()
    assert holding.wait(10)
    beats: list[float] = []
    path, downloaded = cache.ensure(
        "img", len(DATA), MD5, SHA512, slow, heartbeat=lambda: beats.append(time.monotonic())
    )
    first.join()
    assert (path, downloaded) == (cache.path("img"), False)
    assert len(beats) >= 2  # one a LOCK_POLL_SECONDS while the other download ran


class FakeImages:
    """The image service for fetch_image: records, and downloads that report progress."""

    def __init__(self, records: dict[str, dict[str, object]], beats: list[str]) -> None:
        self.records = records
        self.beats = beats
        self.downloading: str | None = None

    def get_image(self, image_id: str) -> dict[str, object]:
        return self.records[image_id]

    def download(
        self, image_id: str, dest: Path, progress: Callable[[int], None] | None = None
    ) -> Transfer:
        self.downloading = image_id
        for done in range(10_000, len(DATA) + 1, 10_000):
            assert progress is not None
            progress(done)
            time.sleep(0.01)
        dest.write_bytes(DATA)
        self.downloading = None
        return Transfer(len(DATA), MD5, SHA512)


def test_fetch_image_heartbeats_while_its_kernel_and_ramdisk_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images_module, "HEARTBEAT_EVERY_SECONDS", 0.0)
    record = {"status": "active", "size": len(DATA), "checksum": MD5, "os_hash_value": SHA512}
    beats: list[str] = []
    images = FakeImages({"aki": record, "ari": record}, beats)
    fetcher = ImageActivities(
        images,  # type: ignore[arg-type]
        ImageCache(tmp_path / "_base"),
    )
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(images.downloading or "")
    image = ImageSpec(
        "img",
        "guest",
        len(DATA),
        "qcow2",
        MD5,
        os_hash_value=SHA512,
        properties={"kernel_id": "aki", "ramdisk_id": "ari"},
    )
    cached = env.run(fetcher.fetch_image, FetchImageInput("i-1", image))
    assert cached.path == str(tmp_path / "_base" / "img")
    assert {"img", "aki", "ari"} <= set(beats)  # the image's, the kernel's, the ramdisk's
