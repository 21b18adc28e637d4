"""Project quota: reservations keyed by instance, exact under concurrency."""

from __future__ import annotations

import threading

import pytest

from db import quotas
from db.session import make_engine, make_session_factory
from tests.support.databases import overlapping

LIMITS = {"instances": 5, "cores": 20, "ram": 51200, "disk": 1000}
TINY = {"instances": 1, "cores": 1, "ram": 512, "disk": 1}


def test_two_concurrent_boots_cannot_both_take_the_last_slot(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=20)
    sessions = make_session_factory(engine)
    results: list[bool] = []
    lock = threading.Lock()

    def boot(i: int) -> None:
        try:
            with sessions.begin() as s:
                quotas.reserve(s, f"inst-{i}", "p1", TINY, LIMITS)
            ok = True
        except quotas.QuotaExceeded:
            ok = False
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5
    with sessions.begin() as s:
        assert quotas.usage(s, "p1") == {"instances": 5, "cores": 5, "ram": 2560, "disk": 5}
    engine.dispose()


def test_quota_message_names_resource_usage_and_limit(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        quotas.reserve(s, "a", "p1", {"instances": 1, "cores": 18, "ram": 512, "disk": 1}, LIMITS)
    with pytest.raises(quotas.QuotaExceeded) as exc, sessions.begin() as s:
        quotas.reserve(s, "b", "p1", {"instances": 1, "cores": 4, "ram": 512, "disk": 1}, LIMITS)
    assert str(exc.value).startswith(
        "Quota exceeded for cores: requested 4, but already used 18 of 20 (2 free)."
    )
    with sessions.begin() as s:  # the failed reservation changed nothing
        assert quotas.usage(s, "p1")["instances"] == 1
    engine.dispose()


def test_reserve_and_release_are_keyed_by_instance(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    for _ in range(2):
        with sessions.begin() as s:
            quotas.reserve(s, "a", "p1", TINY, LIMITS)
    with sessions.begin() as s:
        assert quotas.usage(s, "p1")["instances"] == 1
        assert quotas.release(s, "a") is True
    with sessions.begin() as s:
        assert quotas.release(s, "a") is False
        assert quotas.usage(s, "p1") == dict.fromkeys(quotas.RESOURCES, 0)
    engine.dispose()


def test_project_override_and_unlimited(database_url: str) -> None:
    from db.models.compute import QuotaLimit

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        s.add(QuotaLimit(project_id="p1", resource="instances", hard_limit=-1))
        s.add(QuotaLimit(project_id="p2", resource="instances", hard_limit=0))
    with sessions.begin() as s:
        for i in range(7):
            quotas.reserve(s, f"x{i}", "p1", TINY, LIMITS)
    with pytest.raises(quotas.QuotaExceeded), sessions.begin() as s:
        quotas.reserve(s, "y", "p2", TINY, LIMITS)
    engine.dispose()


def test_two_overlapping_releases_give_back_once(database_url: str) -> None:
    """Two attempts of release_quota for one instance overlap (the first's answer was lost
    and it was retried while still committing): the usage drops once, not twice."""
    engine = make_engine(database_url, pool_size=5)
    sessions = make_session_factory(engine)
    for name in ("a", "b"):
        with sessions.begin() as s:
            quotas.reserve(s, name, "p1", TINY, LIMITS)
    first, second = overlapping(sessions, lambda s: quotas.release(s, "a"))
    assert (first, second) == (True, False)
    with sessions.begin() as s:
        assert quotas.usage(s, "p1") == TINY  # "b" still holds its share
    engine.dispose()
