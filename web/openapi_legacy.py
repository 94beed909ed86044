"""The part of the OpenAPI document still written by hand (OpenAPI 3.0 style: `nullable`), for the areas not
yet described by models in web/schemas/. web/openapi.py merges it into the served document (3.1) and
removes an area from here as it converts it.
"""

from __future__ import annotations

from typing import Any

_ERR = {
    "description": "error, with the reason",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
_NUM = {"type": "number"}
_NNUM = {"type": "number", "nullable": True}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _ok(desc: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": desc, "content": {"application/json": {"schema": schema}}}}


def _errors(*codes: int) -> dict[str, Any]:
    """401 always (every operation needs a token), 429 (the token's requests beyond its rate,
    web/ratelimit.py, with Retry-After) and 503 (the database out of reach, with Retry-After); the
    others as the operation can answer them."""
    return {str(c): _ERR for c in sorted({401, 429, 503, *codes})}


def _q(name: str, desc: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": "string", **schema}}


_COUNTY = _q("county", "6-digit county code", pattern="^[0-9]{6}$")

SCHEMAS: dict[str, Any] = {}

PATHS: dict[str, Any] = {}
