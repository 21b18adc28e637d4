"""The host's image cache: fetched once under concurrency, verified, never half-written."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from compute.image_cache import Download, ImageCache, ImageVerificationError, file_digests

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
