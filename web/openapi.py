"""The OpenAPI document served at /api/v1/openapi.json, generated from the models in web/schemas/.

Each body is a model there, and the handlers produce their JSON through it (web/schemas/base.py `respond`),
so the document and the server cannot drift: `components.schemas` is what pydantic makes of the models
(JSON Schema 2020-12, hence OpenAPI 3.1), and the paths table below names, per operation, its parameters,
its request model, its response model and its error codes. tests/test_api_schema.py runs Schemathesis
against the document; tests/test_openapi_routes.py checks that it names every route and no other.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from web.schemas import (
    alerts,
    assessment,
    credit,
    draws,
    enforcement,
    facilities,
    maintenance,
    orders,
    records,
    statistics,
)
from web.schemas.base import Error
from web.schemas.ops import Op

AREAS = (facilities, alerts, maintenance, records, credit, orders, enforcement, draws, assessment, statistics)
OPERATIONS: dict[str, dict[str, Op]] = {path: ops for area in AREAS for path, ops in area.OPERATIONS.items()}

_REF = "#/components/schemas/{model}"


class _Schema(GenerateJsonSchema):
    """pydantic's JSON Schema without the titles it derives from field names (noise in the document)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}


def _generate(models: list[Any]) -> dict[str, Any]:
    """components.schemas for `models` (and every model they contain), under their class names."""
    out: dict[str, Any] = {}
    for model in models:
        request = isinstance(model, type) and issubclass(model, BaseModel)
        mode: Literal["validation", "serialization"] = "validation" if request else "serialization"
        schema = TypeAdapter(model).json_schema(ref_template=_REF, mode=mode, schema_generator=_Schema)
        for name, sub in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            if out.setdefault(name, sub) != sub:
                raise ValueError(f"two different models are named {name}")
    return out


def _schema_of(response: Any) -> dict[str, Any]:
    """A raw schema as it is, a model by its reference, `list[Model]` as an array of it."""
    if isinstance(response, dict):
        return response
    if get_origin(response) is list:
        return {"type": "array", "items": _schema_of(get_args(response)[0])}
    return {"$ref": _REF.format(model=response.__name__)}


def _described(response: Any) -> str:
    model = get_args(response)[0] if get_origin(response) is list else response
    return model.__doc__.strip() if not isinstance(model, dict) and model.__doc__ else "ok"


def _operation(op: Op) -> dict[str, Any]:
    ok = _schema_of(op.response)
    desc = op.said or _described(op.response)
    out: dict[str, Any] = {"summary": op.summary}
    if op.public:
        out["security"] = []
    if op.description:
        out["description"] = op.description
    if op.params:
        out["parameters"] = list(op.params)
    if op.request is not None:
        content = (
            {t: {"schema": schema} for t, schema in op.request.items()}
            if isinstance(op.request, dict)
            else _json(op.request.__name__)
        )
        out["requestBody"] = {"required": op.request_required, "content": content}
    media = {op.media: {"schema": ok}} | {t: {"schema": schema} for t, schema in op.also}
    errors = {
        str(c): {"description": "error, with the reason", "content": _json("Error")}
        for c in {429, 503, *op.errors} | (set() if op.public else {401})
    }
    out["responses"] = {str(op.status): {"description": desc, "content": media}} | dict(sorted(errors.items()))
    return out


def _models() -> list[Any]:
    found: list[Any] = [Error]
    for ops in OPERATIONS.values():
        for op in ops.values():
            response = get_args(op.response)[0] if get_origin(op.response) is list else op.response
            found += [m for m in (response, op.request) if m is not None and not isinstance(m, dict)]
    return list(dict.fromkeys(found))


SCHEMAS = _generate(_models())
PATHS: dict[str, Any] = {path: {m: _operation(op) for m, op in ops.items()} for path, ops in OPERATIONS.items()}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "CareWatch API",
        "version": "v1",
        "description": "Supervision of childcare facilities (托育机构). Everything outside the caller's scope "
        "answers 404; every 4xx is JSON with a reason.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
    },
    "paths": PATHS,
}
