"""A throwaway PostgreSQL cluster on a loopback port, for the suite's PostgreSQL runs.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(its directory chowned to it); as anyone else it belongs to that user. The postmaster is
this process's own child (not ``pg_ctl start``, which detaches it), so it dies with the
test process even when that is SIGKILLed; its backends end when it does. A test can stop
and start it again (``cluster_stopped``, ``restart_cluster``), as an operator's ``pg_ctl``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bootflow import lifetime
from tests.support.cleanup import when_this_process_ends
from tests.support.net import free_port

START_TIMEOUT = 60.0


def _as_owner() -> dict[str, Any]:
    """``subprocess`` arguments that run a command as the cluster's owner."""
    return {"user": "postgres"} if os.geteuid() == 0 else {}


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")


class _Cluster:
    """A postmaster this process started, and how to start it again on the same port."""

    def __init__(self, argv: list[str], root: Path, url: str) -> None:
        self.argv = argv
        self.root = root
        self.url = url
        self.postmaster: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.root / "log", "ab") as log:
            self.postmaster = lifetime.spawn(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **_as_owner()
            )
        _await_ready(self.postmaster, self.url, self.root / "log")

    def stop(self, signum: signal.Signals) -> None:
        """SIGINT: a fast shutdown (what ``pg_ctl -m fast`` sends: sessions are ended, then
        a checkpoint); SIGQUIT: an immediate one."""
        if self.postmaster is None:
            return
        self.postmaster.send_signal(signum)
        try:
            self.postmaster.wait(30)
        except subprocess.TimeoutExpired:
            self.postmaster.kill()
            self.postmaster.wait()
        self.postmaster = None


# The clusters this process runs, by their superuser URL.
_clusters: dict[str, _Cluster] = {}


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster; yield a superuser URL (``postgresql+psycopg://...``); remove it after."""
    root = Path(tempfile.mkdtemp(prefix="bootflow-pg-"))
    data = root / "data"
    port = free_port()
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o755)
    with when_this_process_ends(["rm", "-rf", str(root)]):
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            preexec_fn=lifetime.die_with_parent(),
            **_as_owner(),
        )
        # fmt: off
        argv = [
            _pg_bin("postgres"), "-D", str(data),
            "-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(root),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=300",
        ]
        # fmt: on
        cluster = _Cluster(argv, root, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        _clusters[cluster.url] = cluster
        try:
            cluster.start()
            yield cluster.url
        finally:
            del _clusters[cluster.url]
            # Immediate shutdown: a throwaway cluster needs no checkpoint.
            cluster.stop(signal.SIGQUIT)


@contextmanager
def cluster_stopped(admin_url: str) -> Iterator[None]:
    """The cluster of ``admin_url`` (one ``throwaway_cluster`` started) shut down as
    ``pg_ctl stop -m fast`` does, for the block; started again, on the same port, after."""
    cluster = _clusters[admin_url]
    cluster.stop(signal.SIGINT)
    try:
        yield
    finally:
        cluster.start()


def restart_cluster(admin_url: str) -> None:
    """What ``pg_ctl restart -m fast`` does: every session is ended, the server comes back."""
    with cluster_stopped(admin_url):
        pass


def _await_ready(postmaster: subprocess.Popen[bytes], url: str, log: Path) -> None:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if postmaster.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {log}") from None
            time.sleep(0.1)


def create_database(admin_url: str, name: str) -> str:
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
