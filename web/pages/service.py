"""What the service answers besides pages: its health (for the load balancer) and its metrics."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from prometheus_client import REGISTRY, generate_latest

from storage import queries
from web.keys import POOL

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire() as conn:
            await queries.ping(conn)
    except (OSError, asyncpg.PostgresError):
        return web.json_response({"database": False}, status=503)
    return web.json_response({"database": True})


@routes.get("/metrics")
async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), content_type="text/plain")
