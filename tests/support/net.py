from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import httpx

# Ports handed out by this process, never handed out twice before their servers bind them.
_GIVEN: set[int] = set()
_LOWEST = 10_000  # clear of the well-known and registered defaults (5432, 7233, 8233...)


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range.

    A port bound to 0 and released comes from that range, where any outgoing connection
    (a client, a gRPC channel) may take it as its local port before the server binds it;
    the server then fails with "address in use". Below the range only a listener can."""
    highest = _ephemeral_floor()
    for _ in range(1000):
        port = random.randrange(_LOWEST, highest)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.05)
