"""Tempest 47.0.0's own service clients against a running cloud, one microversion at a time.

Each read goes through the client method Tempest's tests call, which checks the status and
the microversion header and validates the body with the schema it picks for that
microversion (its ``schema_versions_info``). A sweep collects every failure instead of
stopping at the first, so one run shows all of them, grouped by route and error with the
microversions each happened at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from tempest.lib import auth, exceptions
from tempest.lib.common import api_version_request
from tempest.lib.services.compute import base_compute_client
from tempest.lib.services.volume import base_client as volume_base_client

from core.config import Settings
from db.migrate import upgrade
from services.runner import build_app

Call = Callable[[], object]


def microversions(major: int, first: int, last: int) -> list[str]:
    """``major.first`` .. ``major.last``, every one."""
    return [f"{major}.{minor}" for minor in range(first, last + 1)]


def at_least(version: str, other: str) -> bool:
    wanted = api_version_request.APIVersionRequest(version)
    return bool(wanted >= api_version_request.APIVersionRequest(other))


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    project_name: str


def auth_provider(auth_url: str, account: Account) -> auth.KeystoneV3AuthProvider:
    """What Tempest's clients authenticate with: a project-scoped Keystone v3 password."""
    credentials = auth.get_credentials(
        auth_url,
        identity_version="v3",
        username=account.username,
        password=account.password,
        project_name=account.project_name,
        user_domain_name="Default",
        project_domain_name="Default",
    )
    provider = auth.KeystoneV3AuthProvider(credentials, auth_url)
    provider.fill_credentials()  # the provider's own copy of the ids (project_id, user_id)
    return provider


@contextmanager
def _swapped(module: Any, name: str, value: object) -> Iterator[None]:
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def compute_microversion(version: str | None) -> AbstractContextManager[None]:
    """Tempest's compute clients send and check ``version`` (its fixture sets this global)."""
    return _swapped(base_compute_client, "COMPUTE_MICROVERSION", version)


def volume_microversion(version: str | None) -> AbstractContextManager[None]:
    return _swapped(volume_base_client, "VOLUME_MICROVERSION", version)


@dataclass
class Read:
    """The calls that read ``route``; outside ``since``..``until`` (exclusive) the route does
    not exist at that microversion, so each call must be the service's 404 instead.
    ``asks_from``: the calls pass query parameters the route has from that microversion
    on, so they are made from there only."""

    route: str
    calls: Sequence[Call]
    since: str | None = None
    until: str | None = None
    asks_from: str | None = None

    def exists_at(self, version: str) -> bool:
        after_start = self.since is None or at_least(version, self.since)
        return after_start and (self.until is None or not at_least(version, self.until))


def get_routes(name: str, data_dir: Path) -> set[str]:
    """Every path service ``name`` answers GET on (as its OpenAPI document lists them), from
    an app built on a database of its own: building one may write to its database."""
    url = f"sqlite:///{data_dir / 'routes.db'}"
    upgrade(url)
    app = build_app(name, Settings(database_url=url, data_dir=data_dir))
    return {path for path, operations in app.openapi()["paths"].items() if "get" in operations}


def describe(error: BaseException) -> str:
    """One line: a schema failure's path and message, else the error's type and text."""
    cause = error.__context__
    if isinstance(error, exceptions.InvalidHTTPResponseBody) and isinstance(
        cause, jsonschema.ValidationError
    ):
        where = "/".join(str(p) for p in cause.absolute_path) or "(body)"
        return f"schema: {where}: {cause.message[:200]}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def _ranges(versions: list[str]) -> str:
    """ "2.1-2.52, 2.60": consecutive minors joined (versions are in sweep order)."""
    spans: list[list[str]] = []
    for version in versions:
        if spans and _next(spans[-1][-1]) == version:
            spans[-1].append(version)
        else:
            spans.append([version])
    return ", ".join(s[0] if len(s) == 1 else f"{s[0]}-{s[-1]}" for s in spans)


def _next(version: str) -> str:
    major, _, minor = version.partition(".")
    return f"{major}.{int(minor) + 1}" if minor.isdigit() else ""


def _key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return (int(major), int(minor)) if minor.isdigit() else (0, 0)


@dataclass
class Sweep:
    """Failures found so far: (route, error) -> the microversions it happened at. One
    microversion's calls run on a few threads (Tempest's microversion is a global, the
    same for all of them), so the client's checks overlap the services' answers."""

    workers: int = 4
    failures: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, read: Read, version: str | None, call: Call) -> None:
        try:
            if version is None or read.exists_at(version):
                call()
            else:
                self._gone(call)
            found = None
        except Exception as error:  # every failure is a finding
            found = describe(error)
        with self._lock:
            self.calls += 1
            if found is not None:
                self.failures.setdefault((read.route, found), []).append(version or "-")

    @staticmethod
    def _gone(call: Call) -> None:
        try:
            call()
        except exceptions.NotFound:
            return
        raise AssertionError("answered at a microversion that does not have the route")

    def run(self, reads: Sequence[Read], version: str | None) -> None:
        jobs = [
            (read, call)
            for read in reads
            if version is None or read.asks_from is None or at_least(version, read.asks_from)
            for call in read.calls
        ]
        with ThreadPoolExecutor(self.workers) as pool:
            for done in [pool.submit(self.check, read, version, call) for read, call in jobs]:
                done.result()

    def report(self) -> str:
        return "\n".join(
            f"{route} at {_ranges(sorted(versions, key=_key))}: {error}"
            for (route, error), versions in sorted(self.failures.items())
        )


def fetched(response: Any, key: str) -> list[dict[str, Any]]:
    """A Tempest ResponseBody's list under ``key``."""
    items: list[dict[str, Any]] = response[key]
    return items
