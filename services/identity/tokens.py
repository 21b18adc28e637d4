"""Tokens: Fernet-sealed (AES-CBC + HMAC) payloads, as Keystone's Fernet provider issues.

Only identity holds the key, so a forged or altered token fails to unseal; a revoked
token fails at once because validation checks its audit id against the revocations.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken


class TokenError(Exception):
    """The token is malformed, forged, altered or expired."""


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    project_id: str
    methods: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    # The audit id of the token this one was rescoped from (Keystone's audit chain).
    parent_audit_id: str = ""
    # A domain-scoped token's domain (its project_id is then "").
    domain_id: str = ""

    @property
    def audit_ids(self) -> list[str]:
        return [self.audit_id, self.parent_audit_id] if self.parent_audit_id else [self.audit_id]


def new_key() -> str:
    return Fernet.generate_key().decode()


def _audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class TokenProvider:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._fernet = Fernet(key.encode())
        self._ttl = timedelta(seconds=ttl_seconds)

    def issue(
        self,
        user_id: str,
        project_id: str,
        methods: tuple[str, ...],
        rescoped: TokenPayload | None = None,
        domain_id: str = "",
    ) -> tuple[str, TokenPayload]:
        """A new token, scoped to ``project_id``, ``domain_id`` or neither; one ``rescoped``
        from another keeps its expiry and audit chain."""
        now = datetime.now(UTC).replace(microsecond=0)
        expires = rescoped.expires_at if rescoped else now + self._ttl
        parent = rescoped.audit_ids[-1] if rescoped else ""
        payload = TokenPayload(
            user_id, project_id, methods, now, expires, _audit_id(), parent, domain_id
        )
        sealed = self._fernet.encrypt(
            json.dumps(
                {
                    "u": payload.user_id,
                    "p": payload.project_id,
                    "m": list(payload.methods),
                    "i": int(payload.issued_at.timestamp()),
                    "e": int(payload.expires_at.timestamp()),
                    "a": payload.audit_id,
                    "c": payload.parent_audit_id,
                    "d": payload.domain_id,
                },
                separators=(",", ":"),
            ).encode()
        )
        return sealed.decode(), payload

    def unpack(self, token: str) -> TokenPayload:
        try:
            raw = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise TokenError("The token is invalid.") from exc
        payload = TokenPayload(
            user_id=raw["u"],
            project_id=raw["p"],
            methods=tuple(raw["m"]),
            issued_at=datetime.fromtimestamp(raw["i"], UTC),
            expires_at=datetime.fromtimestamp(raw["e"], UTC),
            audit_id=raw["a"],
            parent_audit_id=raw.get("c", ""),
            domain_id=raw.get("d", ""),
        )
        if payload.expires_at <= datetime.now(UTC):
            raise TokenError("The token has expired.")
        return payload


def isotime(value: datetime) -> str:
    """Keystone's timestamp format: ISO 8601, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
