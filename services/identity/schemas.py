"""Keystone's request bodies, validated; anything malformed is a 400."""

from __future__ import annotations

from pydantic import BaseModel, Field

from db.models.identity import DEFAULT_DOMAIN_ID

# Keystone's names: at least one character that is not whitespace.
NAME_PATTERN = r"\S"


def boolean_word(value: str) -> bool:
    """Keystone's boolean query filters (``?enabled=``): anything but a false word is true."""
    return value.lower() not in ("0", "false", "f", "no", "n", "off")


class DomainRef(BaseModel):
    id: str | None = None
    name: str | None = None


class UserRef(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None
    password: str


class PasswordMethod(BaseModel):
    user: UserRef


class TokenMethod(BaseModel):
    id: str = Field(min_length=1, max_length=4096)


class IdentityBody(BaseModel):
    methods: list[str] = Field(max_length=2)
    password: PasswordMethod | None = None
    token: TokenMethod | None = None


class ProjectRef(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class ScopeBody(BaseModel):
    project: ProjectRef | None = None
    domain: DomainRef | None = None


class AuthBody(BaseModel):
    identity: IdentityBody
    scope: ScopeBody | None = None


class AuthRequest(BaseModel):
    auth: AuthBody


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    enabled: bool = True


class NewProjectRequest(BaseModel):
    project: NewProject


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1)
    domain_id: str = DEFAULT_DOMAIN_ID
    default_project_id: str | None = None
    enabled: bool = True


class NewUserRequest(BaseModel):
    user: NewUser
