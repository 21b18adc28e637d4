"""What one ``GET /v2.1/servers/{id}`` costs the compute API: the poll Rally's
boot_and_delete_server makes every 2 s per server (bench/rally.py), SQLite.

In-process: the compute app answers through httpx's ASGI transport, its token validator
holding the callers' tokens for the whole run, so only the GET's own work counts (the
routing, the session, the queries, the view, the JSON). Two servers, both ACTIVE on a
host: ``plain`` (no volume, metadata nor group: what Rally polls) and ``full`` (a volume,
three metadata items, a server group). Each is read as a member at 2.37 (bench/rally.py's
client) and at 2.96, and as an admin at 2.96; ``floor`` is ``GET /v2.1/`` (no token, no
database), what the client, the middleware and the routing cost any GET.

Prints SQL statements per GET (SQLAlchemy's ``before_cursor_execute``; on SQLite that
counts the ``BEGIN IMMEDIATE`` each transaction starts with) and CPU ms per GET
(``time.process_time``, every thread of the process, over ``--rounds`` GETs after a
warm-up; the least of ``--repeats`` runs), writes bench/results/show_server.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from db.base import utcnow
from db.migrate import upgrade
from db.models.compute import (
    BlockDeviceMapping,
    ComputeNode,
    Instance,
    InstanceMetadata,
    ServerGroup,
    ServerGroupMember,
)
from tests.support.cloud import LoopbackCloud, loopback_cloud

RESULTS = Path(__file__).parent / "results" / "show_server.json"
WARM_UP = 50
# (caller, microversion): the member at 2.37 is bench/rally.py's client.
CALLERS = (("demo", "2.37"), ("demo", "2.96"), ("admin", "2.96"))


def _node(cloud: LoopbackCloud) -> None:
    with cloud.sessions.begin() as s:
        s.add(
            ComputeNode(
                host="node1", hypervisor_type="QEMU", hypervisor_hostname="node1.example",
                cpu_arch="x86_64", vcpus=8, memory_mb=8192, local_gb=100,
                cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5, disk_allocation_ratio=1.0,
                heartbeat_at=utcnow(),
            )
        )  # fmt: skip


def _server(cloud: LoopbackCloud, name: str, project: str, user: str, *, full: bool) -> str:
    """An ACTIVE server on node1; ``full`` adds a volume, metadata and a server group."""
    server_id = str(uuid.uuid4())
    address = {"version": 4, "addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed",
               "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:05"}  # fmt: skip
    with cloud.sessions.begin() as s:
        s.add(
            Instance(
                uuid=server_id, name=name, project_id=project, user_id=user,
                request_id=f"req-{uuid.uuid4()}", flavor_id="1", flavor_name="m1.tiny",
                vcpus=1, memory_mb=512, root_gb=1, image_ref=str(uuid.uuid4()),
                vm_state="active", power_state=1, host="node1", availability_zone=None,
                addresses={"private": [address]}, launched_at=utcnow(),
            )
        )  # fmt: skip
        if full:
            s.flush()
            s.add(BlockDeviceMapping(instance_uuid=server_id, volume_id=str(uuid.uuid4()),
                                     device_name="/dev/vdb", volume_size=1,
                                     source_type="volume"))  # fmt: skip
            s.add_all(InstanceMetadata(instance_uuid=server_id, key=f"k{i}", value=f"v{i}")
                      for i in range(3))  # fmt: skip
            group = str(uuid.uuid4())
            s.add(ServerGroup(uuid=group, name="g", project_id=project, user_id=user,
                              policy="anti-affinity"))  # fmt: skip
            s.flush()
            s.add(ServerGroupMember(group_uuid=group, instance_uuid=server_id))
    return server_id


class Counter:
    """SQL statements the engine sent since the last ``take``."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


@dataclass(frozen=True)
class Case:
    path: str
    headers: dict[str, str]


async def _gets(client: httpx.AsyncClient, case: Case, count: int) -> None:
    for _ in range(count):
        response = await client.get(case.path, headers=case.headers)
        assert response.status_code == 200, response.text


async def _measure(
    client: httpx.AsyncClient, case: Case, args: argparse.Namespace, counter: Counter
) -> dict[str, Any]:
    """Statements per GET, and CPU ms per GET in each repeat: the least is the figure
    (other processes on the machine only ever add to it)."""
    counter.take()
    cpu_ms = []
    for _ in range(args.repeats):
        started = time.process_time()
        await _gets(client, case, args.rounds)
        cpu_ms.append(round((time.process_time() - started) * 1000 / args.rounds, 3))
    statements = counter.take() / (args.rounds * args.repeats)
    return {"statements": statements, "cpu_ms": min(cpu_ms), "cpu_ms_each": cpu_ms}


def _cases(cloud: LoopbackCloud) -> dict[str, Case]:
    sessions = {user: cloud.session(user) for user in ("demo", "admin")}
    info = sessions["demo"].token_info()
    cases = {}
    for kind in ("plain", "full"):
        server_id = _server(cloud, kind, info.project_id, info.user_id, full=kind == "full")
        for user, version in CALLERS:
            headers = {
                "X-Auth-Token": sessions[user].token,
                "OpenStack-API-Version": f"compute {version}",
            }
            name = f"{kind}, {'member' if user == 'demo' else user} {version}"
            cases[name] = Case(f"/v2.1/servers/{server_id}", headers)
    # What a GET costs before any handler work: the bench's client, the middleware, routing.
    cases["floor: GET /v2.1/"] = Case("/v2.1/", {})
    return cases


async def _run(cloud: LoopbackCloud, args: argparse.Namespace, counter: Counter) -> dict[str, Any]:
    cases = _cases(cloud)
    transport = httpx.ASGITransport(app=cloud.apps["compute"])
    async with httpx.AsyncClient(transport=transport, base_url="http://compute") as client:
        # Every case first: the first GETs of a process fill caches all cases share.
        for case in cases.values():
            await _gets(client, case, WARM_UP)
        return {name: await _measure(client, case, args, counter) for name, case in cases.items()}


def measured(args: argparse.Namespace) -> dict[str, Any]:
    """Statements and CPU ms per GET, by server and caller."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        # Tokens stay cached through the run: the bench measures the GET, not validation.
        with loopback_cloud(
            url, Path(tmp), services=("identity", "compute"), token_cache_seconds=3600.0
        ) as cloud:
            _node(cloud)
            engine: Engine = cloud.sessions.kw["bind"]
            return asyncio.run(_run(cloud, args, Counter(engine)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="GETs a repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = measured(args)
    for name, r in results.items():
        print(f"{name:22} {r['statements']:4g} statements  {r['cpu_ms']:7.3f} CPU ms per GET")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"rounds": args.rounds, "repeats": args.repeats, "results": results}
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
