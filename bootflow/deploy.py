"""What a deployment does once, outside ``bootflow up``: ``bootflow init``.

``bootflow up`` migrates, seeds and registers search attributes itself, with secrets it
generates into its data dir. A deployment (docs/deploy.md, docker-compose.yml) runs its
processes on several machines from environment variables instead, and does those steps
with ``bootflow init``: ``database`` (migrations, then identity's first users, projects,
roles and catalog, and the flavors), ``temporal`` (the search attributes) and, once identity,
image and network answer, ``cloud`` (the default image and the demo network, and ``openrc``).
Each step is the same code ``up`` runs (``bootflow.seed``), and safe to run again.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from temporalio.service import RPCError

from bootflow import seed
from clients.errors import ConnectionFailed, HttpError
from core.codec import new_key as new_codec_key
from core.config import SECRETS_FILE, Settings, write_json_private
from core.temporal import ensure_search_attributes, run_once
from db.migrate import current
from services.identity.tokens import new_key as new_token_key

log = logging.getLogger("bootflow.deploy")

STEPS = ("database", "temporal", "cloud")
DEFAULT_STEPS = ("database", "temporal")

T = TypeVar("T")


class DeployError(RuntimeError):
    """A step cannot run; the message says what is missing."""


def new_secrets() -> dict[str, str]:
    """Fresh values for everything a deployment's processes must agree on, as variables."""
    return {
        "BOOTFLOW_CODEC_KEY": new_codec_key(),
        "BOOTFLOW_CODEC_KEY_ID": f"k-{secrets.token_hex(4)}",
        "BOOTFLOW_TOKEN_KEY": new_token_key(),
        "BOOTFLOW_SERVICE_PASSWORD": secrets.token_urlsafe(24),
        "BOOTFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "BOOTFLOW_DEMO_PASSWORD": secrets.token_urlsafe(12),
        "BOOTFLOW_DEPLOYMENT_ID": f"d-{secrets.token_hex(4)}",
        # docker-compose.yml's PostgreSQL roles.
        "BOOTFLOW_DB_PASSWORD": secrets.token_urlsafe(18),
        "TEMPORAL_DB_PASSWORD": secrets.token_urlsafe(18),
    }


def env_file(values: dict[str, str]) -> str:
    head = (
        "# bootflow deployment secrets (`bootflow init --new-secrets`). Every process reads\n"
        "# these; keep the file private, and keep it: a lost codec key makes old workflow\n"
        "# payloads unreadable. docker compose reads it as .env beside docker-compose.yml.\n"
    )
    return head + "".join(f"{k}={v}\n" for k, v in values.items())


def _require(settings: Settings, step: str, *names: str) -> None:
    missing = [n for n in names if not getattr(settings, n).get_secret_value()]
    if missing:
        variables = ", ".join(f"BOOTFLOW_{n.upper()}" for n in missing)
        raise DeployError(
            f"{step}: set {variables} (every process of the deployment uses the same; "
            "`bootflow init --new-secrets` makes a set)"
        )


def keep_first_passwords(settings: Settings) -> Path:
    """The admin and demo users' passwords, in the data dir's secrets.json where the seed
    reads them: the given ones (BOOTFLOW_ADMIN_PASSWORD, BOOTFLOW_DEMO_PASSWORD), else the
    ones stored by an earlier run, else new ones."""
    path = settings.data_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for key in ("admin_password", "demo_password"):
        given = getattr(settings, key).get_secret_value()
        if given:
            stored[key] = given
        elif not stored.get(key):
            stored[key] = secrets.token_urlsafe(16)
    write_json_private(path, stored)
    return path


def init_database(settings: Settings) -> str | None:
    """Migrate to the latest schema, then seed identity and the flavors; the revision."""
    _require(settings, "database", "service_password")
    keep_first_passwords(settings)
    seed.migrate_and_seed(settings)
    return current(settings.db_url)


def _not_up_yet(exc: Exception) -> bool:
    if isinstance(exc, HttpError):
        return exc.transient
    # A Temporal client that cannot connect raises RuntimeError; a namespace still being
    # created answers NotFound (RPCError).
    return isinstance(exc, ConnectionFailed | RPCError | OSError | RuntimeError)


def _retrying(what: str, wait: float, attempt: Callable[[], T]) -> T:
    """``attempt()``, tried again for up to ``wait`` seconds while what it needs is not up."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except DeployError:
            raise
        except Exception as exc:
            if not _not_up_yet(exc) or time.monotonic() > deadline:
                raise DeployError(f"{what}: {exc}") from exc
            log.info("%s is not ready (%s); retrying", what, exc)
            time.sleep(1.0)


def init_temporal(settings: Settings, wait: float = 60.0) -> list[str]:
    """Register the search attributes on the namespace; the names it added."""
    _require(settings, "temporal", "codec_key")
    return _retrying(
        f"Temporal at {settings.temporal_address}",
        wait,
        lambda: run_once(ensure_search_attributes(settings)),
    )


def init_cloud(settings: Settings, wait: float = 60.0) -> Path:
    """The default image and the demo network through the services' APIs, then openrc."""
    stored = settings.data_dir / SECRETS_FILE
    if not settings.admin_password.get_secret_value() and not stored.exists():
        raise DeployError(
            "cloud: set BOOTFLOW_ADMIN_PASSWORD, or run `bootflow init` (the database step) "
            "on this data dir first"
        )
    keep_first_passwords(settings)
    _retrying(f"the services behind {settings.auth_url}", wait, lambda: seed.seed_cloud(settings))
    return seed.write_openrc(settings)
