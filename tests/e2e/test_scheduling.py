"""Where servers go, end to end through the CLI: counts, server groups, hints, disabled hosts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.stack import TINY_SERVER, RunningStack

pytestmark = pytest.mark.e2e


def create(stack: RunningStack, name: str, *extra: str) -> dict[str, object]:
    result = stack.cli(
        "server",
        "create",
        name,
        *TINY_SERVER,
        "--wait",
        "-f",
        "json",
        *extra,
    )
    body: dict[str, object] = json.loads(result.out)
    return body


def host_of(stack: RunningStack, server_id: object) -> str | None:
    record = stack.instance(str(server_id))
    return record.host if record else None


@pytest.fixture
def cleanup(stack: RunningStack) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    if ids:
        stack.cli("server", "delete", *ids, "--wait")


def test_count_boots_numbered_servers(stack: RunningStack, cleanup: list[str]) -> None:
    result = stack.cli(
        "server",
        "create",
        "cnt",
        *TINY_SERVER,
        "--count",
        "3",
        "--wait",
        "-f",
        "json",
    )
    assert result.code == 0, result.err
    rows = result.json()
    cleanup.extend(r["ID"] for r in rows)
    assert sorted((r["Name"], r["Status"]) for r in rows) == [
        ("cnt-1", "ACTIVE"),
        ("cnt-2", "ACTIVE"),
        ("cnt-3", "ACTIVE"),
    ]


def test_anti_affinity_spreads_members_then_refuses_one_too_many(
    stack: RunningStack, cleanup: list[str]
) -> None:
    group = stack.cli(
        "server", "group", "create", "spread", "--policy", "anti-affinity", "-f", "json"
    ).json()
    hint = f"group={group['id']}"
    first, second = (
        create(stack, "spread-a", "--hint", hint),
        create(stack, "spread-b", "--hint", hint),
    )
    cleanup.extend([str(first["id"]), str(second["id"])])
    assert first["status"] == second["status"] == "ACTIVE"
    assert {host_of(stack, first["id"]), host_of(stack, second["id"])} == {"node1", "node2"}
    third = create(stack, "spread-c", "--hint", hint)
    cleanup.append(str(third["id"]))
    assert third["status"] == "ERROR"
    assert third["fault"]["message"] == (  # type: ignore[index]
        "No valid host was found. 2 hosts; ServerGroupAntiAffinityFilter removed 2."
    )
    members = stack.cli("server", "group", "show", group["id"], "-f", "json").json()["members"]
    assert set(members) == {first["id"], second["id"], third["id"]}


def test_affinity_keeps_members_together(stack: RunningStack, cleanup: list[str]) -> None:
    group = stack.cli(
        "server", "group", "create", "together", "--policy", "affinity", "-f", "json"
    ).json()
    hint = f"group={group['id']}"
    servers = [create(stack, f"together-{i}", "--hint", hint) for i in range(3)]
    cleanup.extend(str(s["id"]) for s in servers)
    assert [s["status"] for s in servers] == ["ACTIVE"] * 3
    assert len({host_of(stack, s["id"]) for s in servers}) == 1


def test_different_host_hint(stack: RunningStack, cleanup: list[str]) -> None:
    anchor = create(stack, "anchor")
    other = create(stack, "away", "--hint", f"different_host={anchor['id']}")
    cleanup.extend([str(anchor["id"]), str(other["id"])])
    assert host_of(stack, anchor["id"]) != host_of(stack, other["id"])


def test_a_disabled_host_gets_no_new_servers(stack: RunningStack, cleanup: list[str]) -> None:
    disabled = stack.admin_cli("host", "disable", "node1", "--reason", "maintenance")
    assert disabled.code == 0, disabled.err
    try:
        listed = stack.admin_cli("host", "list", "-f", "json").json()
        node1 = next(h for h in listed if "node1" in json.dumps(h))
        assert "disabled" in json.dumps(node1).lower()
        servers = [create(stack, f"while-disabled-{i}") for i in range(2)]
        cleanup.extend(str(s["id"]) for s in servers)
        assert [host_of(stack, s["id"]) for s in servers] == ["node2", "node2"]
    finally:
        assert stack.admin_cli("host", "enable", "node1").code == 0


def test_bad_hint_is_a_usage_error(stack: RunningStack) -> None:
    result = stack.cli(
        "server",
        "create",
        "x",
        *TINY_SERVER,
        "--hint",
        "nonsense",
    )
    assert result.code == 2 and "KEY=VALUE" in result.err
