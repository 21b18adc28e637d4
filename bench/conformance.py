"""`make conformance`: Tempest 47.0.0, OpenStack's own integration suite, on the groups of
issue 20 against a fresh stack (libvirt's test driver, SQLite; ``--database postgresql``
on a throwaway PostgreSQL cluster, ``make conformance DATABASE=postgresql``).

The stack's processes die with this command, also when it is killed. Tempest's accounts are
provisioned through bootflow's identity API (tests/support/tempest.py). Prints a summary
(passed/failed/skipped per group, each failing test with its first error line) and writes it
to bench/results/conformance.json; Tempest's own log and stestr's output stay in the
workspace (printed at the end).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.postgres import create_database, throwaway_cluster
from tests.support.stack import running_stack, stack_settings
from tests.support.tempest import (
    MAX_WORKERS,
    TestResult,
    first_error_line,
    run_tests,
    write_workspace,
)
from tests.support.tempest_selection import GROUPS, STACK_ENV

RESULTS = Path(__file__).parent / "results" / "conformance.json"


def group_of(test_id: str, groups: dict[str, list[str]]) -> str | None:
    import re

    for name, patterns in groups.items():
        if any(re.search(p, test_id) for p in patterns):
            return name
    return None


def summarize(results: list[TestResult], groups: dict[str, list[str]]) -> dict[str, Any]:
    per_group: dict[str, Counter[str]] = {name: Counter() for name in groups}
    failures: list[dict[str, str]] = []
    for r in results:
        name = group_of(r.id, groups) or "other"
        per_group.setdefault(name, Counter())[r.status] += 1
        if r.status == "fail":
            failures.append({"group": name, "test": r.id, "error": first_error_line(r.detail)})
    totals: Counter[str] = Counter()
    for counts in per_group.values():
        totals.update(counts)
    return {
        "groups": {
            name: {
                "passed": c["success"],
                "failed": c["fail"],
                "skipped": c["skip"],
            }
            for name, c in per_group.items()
        },
        "total": {"passed": totals["success"], "failed": totals["fail"], "skipped": totals["skip"]},
        "failures": sorted(failures, key=lambda f: (f["group"], f["test"])),
        "skips": sorted({first_error_line(r.detail) for r in results if r.status == "skip"} - {""}),
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(f"{'group':32} passed failed skipped")
    for name, c in summary["groups"].items():
        print(f"{name:32} {c['passed']:6} {c['failed']:6} {c['skipped']:7}")
    t = summary["total"]
    print(f"{'total':32} {t['passed']:6} {t['failed']:6} {t['skipped']:7}")
    print(f"duration: {summary['duration_seconds']} s")
    for f in summary["failures"]:
        print(f"FAIL {f['test']}\n     {f['error']}")


@contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    """The stack's database: a SQLite file in its data dir, or one on a PostgreSQL cluster
    of its own (stopped and removed after)."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'bootflow.db'}"
        return
    with throwaway_cluster() as admin:
        yield create_database(admin, "bootflow_conformance")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="kept; default: a new temp dir")
    parser.add_argument("--workers", type=int, default=MAX_WORKERS)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--filter", help="only the tests whose ids match this regex")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bootflow-conformance-"))
    # The stack's data dir, with Tempest's workspace in it.
    data_dir = workdir / "stack"
    workspace = data_dir / "tempest"
    data_dir.mkdir(parents=True, exist_ok=True)
    tests = [p for patterns in GROUPS.values() for p in patterns]
    if args.filter:
        tests = [args.filter]
    started = time.monotonic()
    with (
        database(args.database, data_dir) as url,
        running_stack(stack_settings(data_dir, url), hosts=args.hosts, env=STACK_ENV) as stack,
    ):
        write_workspace(stack.settings, workspace)
        print(f"stack up on {args.database}; Tempest runs in {workspace}", flush=True)
        results = run_tests(workspace, tests, workers=args.workers)
    summary = summarize(results, GROUPS)
    summary["duration_seconds"] = round(time.monotonic() - started, 1)
    summary["database"] = args.database
    summary["workspace"] = str(workspace)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)
    print(f"summary: {args.out}; Tempest's log and stestr's output: {workspace}")


if __name__ == "__main__":
    main()
