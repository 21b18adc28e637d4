"""What a campaign does, drawn from one seed: each server's scenario and the fault plan.

Every server's name says its scenario (``chaos-017-del-spawn``), and the fault plan's rules
match those names, so a scenario's faults hit only its own servers: a ``leak-port`` server
fails at ``mark_active`` and then its port's undo fails for good once (a leftover), a
``del-spawn`` server is held at spawn long enough to be deleted there. On top of that every
step fails now and then before or after its side effect, retryably.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from core import activity_defs

# Scenario -> relative weight. A scenario with a delete counts two operations.
SCENARIOS: dict[str, int] = {
    "keep": 6,  # boot, stay ACTIVE
    "keep-volume": 3,  # the same with a 1 GiB volume
    "fail-spawn": 2,  # the guest never starts: reschedules, then ERROR
    "leak-port": 1,  # the undo of its port fails for good: a leftover
    "leak-volume": 1,  # ... of its volume
    "leak-guest": 1,  # ... of its guest
    "leak-claim": 1,  # ... of its claim
    "del-now": 3,  # deleted right after the 202
    "del-port": 2,  # deleted while allocating its port
    "del-volume": 2,  # deleted while creating its volume
    "del-spawn": 2,  # deleted while spawning
    "del-active": 3,  # deleted once ACTIVE
    "del-error": 2,  # deleted once ERROR
    "cancel": 2,  # its boot workflow cancelled from Temporal, not through the API
}
WITH_VOLUME = frozenset({"keep-volume", "leak-volume", "del-volume"})
WITH_DELETE = frozenset(s for s in SCENARIOS if s.startswith("del-"))
# Where a scenario's server is held (a delay fault) so that it can be caught there, and
# the task_state it shows meanwhile. The workflow sets a stage's task_state as the stage
# begins, so the port and volume steps are held after their side effect (made, not yet
# reported) and spawn before it ("spawning" since fetch image began).
HELD_AT = {
    "del-port": ("allocate_port:after", "networking"),
    "del-volume": ("create_volume:after", "block_device_mapping"),
    "del-spawn": ("spawn:before", "spawning"),
    "cancel": ("spawn:before", "spawning"),
}
HOLD_SECONDS = 6.0
# The undo step each leak scenario makes fail for good.
LEAKS = {
    "leak-port": "deallocate_ports",
    "leak-volume": "delete_volumes",
    "leak-guest": "destroy_guest",
    "leak-claim": "release_claim",
}
FAILING_SPAWN = frozenset({"fail-spawn", "del-error"})
# Steps that act on an instance (host inspection and console reads are left alone).
STEPS = [
    d.name
    for d in activity_defs.ALL
    if d.name not in ("list_domains", "get_console_output", "await_boot_end")
]


@dataclass(frozen=True)
class Server:
    """One create in the campaign and what then happens to it."""

    index: int
    scenario: str

    @property
    def name(self) -> str:
        return f"chaos-{self.index:03d}-{self.scenario}"

    @property
    def volume(self) -> bool:
        return self.scenario in WITH_VOLUME

    @property
    def deleted(self) -> bool:
        """Whether the campaign deletes it during the load."""
        return self.scenario in WITH_DELETE

    @property
    def operations(self) -> int:
        return 2 if self.deleted else 1


def servers(ops: int, rng: random.Random) -> list[Server]:
    """Servers whose creates and deletes add up to at least ``ops``; every scenario at
    least once when ``ops`` allows."""
    names = list(SCENARIOS)
    chosen: list[str] = []
    total = 0
    for name in names:
        if total >= ops:
            break
        chosen.append(name)
        total += 2 if name in WITH_DELETE else 1
    weights = [SCENARIOS[n] for n in names]
    while total < ops:
        name = rng.choices(names, weights)[0]
        chosen.append(name)
        total += 2 if name in WITH_DELETE else 1
    rng.shuffle(chosen)
    return [Server(i, s) for i, s in enumerate(chosen)]


def fault_plan(seed: int, planned: list[Server], step_fault_probability: float) -> dict[str, Any]:
    """The BOOTFLOW_FAULT_PLAN every process gets: scenario rules first (the first rule
    that fires wins), then random retryable failures of every step."""
    rules: list[dict[str, Any]] = []
    for scenario, (point, _) in HELD_AT.items():
        rules.append(
            {
                "point": point,
                "match": f"chaos-*-{scenario}",
                "action": "delay",
                "seconds": HOLD_SECONDS,
            }
        )
    for scenario in FAILING_SPAWN:
        rules.append(
            {
                "point": "spawn:before",
                "match": f"chaos-*-{scenario}",
                "raises": "hypervisor",
                "message": "chaos: guest failed",
            }
        )
    for server in planned:
        if server.scenario not in LEAKS:
            continue
        # Accepted, built, then refused at the end: the whole undo runs, with no reschedule.
        rules.append(
            {
                "point": "mark_active:before",
                "match": server.name,
                "retryable": False,
                "message": "chaos: refused at the end",
            }
        )
        # In its boot only (and once), so the later delete can remove it; a count alone is
        # each process's, and starts again when the process is killed and restarted.
        rules.append(
            {
                "point": f"{LEAKS[server.scenario]}:before",
                "match": server.name,
                "workflow": "boot-*",
                "retryable": False,
                "times": 1,
                "message": f"chaos: {server.scenario} undo failed for good",
            }
        )
    for step in STEPS:
        for when in ("before", "after"):
            rules.append(
                {
                    "point": f"{step}:{when}",
                    "match": "chaos-*",
                    "probability": step_fault_probability,
                    "message": f"chaos: {step} {when}",
                }
            )
    return {"seed": seed, "rules": rules}


def burst_plan(seed: int, service: str, answers: int) -> dict[str, Any]:
    """A plan for one restarted service: about half its next ``2 * answers`` requests 503."""
    rule = {"point": f"http:{service}", "probability": 0.5, "times": answers}
    return {"seed": seed, "rules": [{**rule, "message": "chaos: 503 burst"}]}


def as_json(plan: dict[str, Any]) -> str:
    return json.dumps(plan, separators=(",", ":"))
