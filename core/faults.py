"""Fault injection for tests: a plan, passed in by the test, that makes named points fail.

A process reads its plan from ``BOOTFLOW_FAULT_PLAN`` (JSON) at start; with no plan nothing
fires. Each rule names a point (``"<activity>:before"`` / ``"<activity>:after"`` around any
activity, applied by activities.hooks; ``"http:<service>"``, by services.common.faults), a
glob on the instance name or uuid, what to do (``error`` raises, ``delay`` sleeps), how many
times (``-1``: always) and how likely it is to fire each time (drawn from a seeded
generator, so a run can be repeated), and optionally which workflow the step must run for (a
glob on its id, ``"workflow": "boot-*"``). ``"raises": "hypervisor"`` makes the error the
hypervisor refusing to start the guest (spawn's failure, which reschedules the boot).

    [{"point": "spawn:before", "match": "*-failspawn", "raises": "hypervisor",
      "message": "injected: domain failed to start"}]
    {"seed": 7, "rules": [{"point": "allocate_port:after", "probability": 0.3}]}
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass


class InjectedFault(RuntimeError):
    """Raised at a point whose rule says ``error`` and gives no error of its own."""


class NonRetryableFault(InjectedFault):
    """An injected failure that retrying cannot fix."""


@dataclass
class FaultRule:
    point: str
    action: str = "error"
    match: str = "*"
    message: str = "injected fault"
    seconds: float = 0.0
    times: int = -1
    probability: float = 1.0
    # False stands for a failure retries cannot fix (an undo past its retry budget).
    retryable: bool = True
    # Fire only in the worker of this compute host (each worker counts its own uses).
    host: str | None = None
    # A glob on the workflow the step runs for ("boot-*": a boot's step, not a delete's).
    workflow: str = "*"
    # What an error is: "fault" (InjectedFault), or "hypervisor" (the guest would not start).
    raises: str = "fault"


class FaultPlan:
    def __init__(
        self, rules: list[FaultRule] | None = None, seed: int = 0, host: str | None = None
    ) -> None:
        self._rules = [r for r in rules or [] if r.host is None or r.host == host]
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 (test faults, not cryptography)

    @property
    def active(self) -> bool:
        return bool(self._rules)

    @classmethod
    def from_json(cls, text: str, host: str | None = None) -> FaultPlan:
        """The plan for one process: ``host`` is the compute host it serves, if any."""
        if not text.strip():
            return cls()
        plan = json.loads(text)
        if isinstance(plan, list):
            plan = {"rules": plan}
        rules = [FaultRule(**rule) for rule in plan["rules"]]
        return cls(rules, seed=int(plan.get("seed", 0)), host=host)

    def fail(self, rule: FaultRule, error: Callable[[str], BaseException] = InjectedFault) -> None:
        """Raise what an ``error`` rule says."""
        if rule.action != "error":
            raise ValueError(f"unknown fault action {rule.action!r}")
        raise error(rule.message) if rule.retryable else NonRetryableFault(rule.message)

    def take(self, point: str, name: str, workflow: str = "") -> FaultRule | None:
        """The rule that fires now for ``point`` and ``name`` in ``workflow`` (its use
        counted), if any."""
        with self._lock:
            for rule in self._rules:
                if rule.point != point or not rule.times:
                    continue
                if not fnmatch.fnmatchcase(name, rule.match):
                    continue
                if not fnmatch.fnmatchcase(workflow, rule.workflow):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.times > 0:
                    rule.times -= 1
                return rule
        return None
