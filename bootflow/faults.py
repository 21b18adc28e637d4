"""Fault injection for tests: a plan, passed in by the test, that makes named points fail.

A worker reads its plan from ``BOOTFLOW_FAULT_PLAN`` (JSON) at start; with no plan every
check is a no-op. Each rule names a point (e.g. ``"spawn"``), a glob on the instance name,
what to do (``error`` raises, ``delay`` sleeps) and how many times (``-1``: always).

    [{"point": "spawn", "match": "*-failspawn", "action": "error",
      "message": "injected: domain failed to start"}]
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class InjectedFault(RuntimeError):
    """Raised at a point whose rule says ``error`` and gives no error of its own."""


@dataclass
class FaultRule:
    point: str
    action: str = "error"
    match: str = "*"
    message: str = "injected fault"
    seconds: float = 0.0
    times: int = -1


class FaultPlan:
    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._rules = list(rules or [])
        self._lock = threading.Lock()

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        if not text.strip():
            return cls()
        return cls([FaultRule(**rule) for rule in json.loads(text)])

    def check(
        self,
        point: str,
        name: str,
        error: Callable[[str], BaseException] = InjectedFault,
    ) -> None:
        """Apply the first rule for ``point`` that matches ``name`` and has uses left."""
        rule = self._take(point, name)
        if rule is None:
            return
        if rule.action == "delay":
            time.sleep(rule.seconds)
        elif rule.action == "error":
            raise error(rule.message)
        else:
            raise ValueError(f"unknown fault action {rule.action!r}")

    def _take(self, point: str, name: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.point == point and fnmatch.fnmatchcase(name, rule.match) and rule.times:
                    if rule.times > 0:
                        rule.times -= 1
                    return rule
        return None
