"""Weighers, as Nova's: each scores hosts, normalized to 0..1 across the hosts that passed
the filters, times its multiplier; the sums order the hosts, best first.

The scores are SQL over compute_nodes, so the database weighs every passing host and
returns the best few. One query finds each weigher's lowest and highest value among the
passing hosts; the next orders them by the weighted sum with those as constants. The order
is the one weighing all of them in Python gives (the same floating-point operations in the
same order, ties broken by host name in code point order), whatever the multipliers.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, func, literal, type_coerce

from db.models.compute import ComputeNode
from scheduler.host_state import DISK, RAM, VCPU


@dataclass(frozen=True)
class Weigher:
    multiplier: float = 1.0

    def value(self) -> ColumnElement[float]:
        raise NotImplementedError


class RAMWeigher(Weigher):
    """More free RAM first (a positive multiplier spreads, a negative one stacks)."""

    def value(self) -> ColumnElement[float]:
        return RAM.free


class CPUWeigher(Weigher):
    def value(self) -> ColumnElement[float]:
        return VCPU.free


class DiskWeigher(Weigher):
    def value(self) -> ColumnElement[float]:
        return DISK.free


_FAILED_BUILDS = type_coerce(-ComputeNode.failed_builds, Float)


class BuildFailureWeigher(Weigher):
    """Hosts where builds failed lately go last (Nova's multiplier is 1,000,000, so it
    outweighs everything else), until a build succeeds there again."""

    def value(self) -> ColumnElement[float]:
        return _FAILED_BUILDS


def bounds(weighers: list[Weigher]) -> list[ColumnElement[float]]:
    """Aggregates for each weigher's lowest and highest value, in turn."""
    return [f(w.value()) for w in weighers for f in (func.min, func.max)]


def score(weighers: list[Weigher], found: Sequence[float]) -> ColumnElement[float]:
    """The weighted sum, weigher by weigher, given what ``bounds`` found over the passing
    hosts. A weigher whose values are all the same there, or whose multiplier is 0, adds 0
    to every score, so it is left out."""
    terms = []
    for i, weigher in enumerate(weighers):
        low, high = float(found[2 * i]), float(found[2 * i + 1])
        if weigher.multiplier and high > low:
            normalized = (weigher.value() - literal(low, Float)) / literal(high - low, Float)
            terms.append(literal(weigher.multiplier, Float) * normalized)
    if not terms:
        return literal(0.0, Float)
    return functools.reduce(operator.add, terms)
