"""The inner session of test_real_guests.py's kill test (run by path: not a test_*.py, so
the suite does not collect it). It holds the libvirtd fixtures (tests/e2e/conftest.py); if
they started the daemons, it starts a guest under them too (a QEMU with nothing to boot). It
writes the pids of what they started, and the guest's name, to the file
$BOOTFLOW_TEST_HOLD_FILE names, and waits to be killed."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import libvirt

from tests.e2e.held_session import HOLD_FILE
from tests.support.libvirtd import Daemons

GUEST = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>"""


def test_hold(libvirt_daemons: Daemons | None, libvirtd: libvirt.virConnect) -> None:
    guest = None
    if libvirt_daemons is not None:  # never a guest in a libvirtd found running: it would stay
        guest = f"held-{uuid.uuid4().hex[:8]}"
        libvirtd.createXML(GUEST.format(name=guest), 0)
    started = libvirt_daemons.processes() if libvirt_daemons is not None else []
    hold = Path(os.environ[HOLD_FILE])
    held = {"started": [p.pid for p in started], "guest": guest}
    hold.with_suffix(".part").write_text(json.dumps(held))
    hold.with_suffix(".part").rename(hold)  # whole, or not there
    time.sleep(900)
