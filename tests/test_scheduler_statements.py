"""A select statement is built once per request shape and run again with its own time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.config import SchedulerOptions
from db.base import utcnow
from db.models.compute import ComputeNode
from db.session import SessionFactory, make_engine, make_session_factory
from scheduler import manager
from scheduler.host_state import RequestSpec
from scheduler.manager import select_hosts
from scheduler.statement_cache import StatementCache
from tests.test_scheduler import _node


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    for name in ("h1", "h2"):
        _node(factory, name, memory_mb=8192)
    yield factory
    engine.dispose()


def test_a_kept_statement_sees_a_host_go_down_after_it_was_built(
    sessions: SessionFactory,
) -> None:
    options = SchedulerOptions(host_subset_size=1)
    spec = RequestSpec("i-1", vcpus=1, memory_mb=512, root_gb=1)
    start = utcnow()
    before = len(manager._STATEMENTS)
    with sessions.begin() as s:
        s.execute(update(ComputeNode).values(heartbeat_at=start))
        first = select_hosts(s, spec, options, start, random.Random(0))
        assert set(first.hosts) == {"h1", "h2"}
        # A service-down time later only h2 has reported again: h1 is down.
        later = start + options.service_down + timedelta(seconds=1)
        s.execute(update(ComputeNode).where(ComputeNode.host == "h2").values(heartbeat_at=later))
        # Another instance with the same request: the same statement, at the later time.
        again = select_hosts(s, RequestSpec("i-2", 1, 512, 1), options, later, random.Random(0))
    assert again.hosts == ["h2"] and again.candidates == 1
    assert len(manager._STATEMENTS) <= before + 1


def test_the_same_request_shape_reuses_its_statement_and_another_does_not() -> None:
    cache: StatementCache[object] = StatementCache(size=4)
    built: list[str] = []

    def build(name: str) -> object:
        built.append(name)
        return object()

    first = cache.get(("m1.tiny",), lambda: build("tiny"))
    assert cache.get(("m1.tiny",), lambda: build("tiny")) is first
    assert cache.get(("m1.small",), lambda: build("small")) is not first
    assert built == ["tiny", "small"]


def test_the_cache_is_bounded_and_forgets_the_least_recently_used_shape() -> None:
    cache: StatementCache[str] = StatementCache(size=2)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "A2")  # a used again: b is now the oldest
    cache.get("c", lambda: "C")
    assert len(cache) == 2
    assert cache.get("a", lambda: "A3") == "A"
    assert cache.get("b", lambda: "B2") == "B2"  # b was forgotten and built again
    with pytest.raises(ValueError):
        StatementCache(size=0)


def test_a_request_naming_hosts_is_answered_but_its_statement_not_kept(
    sessions: SessionFactory,
) -> None:
    """Hints, a group's members and hosts tried make a statement no other request shares:
    keeping them filled the cache with statements the collector walked on every full pass
    (a select at 10,000 hosts then stalled for up to 120 ms)."""
    options = SchedulerOptions(host_subset_size=1)
    now = utcnow()
    with sessions.begin() as s:
        s.execute(update(ComputeNode).values(heartbeat_at=now))
        before = len(manager._STATEMENTS)
        named = [
            RequestSpec("i-1", 1, 512, 1, same_host=frozenset({"h2"})),
            RequestSpec("i-2", 1, 512, 1, different_host=frozenset({"h2"})),
            RequestSpec("i-3", 1, 512, 1, group_policy="affinity", group_hosts=frozenset({"h1"})),
        ]
        chosen = [select_hosts(s, spec, options, now, random.Random(0)).hosts for spec in named]
        tried = select_hosts(
            s, RequestSpec("i-4", 1, 512, 1), options, now, random.Random(0), frozenset({"h1"})
        )
    assert chosen == [["h2"], ["h1"], ["h1"]] and tried.hosts == ["h2"]
    assert len(manager._STATEMENTS) == before
