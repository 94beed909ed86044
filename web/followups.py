"""复查 and extensions over HTTP (issue #40 item 2): scope first (404), then who (403), input (400) and
state (409); audited and told to the people concerned. The rules are supervision/followups.py, the due-date
policy supervision/deadlines.py.

API: `POST /api/v1/orders/{id}/recheck` (`{"planned_for": "YYYY-MM-DD", "note"}`: accept subject to a 复查),
`POST /api/v1/orders/{id}/extension` (`{"due_at", "reason"}`: the operator, once),
`POST /api/v1/orders/{id}/extension/{approve|reject}` (`{"reason"}`: the issuing level or above)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from storage.rectification import StateError
from storage.users import User, audit
from supervision import deadlines
from supervision import followups as rules
from supervision.followups import FollowupRefused
from web.api import public_url, user_of
from web.errors import Conflict, Forbidden, Invalid, Refused
from web.keys import POOL, now_of
from web.orders import _notify, _text, _visible, reviewing_department
from web.params import json_body, parse_time, path_id
from web.schemas.base import respond
from web.schemas.orders import OrderFollowup

routes = web.RouteTableDef()
CITY_DAY = timedelta(hours=8)  # the 复查's day is Xinzhou's (UTC+8)


def _refused(err: FollowupRefused) -> Refused:
    cls = {"forbidden": Forbidden, "conflict": Conflict}.get(err.kind, Invalid)
    return cls(str(err), err.key, **err.args_)


async def detail(conn: asyncpg.Connection, user: User, order_id: int, now: datetime) -> dict[str, Any]:
    return await _visible(conn, user, order_id, now) | await rules.state(conn, order_id)


async def recheck(
    pool: asyncpg.Pool, user: User, order_id: int, body: Any, url: str, *, now: datetime
) -> dict[str, Any]:
    """Accept the answer subject to a 复查 on `planned_for` (within 30 days): the order waits for it."""
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        reviewing_department(user, o)
        note = _text(body, "note", 4000, False, "err_recheck_note")
        raw = body.get("planned_for")
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            day = None
        try:
            change = await rules.accept_with_recheck(
                conn, user.scope, o["id"], user.username, note, day or date.min, (now + CITY_DAY).date(), now
            )
        except FollowupRefused as err:
            raise _refused(err) from None
        except deadlines.DueDateError as err:
            raise Invalid(str(err), "err_recheck_day", days=err.days) from None
        except StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        await audit(conn, user.username, "order.recheck", f"order {o['id']}", {"planned_for": day}, at=now)
        await _notify(conn, change, url, now)
        return await detail(conn, user, o["id"], now)


async def extension(
    pool: asyncpg.Pool, user: User, order_id: int, body: Any, url: str, *, now: datetime
) -> dict[str, Any]:
    """The operator asks once for a later due date, with reasons."""
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or "\x00" in reason:
            raise Invalid("reason must be text", "err_extension_reason", min=rules.REASON_MIN)
        raw = body.get("due_at")
        due = parse_time(raw, "due_at") if isinstance(raw, str) and raw.strip() else None
        try:
            change = await rules.request_extension(conn, user.scope, o["id"], user.username, reason, due, now)
        except FollowupRefused as err:
            raise _refused(err) from None
        except StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        await audit(
            conn, user.username, "order.extension", f"order {o['id']}", {"due_at": due, "reason": reason[:200]}, at=now
        )
        await _notify(conn, change, url, now)
        return await detail(conn, user, o["id"], now)


async def decide(
    pool: asyncpg.Pool, user: User, order_id: int, decision: str, body: Any, url: str, *, now: datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or "\x00" in reason:
            raise Invalid("reason must be text", "err_extension_reason", min=rules.REASON_MIN)
        reviewing_department(user, o)
        approve = decision == "approve"
        try:
            change = await rules.decide_extension(conn, user.scope, o["id"], user.username, approve, reason, now)
        except FollowupRefused as err:
            raise _refused(err) from None
        except StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        await audit(conn, user.username, f"order.{change.action}", f"order {o['id']}", {"reason": reason[:200]}, at=now)
        await _notify(conn, change, url, now)
        return await detail(conn, user, o["id"], now)


@routes.post("/api/v1/orders/{order_id}/recheck")
async def post_recheck(request: web.Request) -> web.Response:
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"planned_for": "YYYY-MM-DD", "note": "..."}')
    return respond(
        OrderFollowup, await recheck(request.app[POOL], user, order_id, body, public_url(request), now=now_of(request))
    )


@routes.post("/api/v1/orders/{order_id}/extension")
async def post_extension(request: web.Request) -> web.Response:
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"due_at": "RFC 3339", "reason": "..."}')
    out = await extension(request.app[POOL], user, order_id, body, public_url(request), now=now_of(request))
    return respond(OrderFollowup, out, 201)


@routes.post("/api/v1/orders/{order_id}/extension/{decision:approve|reject}")
async def post_extension_decision(request: web.Request) -> web.Response:
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"reason": "..."}')
    decision = request.match_info["decision"]
    return respond(
        OrderFollowup,
        await decide(request.app[POOL], user, order_id, decision, body, public_url(request), now=now_of(request)),
    )
