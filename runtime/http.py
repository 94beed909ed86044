"""A service's small HTTP side: /metrics (Prometheus) and /healthz."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest


async def serve_metrics(
    stack: contextlib.AsyncExitStack,
    addr: str,
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, Any]]],
) -> None:
    """Serve until the exit stack closes. health() says (ok, details); not ok answers 503."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def healthz(_: web.Request) -> web.Response:
        ok, details = health()
        return web.json_response(details, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    host, _, port = addr.rpartition(":")
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
