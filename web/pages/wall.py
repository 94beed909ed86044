"""The duty-room wall (值班大屏, issue #17 item 5, issue #41 item 4): at 1920 × 1080, without scrolling and
readable across a room, the map of its area with the facilities coloured by state, the counts by state, the
last hour's life-safety (critical) alerts, today's alerts and lapses by hour, the orders waiting for 督办, the
facilities needing attention and the intake banner. A city-wide wall rotates through its counties
(web/static/wall.js asks for `?county=`); a county's or a township's wall shows its own area only."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta

from aiohttp import web

from storage import queries
from storage import wall as wall_store
from storage.credit import CITY_TZ
from web.i18n import TEXT, county_name, scope_name, township_name
from web.keys import GATEWAYS, POOL, RULES, now_of
from web.pages.overview import STATE_RANK, json_for_script, map_points_json
from web.pages.render import lang_of, page_user, render

routes = web.RouteTableDef()

LIFE_SAFETY_WINDOW = timedelta(hours=1)
WALL_CRITICAL = 6  # life-safety alerts listed (the panel's height at 1920 × 1080 in large type)
WALL_FOLLOWUPS = 4  # orders waiting for 督办 listed under their count
WALL_FACILITIES = 6  # facilities needing attention listed
HOURS = 24  # Asia/Shanghai has no summer time: a local day is 24 hours


def day_start(now: datetime) -> datetime:
    """The start of `now`'s local day in the city's zone."""
    return datetime.combine(now.astimezone(CITY_TZ).date(), time(0), CITY_TZ)


def hourly_series(counts: dict[int, int], now: datetime) -> list[int | None]:
    """24 values for the chart, one an hour of the local day: the count so far, None for hours still to come."""
    current = int((now - day_start(now)).total_seconds() // 3600)
    return [counts.get(h, 0) if h <= current else None for h in range(HOURS)]


@routes.get("/wall")
async def wall(request: web.Request) -> web.Response:
    """`?fragment=1` answers the changing part only (the page fetches it on every change); `?county=` narrows a
    city-wide wall to one county (ignored below the city: a county's wall is its own county)."""
    user = page_user(request)
    lang = lang_of(request)
    now = now_of(request)
    raw = request.query.get("county", "")
    county = raw if not user.scope.below_city and re.fullmatch(r"[0-9]{6}", raw) else None
    gateways = await request.app[GATEWAYS].get(request.app[POOL], request.app[RULES], now)
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facilities(
            conn, user.scope, county=county, rules=request.app[RULES], now=now, gateways=gateways
        )
        critical = await wall_store.critical_since(conn, user.scope, county, now - LIFE_SAFETY_WINDOW, WALL_CRITICAL)
        hours = await wall_store.by_hour(conn, user.scope, county, day_start(now), now)
        n_followups, followups = await wall_store.followups(conn, user.scope, county, now, WALL_FOLLOWUPS)
        # the counties a city-wide wall rotates through: those with facilities in scope
        areas = (
            []
            if user.scope.below_city
            else sorted({r["county"] for r in await queries.facility_names(conn, user.scope)})
        )
    counts = {s: sum(1 for f in facs if f["state"] == s) for s in STATE_RANK}
    attention = sorted(
        (f for f in facs if f["state"] != "green" or f["suspended"]), key=lambda f: (STATE_RANK[f["state"]], f["name"])
    )
    t = TEXT[lang]
    data = {
        # the map's county: the one shown, the user's own (a township's: its code's first six digits)
        "county": county
        or user.scope.county
        or (user.scope.township or "")[:6]
        or (facs[0]["county"] if user.role == "operator" and facs else ""),
        "points": json.loads(str(map_points_json([f for f in facs if f["location"]], suspended=t["suspended"]))),
        # the township markers' names (map.js): names, not codes, on the wall
        "townships": {f["township"]: township_name(f["township"], lang) for f in facs if f["township"]},
        "hours": [t["wall_hour"].format(h) for h in range(HOURS)],
        "series": [
            {"name": t["wall_alerts_series"], "data": hourly_series(hours["alerts"], now)},
            {"name": t["wall_lapses_series"], "data": hourly_series(hours["lapses"], now)},
        ],
    }
    scope = scope_name(user.scope, lang)
    ctx = {
        "counts": counts,
        "critical": critical,
        "followups": followups,
        "n_followups": n_followups,
        "attention": attention[:WALL_FACILITIES],
        "attention_more": max(0, len(attention) - WALL_FACILITIES),
        "scope": scope,
        "area_name": county_name(county, lang) if county else scope,
        "areas": [["", t["wall_whole_city"]], *[[c, county_name(c, lang)] for c in areas]],
        "rotate": not user.scope.below_city,
        "wall_data": json_for_script(data),
        "fragment": request.query.get("fragment") == "1",
    }
    return await render(request, "wall.html", ctx)
