"""双随机一公开 pages (issue #40 item 5): a county's published lists and its draws (`/draws`), one draw with
its inputs, seed, results and a re-run (`/draws/{id}`, `?verify=1`). Readable by every inspector and admin;
a county or city inspector draws and marks availability (web/draws.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from storage import draws as store
from storage import suspensions as suspension_store
from storage.users import User
from supervision import draws as rules
from web import draws
from web.errors import Invalid, Refused
from web.i18n import COUNTIES
from web.keys import POOL, now_of
from web.pages.render import check_csrf, form_refused, page_user, render
from web.params import path_id

routes = web.RouteTableDef()


def _reader(request: web.Request) -> User:
    return draws.reader(page_user(request))


def _county(user: User, raw: str) -> str:
    """The county shown: the one asked for, else the user's own, else the city's first."""
    try:
        return draws.county_of(user, raw)
    except Invalid:
        if raw:
            raise
        return next(iter(COUNTIES))


async def _ctx(request: web.Request, user: User, county: str) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        lists = await draws.lists(conn, county)
        rows = await store.draws(conn, county)
        suspended = await suspension_store.in_force_among(conn, (f["id"] for f in lists["facilities"]))
    return {
        "county": county,
        "counties": list(COUNTIES) if user.scope.county is None else [],
        "lists": lists,
        "suspended": suspended,
        "draws": rows,
        "may_draw": rules.may_draw(user.scope, county),
        "error": None,
        "kept": {},
    }


@routes.get("/draws")
async def draws_page(request: web.Request) -> web.Response:
    user = _reader(request)
    county = _county(user, request.query.get("county", ""))
    return await render(request, "draws.html", await _ctx(request, user, county))


async def _form(request: web.Request) -> tuple[User, dict[str, str]]:
    user = _reader(request)
    form = await request.post()
    await check_csrf(request, form)
    return user, {k: str(v) for k, v in form.items() if k != "csrf"}


@routes.post("/draws")
async def draw_form(request: web.Request) -> web.Response:
    user, form = await _form(request)
    county = _county(user, form.get("county", ""))
    raw_count = form.get("count", "").strip()
    body: dict[str, Any] = {
        "county": county,
        "count": int(raw_count) if raw_count.isascii() and raw_count.isdigit() and len(raw_count) < 6 else raw_count,
        "planned_for": form.get("planned_for", "").strip(),
        "reason": form.get("reason", ""),
    }
    try:
        draw_id = await draws.make(request.app[POOL], user, body, now=now_of(request))
    except Refused as exc:
        ctx = await _ctx(request, user, county) | {"kept": form}
        return await form_refused(request, "draws.html", ctx, exc)
    raise web.HTTPFound(f"/draws/{draw_id}")


@routes.post("/draws/inspectors/{username}")
async def availability_form(request: web.Request) -> web.Response:
    user, form = await _form(request)
    county = _county(user, form.get("county", ""))
    body = {"available": form.get("available") == "1", "reason": form.get("reason", "")}
    try:
        await draws.mark(request.app[POOL], user, request.match_info["username"], body, now=now_of(request))
    except Refused as exc:
        return await form_refused(request, "draws.html", await _ctx(request, user, county), exc)
    raise web.HTTPFound(f"/draws?county={county}")


@routes.get("/draws/{draw_id:[0-9]{1,18}}")
async def draw_page(request: web.Request) -> web.Response:
    _reader(request)
    draw_id = path_id(request.match_info["draw_id"])
    async with request.app[POOL].acquire() as conn:
        d = await draws.detail(conn, draw_id)
        verdict = await rules.verify(conn, draw_id) if request.query.get("verify") == "1" else None
        names = {
            i["username"]: i["display_name"] or i["username"] for i in await store.listed_inspectors(conn, d["county"])
        }
        suspended = await suspension_store.in_force_among(conn, (r["facility_id"] for r in d["results"]))
    ctx = {"d": d, "verdict": verdict, "names": names, "suspended": suspended}
    return await render(request, "draw.html", ctx)
