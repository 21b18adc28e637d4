"""Record workflow histories for the replay tests (run on demand, not by the suite).

    .venv/bin/python -m tests.histories.record v4   (the next unused label)

Starts a throwaway stack, runs a successful boot (with a volume), a boot whose spawn
fails everywhere (compensated), a boot rescheduled from a failing host to another, and a
delete, and writes each history, still encrypted, to
``tests/histories/<label>-<kind>.json``. The stack's payload key goes into
``tests/histories/codec-keys.json`` ({key id: key}), test-only keys for the replay test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from bootflow.seed import stored_secret
from bootflow.temporal import connect
from tests.e2e.conftest import FAULT_PLAN
from tests.support.stack import TINY_SERVER, RunningStack, running_stack, stack_settings

HERE = Path(__file__).parent
KEYS = HERE / "codec-keys.json"


async def fetch(stack: RunningStack, workflow_id: str) -> dict[str, object]:
    client = await connect(stack.settings)
    return (await client.get_workflow_handle(workflow_id).fetch_history()).to_json_dict()


def boot(stack: RunningStack, name: str, *extra: str) -> str:
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
    return str(json.loads(result.out)["id"])


def main(label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
        with running_stack(settings, hosts=2, env={"BOOTFLOW_FAULT_PLAN": FAULT_PLAN}) as stack:
            ok = boot(stack, "replay-ok", "--volume-size", "1")
            failed = boot(stack, "replay-failspawn", "--volume-size", "1")
            # node1 first (node2 "failed lately"); its spawn fails; the boot moves to node2.
            stack.set_failed_builds("node2", 1)
            moved = boot(stack, "replay-reschedule")
            stack.cli("server", "delete", ok, "--wait")
            runs = {
                "boot-active": f"boot-{ok}",
                "boot-compensated": f"boot-{failed}",
                "boot-rescheduled": f"boot-{moved}",
                "delete": f"delete-{ok}",
            }
            for kind, workflow_id in runs.items():
                history = asyncio.run(fetch(stack, workflow_id))
                (HERE / f"{label}-{kind}.json").write_text(json.dumps(history, indent=1) + "\n")
            keys = json.loads(KEYS.read_text()) if KEYS.exists() else {}
            keys[stack.settings.codec_key_id] = stored_secret(stack.settings, "codec_key")
            KEYS.write_text(json.dumps(keys, indent=1, sort_keys=True) + "\n")
    print(f"recorded {', '.join(runs)} as {label}-*.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "v1")
