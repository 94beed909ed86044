"""双随机一公开 over HTTP (issue #40 item 5): the published lists, a draw, its record, its re-run, and an
inspector's availability. The rules are supervision/draws.py; this parses, calls one action, answers.

API: `GET /api/v1/draws?county=`, `POST /api/v1/draws` (`{"county", "count", "planned_for", "reason"}`),
`GET /api/v1/draws/lists?county=`, `GET /api/v1/draws/{id}`, `GET /api/v1/draws/{id}/verify`,
`POST /api/v1/draws/inspectors/{username}/availability` (`{"available": bool, "reason"}`)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from contract.ids import COUNTY_RE
from storage import draws as store
from storage.users import User, audit
from supervision import draw as algorithm
from supervision import draws as rules
from supervision.draws import DrawRefused
from web.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from web.keys import POOL, USER, now_of
from web.params import json_body, path_id, qp
from web.schemas import draws as schemas
from web.schemas.base import respond

routes = web.RouteTableDef()
CITY_TZ_DAY = timedelta(hours=8)  # a draw's dates are Xinzhou's (UTC+8, no summer time)
_DRAW_KEYS = {"county", "count", "planned_for", "reason"}
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def refused(err: DrawRefused | algorithm.DrawError) -> Refused:
    kind = getattr(err, "kind", "invalid")
    cls = {"forbidden": Forbidden, "conflict": Conflict}.get(kind, Invalid)
    return cls(str(err), err.key, **err.args_)


def reader(user: User | None) -> User:
    """A user who may read the draws (inspectors, admins); everyone else reads them as not there (404)."""
    if user is None:
        raise web.HTTPUnauthorized(text='{"error": "authentication required"}', content_type="application/json")
    if not rules.may_read(user.scope):
        raise NotFound("no draws in your scope")
    return user


def county_of(user: User, raw: object) -> str:
    """The county asked for, or the user's own; a city-wide user must name one."""
    county = raw if isinstance(raw, str) and raw else user.county
    if not isinstance(county, str) or not COUNTY_RE.fullmatch(county):
        raise Invalid("county must be a county's 6-digit code", "err_draw_county")
    return county


def parse_draw(body: Any, now: datetime) -> tuple[int, date, str]:
    """The count (1–200), the planned date (today to a year ahead, Xinzhou's day) and the reason (≤ 500
    characters). Any other field is refused: in particular nobody hands the draw a seed."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    unknown = sorted(str(k)[:40] for k in body if k not in _DRAW_KEYS)
    if unknown:
        raise Invalid(f"unknown fields {unknown}: the seed is derived, never given", "err_draw_fields")
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= algorithm.MAX_COUNT:
        raise Invalid(
            f"count must be a whole number from 1 to {algorithm.MAX_COUNT}", "err_draw_count", n=algorithm.MAX_COUNT
        )
    raw = body.get("planned_for")
    try:
        when = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        when = None
    today = (now + CITY_TZ_DAY).date()
    if when is None or not today <= when <= today + timedelta(days=366):
        raise Invalid("planned_for must be a date (YYYY-MM-DD) from today to a year ahead", "err_draw_date")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500 or "\x00" in reason:
        raise Invalid("reason is text of at most 500 characters", "err_draw_reason")
    return count, when, reason


async def make(pool: asyncpg.Pool, user: User, body: Any, *, now: datetime) -> int:
    """Check, draw, audit: the new draw's id."""
    county = county_of(user, body.get("county") if isinstance(body, dict) else None)
    count, when, reason = parse_draw(body, now)
    async with pool.acquire() as conn:
        try:
            draw_id = await rules.make(conn, user.scope, user.username, county, when, count, reason, now)
        except (DrawRefused, algorithm.DrawError) as err:
            raise refused(err) from None
        d = await store.draw_row(conn, draw_id)
        assert d is not None  # noqa: S101 - just written
        await audit(
            conn,
            user.username,
            "draw.redraw" if d["redraw_of"] else "draw.make",
            f"draw {draw_id}",
            {
                "county": county,
                "seq": d["seq"],
                "count": count,
                "planned_for": when,
                "redraw_of": d["redraw_of"],
                "reason": d["reason"],
                "seed": d["seed"],
            },
            at=now,
        )
    return draw_id


async def detail(conn: asyncpg.Connection, draw_id: int) -> dict[str, Any]:
    """What inspectors see of a draw: its public record, who drew it, and the inspectors of each pick."""
    record = await store.public_record(conn, draw_id)
    d = await store.draw_row(conn, draw_id)
    if record is None or d is None:
        raise NotFound("no such draw")
    return record | {"drawn_by": d["drawn_by"], "results": await store.results(conn, draw_id)}


