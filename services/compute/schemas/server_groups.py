"""``POST /os-server-groups``: Nova's ``schemas/server_groups.py``, per microversion. Before
2.64 a one-item ``policies`` list; from 2.64 one ``policy`` and its ``rules``; the soft
policies from 2.15."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, model_validator

from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.schemas.base import (
    BodyError,
    NovaObject,
    checked,
    holding,
    invalid,
    one_of,
    positive_integer,
    text,
)

POLICIES: Final = ("anti-affinity", "affinity")
SOFT_POLICIES: Final = ("soft-anti-affinity", "soft-affinity")


def _unpadded(name: str) -> str:
    if name != name.strip():
        raise invalid("name", name, "The name must not start or end with whitespace.")
    return name


def _policies(allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, list) or len(value) != 1 or value[0] not in allowed:
            reason = f"{value!r} is not a one-item list of one of {list(allowed)}"
            raise invalid("policies", value, reason)
        return str(value[0])

    return checked(check)


class ServerGroupV21(NovaObject):
    where: ClassVar[str] = "server_group"
    required: ClassVar[tuple[str, ...]] = ("name", "policies")

    name: Annotated[str, text("name", min_length=1), AfterValidator(_unpadded)]
    # The one policy (Nova's list of one).
    policies: Annotated[str, _policies(POLICIES)]


class ServerGroupV215(ServerGroupV21):
    policies: Annotated[str, _policies(POLICIES + SOFT_POLICIES)]


class Rules(NovaObject):
    where: ClassVar[str] = "rules"

    max_server_per_host: Annotated[int | None, positive_integer("max_server_per_host")] = None


class ServerGroupV264(NovaObject):
    where: ClassVar[str] = "server_group"
    required: ClassVar[tuple[str, ...]] = ("name", "policy")

    name: Annotated[str, text("name", min_length=1), AfterValidator(_unpadded)]
    policy: Annotated[str, one_of("policy", POLICIES + SOFT_POLICIES)]
    rules: Rules = Rules()

    @model_validator(mode="after")
    def _rules_need_anti_affinity(self) -> ServerGroupV264:
        if self.rules.model_fields_set and self.policy != "anti-affinity":
            raise BodyError("Only anti-affinity policy supports rules.")
        return self


class CreateServerGroup(NovaObject):
    """The body: ``server_group`` (Nova's plain words when it is missing; other keys are
    ignored)."""

    additional: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _object_rules(cls, data: Any) -> Any:
        return holding(data, "server_group")


class CreateV21(CreateServerGroup):
    server_group: ServerGroupV21


class CreateV215(CreateServerGroup):
    server_group: ServerGroupV215


class CreateV264(CreateServerGroup):
    server_group: ServerGroupV264


def create_schema(version: ApiVersion) -> type[CreateV21 | CreateV215 | CreateV264]:
    if version.at_least(mv.GROUP_POLICY):
        return CreateV264
    return CreateV215 if version.at_least(mv.SOFT_AFFINITY) else CreateV21
