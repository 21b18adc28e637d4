"""What every command needs: settings, credentials, and the clients built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from bootflow.seed import read_openrc
from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from core.config import Settings, load_settings


class CliError(click.ClickException):
    """A failure to report as one line and exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)


@dataclass
class CliContext:
    data_dir: Path | None
    debug: bool
    os_options: dict[str, str | None] = field(default_factory=dict)
    _settings: Settings | None = None
    _session: Session | None = None

    def use_data_dir(self, data_dir: Path) -> None:
        """The data dir a subcommand was given (it wins over one given before it)."""
        self.data_dir = data_dir
        self._settings = None
        self._session = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.data_dir)
        return self._settings

    def credentials(self) -> Credentials:
        """From --os-* flags or OS_* variables; else the data dir's openrc (its demo user)."""
        opts = dict(self.os_options)
        if not (opts.get("auth_url") and opts.get("username")):
            openrc = self.settings.data_dir / "openrc"
            if not openrc.exists():
                raise CliError(
                    "no credentials: set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and "
                    "OS_PROJECT_NAME (source an openrc), or start a stack with `bootflow up`"
                )
            env = read_openrc(openrc)
            opts = {
                "auth_url": env.get("OS_AUTH_URL"),
                "username": env.get("OS_USERNAME"),
                "password": env.get("OS_PASSWORD"),
                "project_name": env.get("OS_PROJECT_NAME"),
                "user_domain_name": env.get("OS_USER_DOMAIN_NAME"),
                "project_domain_name": env.get("OS_PROJECT_DOMAIN_NAME"),
            } | {k: v for k, v in opts.items() if v}
        missing = [k for k in ("password", "project_name") if not opts.get(k)]
        if missing:
            names = ", ".join(f"OS_{k.upper()}" for k in missing)
            raise CliError(f"incomplete credentials: set {names}")
        return Credentials(
            auth_url=str(opts["auth_url"]),
            username=str(opts["username"]),
            password=str(opts["password"]),
            project_name=str(opts["project_name"]),
            user_domain_name=opts.get("user_domain_name") or "Default",
            project_domain_name=opts.get("project_domain_name") or "Default",
        )

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(self.credentials(), region=self.os_options.get("region_name"))
        return self._session

    @property
    def compute(self) -> ComputeClient:
        return ComputeClient(self.session)

    @property
    def images(self) -> ImageClient:
        return ImageClient(self.session)

    @property
    def networks(self) -> NetworkClient:
        return NetworkClient(self.session)


pass_context = click.make_pass_decorator(CliContext)
