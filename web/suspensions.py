"""责令停业整改 over HTTP (issue #40 item 1): scope first (404), then who (403), input (400) and state (409);
audited. The rules are supervision/suspensions.py (and migration 038's trigger).

API: `GET /api/v1/suspensions` (`facility_id`, `in_force=true`), `POST /api/v1/facilities/{id}/suspension`
(`{"reasons", "order_ids": [..]}`: a county or city inspector in scope, or an admin),
`POST /api/v1/suspensions/{id}/lift` (`{"reason", "inspection_id"}`: the issuing level or above, on a signed
复查 of the facility after the suspension that failed nothing)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from storage import inspections as inspection_store
from storage import queries
from storage import suspensions as store
from storage.errors import RETRYABLE
from storage.users import User, audit
from supervision import notices
from supervision import suspensions as rules
from web.api import user_of
from web.errors import Invalid, NotFound, from_rule
from web.keys import POOL, PUBLIC_URL, now_of
from web.params import json_body, one_of, path_id, qp
from web.schemas.base import respond
from web.schemas.enforcement import Suspension

routes = web.RouteTableDef()


def _id_list(raw: Any) -> list[int]:
    if raw is None:
        return []
    if (
        not isinstance(raw, list)
        or len(raw) > rules.ORDERS_MAX
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in raw)
    ):
        raise Invalid("order_ids must be a list of orders' ids", "err_suspend_orders")
    return list(raw)


def _str(body: dict[str, Any], name: str, key: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > rules.REASONS_MAX:  # as sent, before any trimming
        raise Invalid(f"{name} must be a string of at most {rules.REASONS_MAX} characters", key)
    return value


async def suspend(
    pool: asyncpg.Pool, user: User, facility_id: str, body: Any, *, now: datetime, public_url: str
) -> dict[str, Any]:
    """Order the facility's suspension; its operators and the area's inspectors are told (supervision.notices;
    a failure to queue the messages never undoes the order). `public_url`: the links' site."""
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        try:
            sid = await rules.order(
                conn,
                user.scope,
                f["id"],
                user.username,
                _str(body, "reasons", "err_suspend_reasons"),
                _id_list(body.get("order_ids")),
                now,
            )
        except rules.SuspensionRefused as err:
            raise from_rule(err) from None
        s = await store.suspension(conn, user.scope, sid)
        assert s is not None  # noqa: S101 - just written in scope
        await audit(conn, user.username, "facility.suspend", f"facility {f['id']}", {"suspension": sid}, at=now)
        with contextlib.suppress(*RETRYABLE):
            await notices.tell_suspension(conn, "suspended", s, public_url, now)
        return s


async def lift(
    pool: asyncpg.Pool,
    user: User,
    suspension_id: int,
    body: Any,
    *,
    now: datetime,
    public_url: str,
    facility_id: str | None = None,
) -> dict[str, Any]:
    """Lift the suspension (`facility_id`: only if it is that facility's, as a page's path says); told as its
    order was."""
    async with pool.acquire() as conn:
        s = await store.suspension(conn, user.scope, suspension_id)
        if s is None or facility_id not in {None, s["facility_id"]}:
            raise NotFound("no such suspension")
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        raw = body.get("inspection_id")
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < 2**63:
            raise Invalid("inspection_id must be the 复查's id", "err_lift_recheck")
        recheck = await inspection_store.inspection_detail(conn, user.scope, raw)
        try:
            await rules.lift(
                conn, user.scope, suspension_id, user.username, _str(body, "reason", "err_lift_reason"), recheck, now
            )
        except rules.SuspensionRefused as err:
            raise from_rule(err) from None
        facts: dict[str, object] = {"suspension": suspension_id, "inspection": raw}
        await audit(conn, user.username, "facility.lift", f"facility {s['facility_id']}", facts, at=now)
        out = await store.suspension(conn, user.scope, suspension_id)
        assert out is not None  # noqa: S101 - read in scope a moment ago
        with contextlib.suppress(*RETRYABLE):
            await notices.tell_suspension(conn, "lifted", out, public_url, now)
        return out


@routes.get("/api/v1/suspensions")
async def list_suspensions(request: web.Request) -> web.Response:
    user = user_of(request)
    facility = qp(request.query, "facility_id") or None
    in_force = one_of(qp(request.query, "in_force"), "in_force", {"true", "false"}) == "true"
    async with request.app[POOL].acquire() as conn:
        rows = await store.suspensions(conn, user.scope, facility_id=facility, in_force=in_force)
    return respond(list[Suspension], rows)


@routes.post("/api/v1/facilities/{facility_id}/suspension")
async def post_suspension(request: web.Request) -> web.Response:
    user = user_of(request)
    body = await json_body(request, '{"reasons": "...", "order_ids": []}')
    fid = request.match_info["facility_id"]
    out = await suspend(request.app[POOL], user, fid, body, now=now_of(request), public_url=request.app[PUBLIC_URL])
    return respond(Suspension, out, 201)


@routes.post("/api/v1/suspensions/{suspension_id}/lift")
async def post_lift(request: web.Request) -> web.Response:
    user = user_of(request)
    body = await json_body(request, '{"reason": "...", "inspection_id": 1}')
    sid = path_id(request.match_info["suspension_id"])
    out = await lift(request.app[POOL], user, sid, body, now=now_of(request), public_url=request.app[PUBLIC_URL])
    return respond(Suspension, out)
