"""The mechanism: a strict base model, the scalar types the API's bodies use, and `respond`.

Response bodies are strict and forbid extra fields, so that a field a handler adds, drops or retypes is
a validation error (a 500 in a test) rather than a silent drift from the document. Times travel as the
ISO strings storage produced (`Time`), numbers as they came (`Number`: an int stays an int), so that
producing a body through its model changes none of its bytes' meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    with_config,
)
from pydantic_core import core_schema
from typing_extensions import TypedDict

from web.errors import Invalid

# A response body (or a part of one) is a TypedDict decorated @closed: strict, no field it does not name;
# `NotRequired[...]` for a field a handler may leave out (no invented default in the document).
closed = with_config(ConfigDict(strict=True, extra="forbid"))


def absent() -> Any:
    """The default of a request field that may be left out but is never null: None in Python, no
    `default: null` in the document (the document says what a client may send)."""
    return Field(default=None, json_schema_extra=_no_default)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class RequestBody(BaseModel):
    """A request body: what a handler validates; unknown fields are ignored, as the handlers always did."""

    model_config = ConfigDict(extra="ignore")


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class OneOf:
    """A string that is one of a contract's tuple of values: `Annotated[str, OneOf(SEVERITIES)]`, so an
    enum is never typed a second time."""

    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))


def one_of(values: Iterable[str]) -> OneOf:
    return OneOf(tuple(values))


Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Date = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
NullableNumber = Annotated[int | float | None, WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]})]
AnyObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]


@closed
class Error(TypedDict):
    """error, with the reason"""

    error: str


def parse(model: type[M], data: Any) -> M:
    """A request body as `model`, or the 400 that names the first thing wrong with it."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(f"{where}: {first['msg']} (body: {model.__doc__ or model.__name__})") from None


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def body(model: Any, data: Any) -> bytes:
    """`data` (a handler's dict) validated as `model` and written as JSON; a field the model does not
    describe, or lacks, or of another type, raises pydantic's ValidationError."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter.dump_json(adapter.validate_python(data))


def respond(model: Any, data: Any, status: int = 200) -> web.Response:
    """The response of a handler whose body is `model` (web/openapi.py documents the same model)."""
    return web.Response(body=body(model, data), status=status, content_type="application/json")
