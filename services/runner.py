"""Builds and serves one built-in service: ``bootflow run service <name>``.

Each service is its own process on its own loopback port (as each OpenStack API is), shares
the configured database, and validates tokens with identity using the service account.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Final

import uvicorn
from fastapi import FastAPI

from clients.service_account import service_session
from core.config import EndpointOptions, Settings
from core.faults import FaultPlan
from db.session import SessionFactory, make_engine, make_session_factory
from services.common.auth import TokenValidator
from services.common.faults import HttpFaults

# name -> (module with create_app(settings, sessions, validator), settings attribute of its port)
SERVICES: Final[dict[str, tuple[str, str]]] = {
    "identity": ("services.identity.app", "identity_port"),
    "image": ("services.image.app", "image_port"),
    "network": ("services.network.app", "network_port"),
    "volume": ("services.volume.app", "volume_port"),
    "compute": ("services.compute.app", "compute_port"),
}


def build_app(name: str, settings: Settings, sessions: SessionFactory | None = None) -> FastAPI:
    if sessions is None:
        sessions = make_session_factory(
            make_engine(settings.db_url, pool_size=settings.database_pool_size)
        )
    module_name, _port = SERVICES[name]
    module = importlib.import_module(module_name)
    if name == "identity":
        app: FastAPI = module.create_identity_app(settings, sessions)
    else:
        validator = TokenValidator(service_session(settings), settings.token_cache_seconds)
        factory: Callable[[Settings, SessionFactory, TokenValidator], FastAPI] = module.create_app
        app = factory(settings, sessions, validator)
    if f'"http:{name}"' in settings.fault_plan:
        app.add_middleware(HttpFaults, plan=FaultPlan.from_json(settings.fault_plan), service=name)
    return app


def port_of(name: str, settings: EndpointOptions) -> int:
    port: int = getattr(settings, SERVICES[name][1])
    return port


def serve(name: str, settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = build_app(name, settings)
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=port_of(name, settings),
        log_level="info",
        # Keep-alive well past clients' pool idle time, so reused connections aren't cut.
        timeout_keep_alive=30,
    )
