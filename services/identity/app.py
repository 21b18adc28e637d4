"""The identity service: Keystone v3's token, domain, project, user, group and role API
subset."""

from __future__ import annotations

from fastapi import FastAPI

from core.config import Settings
from db.session import SessionFactory
from services.common.app import create_app
from services.common.auth import TokenValidator
from services.identity import (
    auth,
    deletion,
    domains,
    grants,
    groups,
    projects,
    role_admin,
    role_assignments,
    roles,
    scopes,
    users,
    versions,
)
from services.identity.accounts import Identity
from services.identity.errors import keystone_error


def create_identity_app(settings: Settings, sessions: SessionFactory) -> FastAPI:
    """The app: identity validates its own callers' tokens, without asking itself by HTTP."""
    app = create_app("identity", keystone_error)
    identity = Identity(settings, sessions)
    app.state.identity = identity
    app.state.sessions = sessions
    app.state.token_validator = TokenValidator(
        None, cache_seconds=0, validate_locally=identity.context
    )
    for module in (
        versions,
        auth,
        scopes,
        projects,
        users,
        roles,
        role_admin,
        deletion,
        domains,
        groups,
        grants,
        role_assignments,
    ):
        app.include_router(module.router)
    return app
