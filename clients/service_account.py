"""The session workers and services use to call each other, as Nova's ``[service_user]``."""

from __future__ import annotations

import httpx

from clients.session import Credentials, Session
from core.config import ServiceAccountOptions


def service_session(settings: ServiceAccountOptions, http: httpx.Client | None = None) -> Session:
    return Session(
        Credentials(
            auth_url=settings.auth_url,
            username=settings.service_username,
            password=settings.service_password.get_secret_value(),
            project_name=settings.service_project,
        ),
        http=http,
    )
