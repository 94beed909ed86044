"""The live stream: one LISTEN connection per web process feeds a hub (web.keys.Hub), which fans each
change out to every open Server-Sent Events stream, each judged in its user's scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from contract.occurred import phrase, shown_late
from runtime.retry import Backoff
from storage import queries
from storage.alerts import NOTIFY_CHANNEL
from storage.errors import RETRYABLE
from storage.listen import Listener
from storage.users import User
from web.api import user_of
from web.i18n import DEFAULT_TZ
from web.keys import CLOCK, DATABASE_URL, HUB, NAMES, POOL, RESYNC, RULES, STILL_VALID, STREAM_CHECK_S
from web.names import name_alerts

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()


LISTEN_CHECK_S = 15.0  # how often a quiet LISTEN connection is checked (a dead peer can be silent)


async def _listen_forever(app: web.Application) -> None:
    """One LISTEN connection feeds every open stream; lost (a database restart, a network cut), it is
    made again with capped backoff, and the hub then publishes RESYNC so that each stream sends its
    user the current state of every facility in scope: notifications of the gap are gone for good."""
    hub = app[HUB]
    listener = Listener(app[DATABASE_URL], NOTIFY_CHANNEL, hub.publish)
    backoff, ever = Backoff(0.5, 10.0), False
    try:
        while True:
            if await listener.ensure():
                if ever:
                    logger.info("live stream: LISTEN connection back; resyncing open streams")
                    hub.publish(RESYNC)
                backoff.succeeded()
                ever = True
            if not listener.connected:
                await asyncio.sleep(backoff.failed())
                continue
            for _ in range(int(LISTEN_CHECK_S)):  # a reset is seen within a second
                await asyncio.sleep(1)
                if not listener.connected:
                    break
            else:
                await listener.probe()
    finally:
        await listener.close()


async def listen_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_listen_forever(app), name="web-listen")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def end_streams(app: web.Application) -> None:
    app[HUB].close()


def _occurred_text(change: dict[str, Any]) -> dict[str, str] | None:
    """Both times of an alert known late, in both languages (contract.occurred), for the stream's readers
    (the pages' red banner renders its own: GET /critical-banner)."""
    try:
        occ, opened = datetime.fromisoformat(change["occurred_at"]), datetime.fromisoformat(change["opened_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if not shown_late(occ, opened):
        return None
    rule, cause = str(change.get("rule", "")), change.get("delay_cause")
    return {lang: phrase(rule, occ, opened, cause, DEFAULT_TZ, lang) for lang in ("zh", "en")}


PING_S = 15.0  # a quiet stream says it is alive (proxies close an idle connection)


async def _send_change(request: web.Request, resp: EventSourceResponse, user: User, payload: str) -> bool:
    """One change on a stream: the alert (in the user's scope) and its facility's new state; after a
    resync, every facility's. False when the database is away (the stream ends)."""
    change = json.loads(payload)
    resync = payload == RESYNC  # changes may have been missed: send every facility's state
    only = {} if resync else {"facility_id": change.get("facility_id", "")}
    try:
        async with request.app[POOL].acquire() as conn:
            # each change judged at its own time: a stream stays open for hours
            now = request.app[CLOCK].now()
            states = await queries.facilities(conn, user.scope, **only, rules=request.app[RULES], now=now)
    except RETRYABLE:
        return False
    if not resync:
        if not states:
            return True  # outside this user's scope: never on their stream
        change.setdefault("facility_name", states[0].get("name"))  # people read names, not ids
        if told := _occurred_text(change):  # a banner for an alarm known late says when it happened
            change["occurred_text"] = told
        await name_alerts(request.app[POOL], request.app[NAMES], change)  # its text by name (contract.names)
        await resp.send(json.dumps(change, ensure_ascii=False), event="alert")
    for state in states:
        await resp.send(json.dumps(state, ensure_ascii=False), event="facility_status")
    return True


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: `alert` (every change in scope) and `facility_status` (its new state)."""
    user = user_of(request)
    hub = request.app[HUB]
    queue = hub.subscribe()
    loop = asyncio.get_running_loop()
    check_s, still_valid = request.app[STREAM_CHECK_S], request[STILL_VALID]
    opened: web.StreamResponse | None = None
    try:
        async with sse_response(request) as resp:
            opened = resp
            pinged = checked = loop.time()
            while resp.is_connected():
                wait = min(pinged + PING_S, checked + check_s) - loop.time()
                try:
                    payload = await asyncio.wait_for(queue.get(), max(0.0, wait))
                except TimeoutError:
                    payload = ""
                if loop.time() >= checked + check_s:
                    # a revoked token, a disabled user, a logout: the stream ends within check_s
                    try:
                        async with request.app[POOL].acquire() as conn:
                            if not await still_valid(conn):
                                break
                    except RETRYABLE:
                        break  # the database went away: end the stream; EventSource reconnects by itself
                    checked = loop.time()
                if payload == "":
                    if loop.time() >= pinged + PING_S:
                        await resp.send("", event="ping")
                        pinged = loop.time()
                    continue
                if payload is None or not await _send_change(request, resp, user, payload):
                    break  # the server is shutting down, or the database went away (EventSource reconnects)
            return resp
    except ConnectionResetError:
        # the browser went away (a tab closed): nothing is wrong and nobody is left to answer; this was
        # logged as "database unavailable" (aiohttp's reset is an OSError, which the error middleware reads
        # as the database's)
        if opened is None:
            raise
        return opened
    finally:
        hub.unsubscribe(queue)
