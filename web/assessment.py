"""督导评估's action (issue #40 item 9): a 约谈 of a lagging area recorded from the assessment page. Who may is
supervision.assessment.may_summon (the database's trigger agrees); the date, people and minutes are checked
as an order's 约谈 is (supervision.orders.summons_facts); every summons is audited.

API: `GET /api/v1/assessment/summonses` (`year`, `county`: those in the caller's scope; an operator 403),
`GET /api/v1/assessment/summonses/{id}` (404 outside the scope), `POST /api/v1/assessment/summonses` (the
page's form as JSON: `area`, `period`, `held_on`, `people`, `minutes`; 201)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import asyncpg
from aiohttp import web

from storage import assessment as store
from storage.users import User, audit
from supervision import assessment as rules
from supervision import orders as order_rules
from web.api import user_of
from web.errors import Forbidden, Invalid, NotFound
from web.keys import POOL, now_of
from web.params import code, json_body, path_id, qp
from web.schemas.base import respond
from web.schemas.enforcement import AreaSummons, AreaSummonses

routes = web.RouteTableDef()
MINUTES_MAX = 4000


async def summon_area(pool: asyncpg.Pool, user: User, body: dict[str, str], *, now: datetime) -> int:
    """Record a 约谈 of `area` (a county's code, or a township's) on the `period`'s assessment (YYYY or
    YYYY-Qn): `held_on` YYYY-MM-DD, `people`, `minutes`, all required. Returns its id."""
    area = body.get("area", "").strip()
    if len(area) not in (6, 9) or not area.isdigit():
        raise Invalid("area must be a county's or a township's code", "err_summons_area")
    level = "county" if len(area) == 6 else "township"
    county = area[:6]
    period = body.get("period", "").strip()
    if not re.fullmatch(r"20[0-9]{2}(-Q[1-4])?", period):
        raise Invalid("period must be YYYY or YYYY-Qn", "err_year")
    if any("\x00" in v for v in body.values()):
        raise Invalid("the text may not hold NUL characters", "err_summons")
    minutes = body.get("minutes", "").strip()
    if len(minutes) > MINUTES_MAX:
        raise Invalid(f"the minutes are at most {MINUTES_MAX} characters", "err_summons")
    try:
        facts = order_rules.summons_facts(body.get("held_on", ""), body.get("people", ""), minutes, now)
    except order_rules.SummonsError as err:
        raise Invalid(str(err), "err_summons") from None
    if not rules.may_summon(user.scope, level, county):
        raise Forbidden("the level above an area summons it", "err_summons_who")
    async with pool.acquire() as conn, conn.transaction():
        if not await store.area_exists(conn, level, area):
            raise NotFound("no such area")
        row: dict[str, Any] = {
            "level": level,
            "county": county,
            "area": area,
            "period": period,
            "held_on": date.fromisoformat(facts["held_on"]),
            "people": facts["people"],
            "minutes": minutes,
            "recorded_by": user.username,
            "recorded_at": now,
        }
        sid = await store.record_summons(conn, row)
        detail: dict[str, object] = {**facts, "period": period, "minutes": minutes[:200]}
        await audit(conn, user.username, "assessment.summoned", f"{level} {area}", detail, at=now)
    return sid


def _reader(user: User) -> None:
    """The 约谈 are the departments': an operator reads none (403); an inspector those of their scope."""
    if user.role == "operator":
        raise Forbidden("the 约谈 are the departments': a facility reads none", "err_summons_read")


@routes.get("/api/v1/assessment/summonses")
async def list_summonses(request: web.Request) -> web.Response:
    user = user_of(request)
    _reader(user)
    raw = qp(request.query, "year")
    if raw and not re.fullmatch(r"20[0-9]{2}", raw):
        raise Invalid("year must be YYYY (2000-2099)", "err_year")
    county = code(qp(request.query, "county"), "county", 6)
    async with request.app[POOL].acquire() as conn:
        rows = await store.summonses_in(conn, user.scope, int(raw) if raw else None, county)
    return respond(AreaSummonses, {"summonses": rows})


@routes.get(r"/api/v1/assessment/summonses/{summons_id}")
async def get_summons(request: web.Request) -> web.Response:
    user = user_of(request)
    _reader(user)
    async with request.app[POOL].acquire() as conn:
        row = await store.summons(conn, user.scope, path_id(request.match_info["summons_id"]))
    if row is None:
        raise NotFound("no such summons")
    return respond(AreaSummons, row)


@routes.post("/api/v1/assessment/summonses")
async def post_summons(request: web.Request) -> web.Response:
    """The page's 约谈 form as JSON, with the same checks (summon_area)."""
    user = user_of(request)
    body = await json_body(request, '{"area", "period", "held_on", "people", "minutes"}')
    names = ("area", "period", "held_on", "people", "minutes")
    if not isinstance(body, dict) or not all(isinstance(body.get(k, ""), str) for k in names):
        raise Invalid("body must be a JSON object of strings: " + ", ".join(names), "err_summons")
    sid = await summon_area(request.app[POOL], user, {k: body.get(k, "") for k in names}, now=now_of(request))
    async with request.app[POOL].acquire() as conn:
        row = await store.summons(conn, user.scope, sid)
    return respond(AreaSummons, row, 201)
