"""A WeCom group robot on loopback, as `carewatch bench notify` and the attack tests need it: it
answers after `delay_s` (150 ms, the issue's measurement) and keeps WeCom's documented limit of 20
messages a minute per robot (alerts/notify.py RATE_LIMITS): a 21st request within 60 s of the 1st is
refused with errcode 45009, as WeCom does. It records when each message arrived and what it said."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from runtime.stack import free_port


@dataclass
class FakeWeCom:
    delay_s: float = 0.15
    per_minute: int = 20
    window_s: float = 60.0
    received: list[tuple[str, float, str]] = field(default_factory=list)  # (key, monotonic time, content)
    refused: list[tuple[str, float]] = field(default_factory=list)  # 45009s: (key, monotonic time)
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def arrived(self, key: str, text: str) -> float | None:
        """When the first message to `key` containing `text` arrived (monotonic), or None."""
        return next((t for k, t, c in self.received if k == key and text in c), None)

    async def _send(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        body = json.loads(await request.read())
        await asyncio.sleep(self.delay_s)
        now = time.monotonic()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        if len(recent) >= self.per_minute:
            self.refused.append((key, now))
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        recent.append(now)
        self.received.append((key, now, str(body.get("markdown", {}).get("content", ""))))
        return web.json_response({"errcode": 0, "errmsg": "ok"})