async def lists(conn: asyncpg.Connection, county: str) -> dict[str, Any]:
    facilities = await store.listed_facilities(conn, county)
    inspectors = await store.listed_inspectors(conn, county)
    inputs = rules.inputs_of(county, facilities, inspectors)
    return {
        "county": county,
        "facilities": [dict(f) for f in facilities],
        "inspectors": [
            dict(i) | {"changed_at": i["changed_at"].isoformat() if i["changed_at"] else None} for i in inspectors
        ],
        "inputs_sha256": algorithm.inputs_sha256(inputs),  # as a draw made now would record them
    }


async def mark(pool: asyncpg.Pool, user: User, username: str, body: Any, *, now: datetime) -> dict[str, Any]:
    """Mark one of the county's inspectors available or not (leave, secondment), with a reason for 'not'."""
    if not _USERNAME.fullmatch(username):
        raise NotFound("no such inspector")
    if not isinstance(body, dict) or not isinstance(body.get("available"), bool):
        raise Invalid('body must be {"available": true|false, "reason": "..."}', "err_draw_available")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500 or "\x00" in reason:
        raise Invalid("reason is text of at most 500 characters", "err_draw_reason")
    if not body["available"] and len(reason.strip()) < 2:
        raise Invalid("say why the inspector is not available", "err_draw_unavailable_reason")
    async with pool.acquire() as conn:
        county = await store.inspector_county(conn, username)
        if county is None:
            raise NotFound("no such inspector")
        row = next((r for r in await store.listed_inspectors(conn, county) if r["username"] == username), None)
        try:
            rules.check_mark(user.scope, user.username, county, row)
        except DrawRefused as err:
            raise refused(err) from None
        await store.set_availability(conn, username, body["available"], reason.strip(), user.username, now)
        await audit(
            conn,
            user.username,
            "draw.availability",
            username,
            {"available": body["available"], "reason": reason},
            at=now,
        )
        return await lists(conn, county)


# -- the API ---------------------------------------------------------------------------------------------
@routes.get("/api/v1/draws")
async def list_draws(request: web.Request) -> web.Response:
    reader(request.get(USER))
    county = qp(request.query, "county")
    if county and not COUNTY_RE.fullmatch(county):
        raise Invalid("county must be a county's 6-digit code", "err_draw_county")
    async with request.app[POOL].acquire() as conn:
        rows = await store.draws(conn, county or None)
    out = [r | {"drawn_at": r["drawn_at"].isoformat(), "planned_for": r["planned_for"].isoformat()} for r in rows]
    return respond(schemas.Draws, {"draws": out})


@routes.post("/api/v1/draws")
async def post_draw(request: web.Request) -> web.Response:
    user = reader(request.get(USER))
    body = await json_body(request, '{"county": "140902", "count": 3, "planned_for": "YYYY-MM-DD", "reason": ""}')
    draw_id = await make(request.app[POOL], user, body, now=now_of(request))
    async with request.app[POOL].acquire() as conn:
        return respond(schemas.Draw, await detail(conn, draw_id), 201)


@routes.get("/api/v1/draws/lists")
async def get_lists(request: web.Request) -> web.Response:
    user = reader(request.get(USER))
    county = county_of(user, qp(request.query, "county"))
    async with request.app[POOL].acquire() as conn:
        return respond(schemas.DrawLists, await lists(conn, county))


@routes.get("/api/v1/draws/{draw_id:[0-9]+}")
async def get_draw(request: web.Request) -> web.Response:
    reader(request.get(USER))
    draw_id = path_id(request.match_info["draw_id"])
    async with request.app[POOL].acquire() as conn:
        return respond(schemas.Draw, await detail(conn, draw_id))


@routes.get("/api/v1/draws/{draw_id:[0-9]+}/verify")
async def verify_draw(request: web.Request) -> web.Response:
    """Re-run the draw from its published inputs and compare with what it recorded and planned."""
    reader(request.get(USER))
    draw_id = path_id(request.match_info["draw_id"])
    async with request.app[POOL].acquire() as conn:
        verdict = await rules.verify(conn, draw_id)
    if verdict is None:
        raise NotFound("no such draw")
    return respond(schemas.Verdict, {"id": draw_id, "ok": verdict.ok, "problems": list(verdict.problems)})


@routes.post("/api/v1/draws/inspectors/{username}/availability")
async def post_availability(request: web.Request) -> web.Response:
    user = reader(request.get(USER))
    body = await json_body(request, '{"available": false, "reason": "..."}')
    out = await mark(request.app[POOL], user, request.match_info["username"], body, now=now_of(request))
    return respond(schemas.DrawLists, out)
