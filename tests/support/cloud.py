"""A cloud on loopback for service contract tests: identity bootstrapped with an admin, a
service account and two ordinary projects, and whichever services a test asks for, each
served over real HTTP from this process; any of them can be stopped for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from clients.session import Credentials, Session
from core.codec import new_key as new_codec_key
from core.config import Settings
from db.session import SessionFactory, make_engine, make_session_factory
from services.identity.bootstrap import EndpointSeed, UserSeed, bootstrap
from services.identity.tokens import new_key as new_token_key
from services.runner import SERVICES, build_app
from tests.support.net import free_port
from tests.support.servers import serving

PASSWORDS = {
    "admin": "admin-secret",
    "bootflow": "service-secret",
    "demo": "demo-secret",
    "alt": "alt-secret",
}
USERS = [
    UserSeed("admin", PASSWORDS["admin"], "admin", ("admin",)),
    UserSeed("bootflow", PASSWORDS["bootflow"], "service", ("admin",)),
    UserSeed("demo", PASSWORDS["demo"], "demo", ("member",)),
    UserSeed("alt", PASSWORDS["alt"], "alt", ("member",)),
]
SERVICE_TYPES = {
    "identity": ("identity", "keystone", "/v3"),
    "image": ("image", "glance", ""),
    "network": ("network", "neutron", ""),
    "volume": ("volumev3", "cinderv3", "/v3"),
    "compute": ("compute", "nova", "/v2.1"),
}


@dataclass
class LoopbackCloud:
    settings: Settings
    sessions: SessionFactory
    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)
    _servers: dict[str, ExitStack] = field(default_factory=dict)

    def serve(self, name: str) -> None:
        port = getattr(self.settings, SERVICES[name][1])
        server = ExitStack()
        self.urls[name] = server.enter_context(serving(self.apps[name], port))
        self._servers[name] = server

    @contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        """Service ``name`` down for the block (its port closed, as a killed process's),
        then serving again on the same port."""
        self._servers.pop(name).close()
        try:
            yield
        finally:
            self.serve(name)

    def close(self) -> None:
        for server in self._servers.values():
            server.close()

    def session(self, user: str = "demo") -> Session:
        project = {"admin": "admin", "bootflow": "service", "demo": "demo", "alt": "alt"}[user]
        return Session(Credentials(self.settings.auth_url, user, PASSWORDS[user], project))

    def unscoped_token(self, user: str = "drifter") -> str:
        """A token of a new ``user`` with no role anywhere: Keystone leaves it unscoped."""
        admin = self.session("admin")
        try:
            body = {"user": {"name": user, "password": f"{user}-secret"}}
            admin.request("identity", "POST", "users", json=body)
        finally:
            admin.close()
        password = {
            "user": {"name": user, "domain": {"id": "default"}, "password": f"{user}-secret"}
        }
        auth = {"identity": {"methods": ["password"], "password": password}}
        issued = httpx.post(f"{self.settings.auth_url}/auth/tokens", json={"auth": auth})
        assert issued.status_code == 201 and "project" not in issued.json()["token"]
        return issued.headers["X-Subject-Token"]


def cloud_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    ports = {attr: free_port() for _mod, attr in SERVICES.values()}
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        service_password=SecretStr(PASSWORDS["bootflow"]),
        codec_key=SecretStr(new_codec_key()),
        token_key=SecretStr(new_token_key()),
        **ports,  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )


def bootstrap_identity(settings: Settings, sessions: SessionFactory) -> None:
    endpoints = []
    for name, (stype, sname, suffix) in SERVICE_TYPES.items():
        port = getattr(settings, SERVICES[name][1])
        endpoints.append(EndpointSeed(stype, sname, f"{settings.url(port)}{suffix}"))
    bootstrap(sessions, USERS, endpoints, settings.region)


@contextmanager
def loopback_cloud(
    database_url: str,
    data_dir: Path,
    services: tuple[str, ...] = ("identity",),
    **settings_overrides: object,
) -> Iterator[LoopbackCloud]:
    settings = cloud_settings(database_url, data_dir, **settings_overrides)
    engine = make_engine(settings.db_url)
    sessions = make_session_factory(engine)
    bootstrap_identity(settings, sessions)
    cloud = LoopbackCloud(settings, sessions)
    try:
        for name in ("identity", *[s for s in services if s != "identity"]):
            cloud.apps[name] = build_app(name, settings, sessions)
            cloud.serve(name)
        yield cloud
    finally:
        cloud.close()
        engine.dispose()
