"""The order page's forms for 复查 and extensions (issue #40 item 2; web/followups.py): the reviewer accepts
subject to a re-inspection, the operator asks for one extension, the issuing level decides it."""

from __future__ import annotations

from aiohttp import web

from web import followups
from web.api import public_url
from web.errors import Refused
from web.keys import POOL, now_of
from web.pages.render import check_csrf, page_user
from web.pages.supervision import local_due, order_refused
from web.params import path_id

routes = web.RouteTableDef()


@routes.post("/orders/{order_id}/recheck")
async def recheck_form(request: web.Request) -> web.Response:
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    body = {"planned_for": str(form.get("planned_for", "")).strip(), "note": str(form.get("note", ""))}
    try:
        await followups.recheck(request.app[POOL], user, order_id, body, public_url(request), now=now_of(request))
    except Refused as exc:
        return await order_refused(request, user, order_id, exc, "recheck", form)
    raise web.HTTPFound(f"/orders/{order_id}")


@routes.post("/orders/{order_id}/extension")
async def extension_form(request: web.Request) -> web.Response:
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    due = await local_due(request, order_id, str(form.get("due_at", "")))
    body = {"due_at": due, "reason": str(form.get("reason", ""))}
    try:
        await followups.extension(request.app[POOL], user, order_id, body, public_url(request), now=now_of(request))
    except Refused as exc:
        return await order_refused(request, user, order_id, exc, "extension", form)
    raise web.HTTPFound(f"/orders/{order_id}")


@routes.post("/orders/{order_id}/extension/{decision:approve|reject}")
async def extension_decision_form(request: web.Request) -> web.Response:
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    body = {"reason": str(form.get("reason", ""))}
    decision = request.match_info["decision"]
    try:
        await followups.decide(
            request.app[POOL], user, order_id, decision, body, public_url(request), now=now_of(request)
        )
    except Refused as exc:
        return await order_refused(request, user, order_id, exc, "decide", form)
    raise web.HTTPFound(f"/orders/{order_id}")
