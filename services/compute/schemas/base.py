"""Parameter types and the object rules of Nova's JSON schemas, as pydantic validators that
refuse with Nova's messages (``Invalid input for field/attribute <field>. Value: <value>.
<reason>``), and ``validated``, which turns the first refusal into Nova's 400.

Each type names the JSON key its message names, as Nova's validator does; a model checks
its own keys (``additionalProperties: False``) and required keys before its fields, in
the order the model declares them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from core.validation import is_uuid
from services.common.app import ApiError

__all__ = ["is_uuid"]

# The words Nova (oslo's bool_from_string) takes for true and false.
TRUE_WORDS: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_WORDS: Final = frozenset({"0", "f", "false", "off", "n", "no"})

ModelT = TypeVar("ModelT", bound=BaseModel)


class BodyError(ValueError):
    """A body that breaks its schema, with the whole 400 message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid_message(field: str, value: Any, reason: str) -> str:
    return f"Invalid input for field/attribute {field}. Value: {value}. {reason}"


def invalid(field: str, value: Any, reason: str) -> BodyError:
    return BodyError(invalid_message(field, value, reason))


def unexpected(found: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    """The keys of ``found`` outside ``allowed``, sorted."""
    return sorted(set(found) - set(allowed))


def additional_properties(extra: list[str], *, plural: bool = True) -> str:
    names = ", ".join(repr(x) for x in extra)
    verb = "were" if plural and len(extra) > 1 else "was"
    return f"Additional properties are not allowed ({names} {verb} unexpected)"


def validated(model: type[ModelT], body: Any) -> ModelT:
    """``body`` as ``model``, or Nova's 400 with the first refusal in declaration order."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _first_refusal(exc) from None


def _first_refusal(exc: ValidationError) -> ApiError:
    errors = exc.errors()
    for error in errors:
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, BodyError):
            return ApiError(400, cause.message)
    # A pydantic type check no parameter type guards (a schema bug): still a 400 naming it.
    error = errors[0]
    where = next((str(p) for p in reversed(error["loc"]) if isinstance(p, str)), "body")
    return ApiError(400, invalid_message(where, error.get("input"), error["msg"]))


def holding(data: Any, key: str) -> dict[str, Any]:
    """A whole body: an object holding ``key`` (refused in Nova's plain words otherwise)."""
    if not isinstance(data, dict):
        raise BodyError(f"{data!r} is not of type 'object'")
    if key not in data:
        raise BodyError(f"'{key}' is a required property")
    return data


class NovaObject(BaseModel):
    """A JSON object of a Nova schema: only the declared keys (``excluded`` ones refused
    too, for a key a later microversion removes), ``required`` present, else a refusal
    naming ``where`` (the key the object is under)."""

    model_config = ConfigDict(frozen=True)

    where: ClassVar[str] = "body"
    required: ClassVar[tuple[str, ...]] = ()
    # Extra words after "'<key>' is a required property" (how to fix it), by key.
    required_hint: ClassVar[Mapping[str, str]] = {}
    additional: ClassVar[bool] = False
    excluded: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def declared_keys(cls) -> set[str]:
        names = {f.alias or name for name, f in cls.model_fields.items()}
        return names - cls.excluded

    @model_validator(mode="before")
    @classmethod
    def _object_rules(cls, data: Any) -> Any:
        cls.check_shape(data)
        for key in cls.required:
            if key not in data:
                hint = cls.required_hint.get(key, "")
                raise invalid(cls.where, data, f"'{key}' is a required property{hint}")
        return data

    @classmethod
    def check_shape(cls, data: Any) -> None:
        """An object with no key the schema does not declare."""
        if not isinstance(data, dict):
            raise invalid(cls.where, data, f"{data!r} is not of type 'object'")
        if not cls.additional:
            extra = unexpected(data, cls.declared_keys())
            if extra:
                raise invalid(cls.where, dict(data), additional_properties(extra))


# -- parameter types (nova/api/validation/parameter_types.py), each a BeforeValidator ---------


def as_text(key: str, value: Any, *, min_length: int = 0, max_length: int = 255) -> str:
    """A string of ``min_length`` to ``max_length`` characters."""
    if not isinstance(value, str):
        raise invalid(key, value, f"{value!r} is not of type 'string'")
    if len(value) < min_length:
        raise invalid(key, value, f"{value!r} should be non-empty")
    if len(value) > max_length:
        raise invalid(key, value, f"{value!r} is too long")
    return value


def text(key: str, *, min_length: int = 0, max_length: int = 255, null: bool = False) -> Any:
    """``as_text`` as a field's type (or null where allowed)."""

    def check(value: Any) -> Any:
        if value is None and null:
            return None
        return as_text(key, value, min_length=min_length, max_length=max_length)

    return BeforeValidator(check)


def as_boolean(key: str, value: Any) -> bool:
    """Nova's parameter_types.boolean: a JSON boolean or one of its words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    raise invalid(key, value, f"{value!r} is not one of the boolean values (true, false)")


def boolean(key: str, *, null: bool = False) -> Any:
    return BeforeValidator(lambda value: None if value is None and null else as_boolean(key, value))


def as_positive_integer(key: str, value: Any, maximum: int | None = None) -> int:
    """Nova's parameter_types.positive_integer: an integer (or its string) of 1 or more,
    and at most ``maximum`` where the schema has one."""
    if isinstance(value, bool):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'") from None
    if isinstance(value, float) or number < 1:
        raise invalid(key, value, f"{value!r} is less than the minimum of 1")
    if maximum is not None and number > maximum:
        raise invalid(key, value, f"{value!r} is greater than the maximum of {maximum}")
    return number


def positive_integer(key: str, maximum: int | None = None) -> Any:
    return BeforeValidator(lambda value: as_positive_integer(key, value, maximum))


def one_of(key: str, choices: tuple[str, ...], *, null: bool = False) -> Any:
    """An enum of strings (Nova lists the choices in its refusal)."""

    def check(value: Any) -> Any:
        if (value is None and null) or value in choices:
            return value
        raise invalid(key, value, f"{value!r} is not one of {list(choices)}")

    return BeforeValidator(check)


def of_type(key: str, kind: type, name: str, *, null: bool = False) -> Any:
    """A value of one JSON type (``name`` as Nova's refusal says it: 'object', 'array')."""

    def check(value: Any) -> Any:
        if (value is None and null) or isinstance(value, kind):
            return value
        raise invalid(key, value, f"{value!r} is not of type '{name}'")

    return BeforeValidator(check)


def checked(rule: Callable[[Any], Any]) -> Any:
    """A rule of the schema's own, for a check the parameter types do not express."""
    return BeforeValidator(rule)
