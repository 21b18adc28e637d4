"""Select statements kept per request shape, so a select reuses one instead of building it.

Building the select's SQLAlchemy expressions (ten filters, four weighers, their scores) and
its cache key costs more client CPU than running it on a small fleet; requests mostly repeat
(a few flavors, images and zones), so the statement for one is kept and run again with the
time-dependent value (ComputeFilter's heartbeat cutoff) bound at execution. Bounded: the
least recently used shape goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

# Shapes kept per process: far more than the flavor x image x zone mixes a cloud boots with.
DEFAULT_SIZE = 256


class StatementCache(Generic[T]):
    """A bounded least-recently-used map from a request's shape to its built statement;
    shared by the worker's activity threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a statement cache holds at least one statement")
        self.size = size
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The statement kept for ``key``, else ``build()``'s, kept from now on."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        built = build()
        with self._lock:
            self._kept[key] = built
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return built

    def __len__(self) -> int:
        return len(self._kept)
