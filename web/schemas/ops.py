"""The vocabulary of the paths table: an operation (`Op`) and its parameters. Each area's module in web/schemas/
declares its `OPERATIONS` with it, beside its models; web/openapi.py turns them into the document's paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ID_PATTERN = "^[a-z0-9][a-z0-9-]{0,63}$"


def query(name: str, desc: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": desc,
        "schema": {"type": "string", **schema},
    }


def path_id(name: str) -> dict[str, Any]:
    """A path parameter that is a row's id."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


FID = {"name": "facility_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
COUNTY = query("county", "6-digit county code", pattern="^[0-9]{6}$")
TOWNSHIP = query("township", "9-digit township code", pattern="^[0-9]{9}$")


@dataclass(frozen=True)
class Op:
    """One operation: its response model (or a raw schema) for `status`, and the error codes it may answer
    besides 401, 429 and 503 (every operation: a token, its rate (web/ratelimit.py), the database)."""

    summary: str
    response: Any
    errors: tuple[int, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    request: Any = None  # a RequestBody model, or {media type: raw schema} for a body that is not JSON
    request_required: bool = True
    status: int = 200
    description: str | None = None
    also: tuple[tuple[str, dict[str, Any]], ...] = ()  # other media types of the response: (type, schema)
    public: bool = False  # no token: `security: []`, and no 401
    media: str = "application/json"  # the response's media type
    said: str | None = None  # the response's description (default: its model's docstring)
