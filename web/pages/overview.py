"""The overview (city → county → township, with the map, and its alert lists alone for the live page), and the
two banners every page fetches: data intake stopped or behind, and the active critical alarms. The duty-room
wall is web/pages/wall.py."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
from aiohttp import web
from markupsafe import Markup

from contract.places import boundaries_geojson
from storage import maintenance as maintenance_store
from storage import queries
from storage.users import User
from web.i18n import TEXT, scope_name, township_name
from web.keys import GATEWAYS, POOL, RULES, TIMING, now_of
from web.pages.home import operator_home
from web.pages.render import lang_of, page_user, render

routes = web.RouteTableDef()


@routes.get("/intake-banner")
async def intake_banner(request: web.Request) -> web.Response:
    """The data-intake banner alone (empty while intake keeps up): open pages fetch it (live.js), so a
    page left open says so when the platform stops hearing, and stops saying so when it hears again."""
    return await render(request, "intake_banner.html", {})


BANNER_ALERTS = 3  # active critical alerts in the red banner, the newest by their latest evidence (all: /alerts)


@routes.get("/critical-banner")
async def critical_banner(request: web.Request) -> web.Response:
    """The red banner alone: the active critical alerts in the user's scope, each a link to its alert.
    Every page fetches it when it opens and on each change of a critical alert (live.js), so the banner
    is the current state: a cleared alarm leaves it, an escalated one stays one entry."""
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        critical = await queries.alerts(
            conn, user.scope, status="active", severity="critical", limit=BANNER_ALERTS, order="last_seen_at"
        )
    return await render(request, "critical_banner.html", {"critical": critical})


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    user = page_user(request)
    if user.role == "operator" and user.scope.facility:
        return await operator_home(request, user)  # what waits for them first; their facility one link away
    raw_county, raw_township = request.query.get("county", ""), request.query.get("township", "")
    county = raw_county if re.fullmatch(r"[0-9]{6}", raw_county) else None
    # a township's view (issue #41 item 3): its county's map zoomed to its facilities, its facilities listed; a
    # township's code begins with its county's
    township = raw_township if re.fullmatch(r"[0-9]{9}", raw_township) else None
    if township:
        county = township[:6]
    if request.query.get("fragment") == "alerts":  # the open-alert lists alone (live.js), without the map
        async with request.app[POOL].acquire() as conn:
            lists = await _alert_lists(conn, user, county, township)
        return await render(request, "overview_alerts.html", {**lists, "county": county, "township": township})
    timing = request[TIMING]
    with timing("gateways"):
        gateways = await request.app[GATEWAYS].get(request.app[POOL], request.app[RULES], now_of(request))
    async with request.app[POOL].acquire() as conn:
        with timing("facilities"):
            facs = await queries.facilities(
                conn, user.scope, county=county, rules=request.app[RULES], now=now_of(request), gateways=gateways
            )
        with timing("sql"):
            summary = await queries.summary(conn, user.scope, county, township)
            lists = await _alert_lists(conn, user, county, township)
            pending_windows = await maintenance_store.pending(conn, user.scope, now_of(request))
    by_township = user.scope.below_city or county is not None
    # A city-wide view lists the facilities that need attention (red, amber, grey), worst first; the green
    # ones are on the map and one click away in their county's list (city → county → township).
    listed = facs if by_township else [f for f in facs if f["state"] != "green" or f["suspended"]]
    if township:
        listed = [f for f in facs if f["township"] == township]
    # the townships of the view with facilities, by name: the map's markers, the selector beside it
    townships = {f["township"]: township_name(f["township"], lang_of(request)) for f in facs if f["township"]}
    listed = sorted(listed, key=lambda f: (STATE_RANK[f["state"]], -f["open_alerts"], f["name"]))
    # [id, name, lon, lat, state, county, township] a facility, as compact JSON made once (a province's 5,000
    # facilities: jinja's tojson of dicts was a quarter of the page's time, bench province)
    points = map_points_json([f for f in facs if f["location"]], suspended=TEXT[lang_of(request)]["suspended"])
    with timing("render"):
        return await render(
            request,
            "overview.html",
            {
                "listed": listed[:OVERVIEW_LIST],
                "listed_more": max(0, len(listed) - OVERVIEW_LIST),
                "facilities": facs,
                "map_points": points,
                "summary": summary,
                "areas": queries.areas(facs, by_township),
                "by_township": by_township,
                "county": county,
                "township": township if township in townships else None,
                "townships": sorted(townships.items(), key=lambda kv: kv[0]),
                "map_townships": json_for_script(townships),
                **lists,
                "pending_windows": pending_windows,  # maintenance requests awaiting a decision
                "scope": facs[0]["name"]
                if user.role == "operator" and facs
                else scope_name(user.scope, lang_of(request)),
                "understaffed": [f for f in facs if f["staffing_alerts"] and township in (None, f["township"])],
                # below the city, the map shows the user's own county (an operator's: their facility's)
                "map_county": county
                or user.scope.county
                or (facs[0]["county"] if user.role == "operator" and facs else ""),
            },
        )


async def _alert_lists(
    conn: asyncpg.Connection, user: User, county: str | None, township: str | None = None
) -> dict[str, Any]:
    """The overview's alert lists: the active ones, and the cleared ones that wait for an acknowledgement
    under their own heading; each by its latest evidence, as the wall: a reopened alarm comes back to the top."""
    return {
        status_key: await queries.alerts(
            conn, user.scope, status=status, limit=20, county=county, township=township, order="last_seen_at"
        )
        for status_key, status in (("alerts", "active"), ("awaiting_ack", "awaiting_ack"))
    }


_HTML_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))


def json_for_script(value: Any) -> Markup:
    """Any JSON value for a `<script type="application/json">`, escaped as map_points_json."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _HTML_SAFE:
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704


def map_points_json(facs: list[dict[str, Any]], suspended: str = "") -> Markup:
    """The map's facilities for a `<script type="application/json">`: escaped as jinja's tojson does
    (no `<`, `>`, `&` or `'` survives), without its sorted keys and ASCII escapes. A suspended facility's
    name carries `suspended` (停业整改中) in brackets: the map's tooltip shows it."""

    def name(f: dict[str, Any]) -> str:
        return f"{f['name']}（{suspended}）" if f.get("suspended") and suspended else str(f["name"])

    rows = [
        [f["id"], name(f), f["location"]["lon"], f["location"]["lat"], f["state"], f["county"], f["township"]]
        for f in facs
    ]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _HTML_SAFE:  # str.replace, not str.translate: 10x quicker on 500 kB
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704


@routes.get("/geo/counties.json")
async def county_boundaries(_: web.Request) -> web.Response:
    """Xinzhou's county boundaries for the overview's map (contract/places.py names the data's source)."""
    return web.Response(
        text=boundaries_geojson(), content_type="application/json", headers={"Cache-Control": "max-age=86400"}
    )


OVERVIEW_LIST = 300  # facilities listed on the overview (the rest: a county's drill-down, the map)
STATE_RANK = {"red": 0, "amber": 1, "grey": 2, "green": 3}
