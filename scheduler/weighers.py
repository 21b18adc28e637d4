"""Weighers, as Nova's: each scores hosts, normalized to 0..1 across the hosts that passed
the filters, times its multiplier; the sums order the hosts, best first.

The scores are SQL over compute_nodes, so the database weighs every passing host and
returns the best few, in one statement: an aggregate over the passing hosts gives each
weigher's lowest and highest value among them, and the weighted sum is taken from those. The order
is the one weighing all of them in Python gives (the same floating-point operations in the
same order, ties broken by host name in code point order), whatever the multipliers.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, case, cast, literal

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


# A real CAST: an integer here would make the normalizing division an integer one.
_FAILED_BUILDS = cast(-ComputeNode.failed_builds, Float)


class BuildFailureWeigher(Weigher):
    """Hosts where builds failed lately go last (Nova's multiplier is 1,000,000, so it
    outweighs everything else), until a build succeeds there again."""

    def value(self) -> ColumnElement[float]:
        return _FAILED_BUILDS


@dataclass(frozen=True)
class Weighed:
    """One weigher's value for a passing host, and its lowest and highest among them."""

    value: ColumnElement[float]
    low: ColumnElement[float]
    high: ColumnElement[float]


def score(weighers: list[Weigher], weighed: list[Weighed]) -> ColumnElement[float]:
    """The weighted sum, weigher by weigher. A weigher whose values are all the same among
    the passing hosts adds 0 to every score; one whose multiplier is 0 is left out."""
    terms = []
    for weigher, w in zip(weighers, weighed, strict=True):
        if weigher.multiplier:
            normalized = (w.value - w.low) / (w.high - w.low)
            weighted = literal(weigher.multiplier, Float) * normalized
            terms.append(case((w.high > w.low, weighted), else_=literal(0.0, Float)))
    if not terms:
        return literal(0.0, Float)
    return functools.reduce(operator.add, terms)
