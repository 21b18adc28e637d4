"""Neutron bulk create against one create a request: N ports on one network, through the
network service over loopback HTTP (in-process, as tests/test_network_service.py runs it),
on SQLite and PostgreSQL.

    .venv/bin/python -m bench.network_bulk [--ports 200] [--backends sqlite,postgresql]

Writes bench/results/network-bulk-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.network import NetworkClient
from db.migrate import upgrade
from tests.support.cloud import loopback_cloud
from tests.support.postgres import create_database, throwaway_cluster

RESULTS = Path(__file__).parent / "results"


@contextmanager
def database(backend: str, scratch: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{scratch / 'bench.db'}"
        upgrade(url)
        yield url
        return
    with throwaway_cluster() as admin_url:
        url = create_database(admin_url, "bench_network_bulk")
        upgrade(url)
        yield url


def _fresh_network(client: NetworkClient, name: str) -> str:
    network = client.create_network(name)
    client.create_subnet(network["id"], "10.0.0.0/20")
    return str(network["id"])


def measure(url: str, scratch: Path, ports: int) -> dict[str, Any]:
    with loopback_cloud(url, scratch, services=("identity", "network")) as cloud:
        client = NetworkClient(cloud.session("demo"))
        admin = NetworkClient(cloud.session("admin"))
        project = client.session.token_info().project_id
        admin.session.request(
            "network", "PUT", f"v2.0/quotas/{project}", json={"quota": {"port": -1}}
        )
        one_net = _fresh_network(client, "one-by-one")
        started = time.perf_counter()
        for _ in range(ports):
            client.create_port(one_net, device_id="", device_owner="", host="")
        singles = time.perf_counter() - started
        bulk_net = _fresh_network(client, "bulk")
        body = {"ports": [{"network_id": bulk_net} for _ in range(ports)]}
        started = time.perf_counter()
        client.session.request("network", "POST", "v2.0/ports", json=body)
        bulk = time.perf_counter() - started
        client.session.close()
        admin.session.close()
    return {
        "ports": ports,
        "one_by_one_s": round(singles, 3),
        "bulk_s": round(bulk, 3),
        "one_by_one_ms_per_port": round(1000 * singles / ports, 2),
        "bulk_ms_per_port": round(1000 * bulk / ports, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "runs": {},
    }
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as scratch, database(backend, Path(scratch)) as url:
            results["runs"][backend] = measure(url, Path(scratch), args.ports)
            print(backend, results["runs"][backend], flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"network-bulk-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
