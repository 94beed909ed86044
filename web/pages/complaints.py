"""The inspectors' complaints pages (issue #40 item 7): the list in scope (open, overdue, or all) and one
complaint with its steps: 受理 (handle), the public answer, closing it (web/complaints.py)."""

from __future__ import annotations

from aiohttp import web

from web import complaints
from web.errors import Refused
from web.keys import POOL, now_of
from web.pages.render import check_csrf, form_refused, page_user, render
from web.params import one_of, path_id, qp

routes = web.RouteTableDef()
STATUSES = {"open", "overdue", "received", "handling", "answered", "closed", "all"}


@routes.get("/complaints")
async def complaints_page(request: web.Request) -> web.Response:
    user = page_user(request)
    status = one_of(qp(request.query, "status"), "status", STATUSES) or "open"
    rows = await complaints.listed(request.app[POOL], user, None if status == "all" else status, now_of(request))
    return await render(request, "complaints.html", {"rows": rows, "status": status})


@routes.get("/complaints/{complaint_id}")
async def complaint_page(request: web.Request) -> web.Response:
    user = page_user(request)
    cid = path_id(request.match_info["complaint_id"])
    c = await complaints.detail(request.app[POOL], user, cid, now_of(request))
    return await render(request, "complaint.html", {"c": c, "error": None})


@routes.post("/complaints/{complaint_id}")
async def complaint_step(request: web.Request) -> web.Response:
    user = page_user(request)
    cid = path_id(request.match_info["complaint_id"])
    form = await request.post()
    await check_csrf(request, form)
    now = now_of(request)
    try:
        await complaints.step(request.app[POOL], user, cid, str(form.get("step", "")), str(form.get("text", "")), now)
    except Refused as exc:
        if exc.status in {403, 404}:
            raise
        c = await complaints.detail(request.app[POOL], user, cid, now)
        return await form_refused(request, "complaint.html", {"c": c}, exc)
    raise web.HTTPFound(f"/complaints/{cid}")
