"""Every route of the API is in its OpenAPI document (web/openapi.py), and the document names no route the
app does not have: a route added without its entry fails here, without a database or a server."""

from __future__ import annotations

import re
import secrets

from web.app import create_app
from web.openapi import PATHS

UNDOCUMENTED = {"/api/v1/openapi.json"}


def _routes() -> set[str]:
    app = create_app("postgresql://nobody@127.0.0.1:1/none", secrets.token_bytes(32))  # never connected
    return {
        r.resource.canonical
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
    } - UNDOCUMENTED


def _matches(route: str, documented: str) -> bool:
    """A route's `{name}` (its own pattern, e.g. approve|reject|withdraw) stands for any one segment."""
    pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(route))
    return re.fullmatch(pattern, documented) is not None


def test_every_api_route_is_documented_and_every_documented_path_is_a_route() -> None:
    routes = _routes()
    assert sorted(r for r in routes if not any(_matches(r, p) for p in PATHS)) == []
    assert sorted(p for p in PATHS if not any(_matches(r, p) for r in routes)) == []
