"""Typed application keys and the live-stream hub."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg
from aiohttp import web

from contract.credit import CreditConfig
from contract.rules import RuleConfig
from storage.users import User
from web.throttle import LoginThrottle

RESYNC = '{"resync": true}'  # published when the LISTEN connection is back after a loss


class Hub:
    """Fans PostgreSQL NOTIFY payloads out to every open stream (each with a bounded queue)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()

    def subscribe(self) -> asyncio.Queue[str | None]:
        q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str | None]) -> None:
        self._queues.discard(q)

    def publish(self, payload: str) -> None:
        for q in self._queues:
            if q.full():
                q.get_nowait()  # a stalled client loses its oldest event, not the server its memory
            q.put_nowait(payload)

    def close(self) -> None:
        """End every open stream (server shutdown): each gets None and returns."""
        for q in self._queues:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)


POOL = web.AppKey("pool", asyncpg.Pool)
HUB = web.AppKey("hub", Hub)
DATABASE_URL = web.AppKey("database_url", str)
# The rule configuration the engine runs with (defaults + CAREWATCH_RULES overrides): pages show its thresholds.
RULES: web.AppKey[Mapping[str, RuleConfig]] = web.AppKey("rules", Mapping)
THROTTLE = web.AppKey("throttle", LoginThrottle)
CREDIT = web.AppKey("credit", CreditConfig)  # the credit evaluation's grades and weights (CAREWATCH_CREDIT)
# Browser sessions: (idle, absolute) seconds. Idle: no request for 2 h ends it (a duty-room wall keeps
# its stream open and reloads when it drops); absolute: 12 h after the login, whatever happens.
SESSION_LIMITS = web.AppKey("session_limits", tuple)
USER: web.RequestKey[User | None] = web.RequestKey("user", object)  # type: ignore[arg-type]
