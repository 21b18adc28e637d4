"""What a token validation costs identity: ``GET /v3/auth/tokens?nocatalog`` (what every
service asks on a cache miss) for a project-scoped token, over HTTP on loopback, SQLite.

Two tokens: the seed's ``demo`` (a role granted to the user) and, where identity has groups,
a user whose role on the project comes through a group. Prints the median and 95th
percentile per token and writes them to bench/results/token_validation.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from db.migrate import upgrade
from tests.support.cloud import LoopbackCloud, loopback_cloud

RESULTS = Path(__file__).parent / "results" / "token_validation.json"


def _timed(cloud: LoopbackCloud, admin: str, token: str, rounds: int) -> dict[str, float]:
    url = f"{cloud.settings.auth_url}/auth/tokens"
    headers = {"X-Auth-Token": admin, "X-Subject-Token": token}
    seconds = []
    with httpx.Client() as client:
        for _ in range(rounds):
            started = time.perf_counter()
            assert client.get(url, headers=headers, params={"nocatalog": "1"}).status_code == 200
            seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(seconds[int(len(seconds) * 0.95)] * 1000, 2),
    }


def _group_member_token(cloud: LoopbackCloud, admin: str) -> str | None:
    """A token of a user whose only role on project ``demo`` is its group's, or None."""
    base, headers = cloud.settings.auth_url, {"X-Auth-Token": admin}
    group = httpx.post(f"{base}/groups", headers=headers, json={"group": {"name": "g"}})
    if group.status_code != 201:
        return None
    user = httpx.post(
        f"{base}/users", headers=headers, json={"user": {"name": "via", "password": "pw-via"}}
    ).json()["user"]
    project = httpx.get(f"{base}/projects", headers=headers, params={"name": "demo"})
    role = httpx.get(f"{base}/roles", headers=headers, params={"name": "member"})
    gid, pid = group.json()["group"]["id"], project.json()["projects"][0]["id"]
    httpx.put(f"{base}/groups/{gid}/users/{user['id']}", headers=headers)
    rid = role.json()["roles"][0]["id"]
    httpx.put(f"{base}/projects/{pid}/groups/{gid}/roles/{rid}", headers=headers)
    return cloud_token(cloud, "via", "pw-via", "demo")


def cloud_token(cloud: LoopbackCloud, user: str, password: str, project: str) -> str:
    scope = {"project": {"name": project, "domain": {"id": "default"}}}
    ref = {"name": user, "domain": {"id": "default"}, "password": password}
    identity = {"methods": ["password"], "password": {"user": ref}}
    body = {"auth": {"identity": identity, "scope": scope}}
    issued = httpx.post(f"{cloud.settings.auth_url}/auth/tokens", json=body)
    assert issued.status_code == 201, issued.text
    return issued.headers["X-Subject-Token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        with loopback_cloud(url, Path(tmp)) as cloud:
            admin = cloud.session("admin").token
            demo = cloud_token(cloud, "demo", "demo-secret", "demo")
            _timed(cloud, admin, demo, 50)  # warm up
            results["direct role"] = _timed(cloud, admin, demo, args.rounds)
            via = _group_member_token(cloud, admin)
            if via is not None:
                results["role through a group"] = _timed(cloud, admin, via, args.rounds)
    for name, r in results.items():
        print(f"{name:24} median {r['median_ms']:6} ms  p95 {r['p95_ms']:6} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
