"""The closures page (issue #42 item 4): a county's 停课 declared by a county or city inspector, a facility's
own closure requested by its operator and approved or rejected by an inspector in scope (web/closures.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from storage import closures as closure_store
from storage.users import User
from supervision import closures as rules
from supervision.requests import may_decide
from web import closures
from web.errors import Refused
from web.keys import POOL, now_of
from web.pages.render import check_csrf, form_refused, page_user, render

routes = web.RouteTableDef()
SHOWN_DAYS = 31  # closures that ended this long ago or less are listed


async def _ctx(request: web.Request, user: User) -> dict[str, Any]:
    now = now_of(request)
    since = now.astimezone(closures.COUNTY_TZ).date() - timedelta(days=SHOWN_DAYS)
    async with request.app[POOL].acquire() as conn:
        rows = await closure_store.in_scope(conn, user.scope, since)
    return {
        "closures": rows,
        "may_declare": rules.may_declare(user.scope),
        "may_decide": may_decide(user.scope),
        "error": None,
        "kept": {},
    }


@routes.get("/closures")
async def closures_page(request: web.Request) -> web.Response:
    user = page_user(request)
    return await render(request, "closures.html", await _ctx(request, user))


async def _form(request: web.Request) -> tuple[User, dict[str, str]]:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    return user, {k: str(v) for k, v in form.items() if k != "csrf"}


async def _refused(request: web.Request, user: User, exc: Refused, kept: dict[str, str]) -> web.Response:
    return await form_refused(request, "closures.html", await _ctx(request, user) | {"kept": kept}, exc)


@routes.post("/closures/county")
async def declare_form(request: web.Request) -> web.Response:
    user, form = await _form(request)
    try:
        await closures.declare(request.app[POOL], user, form, now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, exc, form)
    raise web.HTTPFound("/closures")


@routes.post("/closures/request")
async def request_form(request: web.Request) -> web.Response:
    user, form = await _form(request)
    facility = user.scope.facility if user.role == "operator" else form.get("facility_id", "").strip()
    try:
        await closures.request(request.app[POOL], user, facility or "", form, now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, exc, form)
    raise web.HTTPFound("/closures")


@routes.post("/closures/{closure_id:[0-9]{1,18}}")
async def decision_form(request: web.Request) -> web.Response:
    user, form = await _form(request)
    try:
        cid = int(request.match_info["closure_id"])
        await closures.decide(request.app[POOL], user, cid, form.get("decision", ""), form, now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, exc, {})
    raise web.HTTPFound("/closures")
