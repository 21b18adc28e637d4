"""The claim is atomic: 200 concurrent boots against hosts that fit 50 make exactly 50
servers, and no host is ever over capacity, sampled while the boots run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from db.models.compute import ComputeNode
from tests.support.databases import BACKENDS, new_database
from tests.support.stack import RunningStack, running_stack, stack_settings, wait_until

pytestmark = pytest.mark.e2e

BOOTS = 200
PER_HOST = 25  # m1.tiny (512 MiB) servers a host's RAM holds, at ram_allocation_ratio 1.0
HOST_MEMORY_MB = PER_HOST * 512


@pytest.fixture(scope="module", params=BACKENDS)
def small_cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp(f"scale-{request.param}")
    url = new_database(request.param, data_dir, request)
    env = {
        "BOOTFLOW_HOST_MEMORY_MB": str(HOST_MEMORY_MB),
        "BOOTFLOW_QUOTA_INSTANCES": "1000",
        "BOOTFLOW_QUOTA_CORES": "1000",
        "BOOTFLOW_QUOTA_RAM_MB": "1000000",
    }
    with running_stack(stack_settings(data_dir, url), hosts=2, env=env) as stack:
        yield stack


def test_200_concurrent_boots_on_room_for_50(small_cloud: RunningStack) -> None:
    stack = small_cloud
    demo = stack.demo()
    compute = ComputeClient(demo)
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]

    peak: dict[str, int] = {}
    samples = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal samples
        while not done.is_set():
            with stack.sessions.begin() as s:
                for node in s.scalars(select(ComputeNode)):
                    peak[node.host] = max(peak.get(node.host, 0), node.memory_mb_used)
                    assert node.memory_mb_used <= node.memory_mb * node.ram_allocation_ratio
            samples += 1
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            ids = list(
                pool.map(
                    lambda i: str(compute.create_server(f"scale-{i}", "1", image, [network])["id"]),
                    range(BOOTS),
                )
            )

        def settled() -> list[dict[str, object]] | None:
            servers = compute.list_servers()
            building = [s for s in servers if s["status"] == "BUILD"]
            return None if building else servers

        servers = wait_until(settled, timeout=900, interval=2.0)
    finally:
        done.set()
        sampler.join()

    mine = [s for s in servers if s["id"] in set(ids)]
    active = [s for s in mine if s["status"] == "ACTIVE"]
    errors = [s for s in mine if s["status"] == "ERROR"]
    assert (len(active), len(errors)) == (2 * PER_HOST, BOOTS - 2 * PER_HOST)
    assert all(
        str(s["fault"]["message"]).startswith("No valid host was found.")  # type: ignore[index]
        for s in errors
    )
    assert peak == {"node1": HOST_MEMORY_MB, "node2": HOST_MEMORY_MB}
    assert samples > 10
    usage = stack.host_usage()
    assert usage == {
        "node1": (PER_HOST, HOST_MEMORY_MB, PER_HOST),
        "node2": (PER_HOST, HOST_MEMORY_MB, PER_HOST),
    }
    print(
        f"\nscale: {len(active)} active, {len(errors)} no valid host, {samples} samples, "
        f"peak {peak}"
    )
