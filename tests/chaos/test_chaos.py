"""The chaos campaign, short: about 40 creates and deletes on three hosts, on SQLite and on
PostgreSQL, while the dev server, the control worker, a compute worker and two services are
killed, a compute worker is stalled past its steps' timeouts, a service answers 503 in a
burst and (PostgreSQL) the database restarts. Then the independent audit
(tests/chaos/audit.py) must find nothing leaked, nothing stuck and no 500, both once the
stack settled and after every survivor was deleted. ``make chaos`` is the long run.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from tests.chaos.campaign import RoundSpec, run_round
from tests.conftest import GIVEN_POSTGRES_URL
from tests.support.databases import BACKENDS, new_database
from tests.support.postgres import restart_cluster

pytestmark = pytest.mark.e2e

SEED = 20261206


@pytest.mark.timeout(900)
@pytest.mark.parametrize("db", BACKENDS)
def test_chaos_leaks_nothing_and_leaves_nothing_stuck(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(db, tmp_path, request)
    restart = None
    if db == "postgresql" and not GIVEN_POSTGRES_URL:  # a server of its own: restart it
        restart = partial(restart_cluster, request.getfixturevalue("postgres_admin_url"))
    spec = RoundSpec(
        db,
        ops=40,
        hosts=3,
        seed=SEED,
        kills=["temporal", "control", "node1", "network", "compute"],
        stalls=1,
        bursts=1,
        settle_timeout=300.0,
    )
    result = run_round(spec, url, tmp_path / "data", restart)
    print("\nchaos:", json.dumps({"summary": result.summary, "seconds": result.seconds}))
    for fault in result.faults:
        print("fault:", json.dumps(fault))
    for finding in result.findings():
        print("finding:", json.dumps(finding))

    assert result.operations["creates"] + result.operations["deletes"] >= spec.ops
    assert all(f["started"] is not None for f in result.faults)  # every fault was injected
    assert result.summary["leaked"] == 0, "resources leaked (see the findings above)"
    assert result.summary["stuck"] == 0, "servers or workflows stuck (see the findings above)"
    assert result.summary["http_500"] == 0, "requests answered 500 (see the findings above)"
    assert result.findings() == []
