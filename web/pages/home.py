"""The operator's landing page (issue #41 item 5): what waits for them first, so that on a phone (390 x 844)
the newest 整改通知 and the alerts to acknowledge are on the first screen, each with its button; the
facility's full page is one link away."""

from __future__ import annotations

from aiohttp import web

from storage import filing as filing_store
from storage import queries
from storage import rectification as rectification_store
from storage.users import User
from supervision import orders as order_rules
from web.keys import GATEWAYS, POOL, RULES, now_of
from web.pages.render import render

HOME_ALERTS = 20  # alerts to acknowledge listed on it (all of them: /alerts)


async def operator_home(request: web.Request, user: User) -> web.Response:
    """Orders to answer (newest first, the late ones marked), open alerts nobody has acknowledged yet (by
    their latest evidence), a returned filing: each with its count. Reads only; it changes nothing."""
    fid = user.scope.facility
    now = now_of(request)
    gateways = await request.app[GATEWAYS].get(request.app[POOL], request.app[RULES], now)
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facilities(
            conn, user.scope, facility_id=fid, rules=request.app[RULES], now=now, gateways=gateways
        )
        orders = await rectification_store.orders(conn, user.scope, now, status="open", facility_id=fid)
        alerts = await queries.alerts(
            conn, user.scope, facility_id=fid, status="open", order="last_seen_at", limit=HOME_ALERTS + 1
        )
        filing_returned = await filing_store.waiting_count(conn, user.scope, None, now)
    to_answer = [o for o in orders if order_rules.awaits_facility(o["status"])]
    to_ack = [a for a in alerts if not a["acknowledged"]]
    return await render(
        request,
        "home.html",
        {
            "f": facs[0] if facs else {"id": fid, "name": fid, "state": "grey"},
            "to_answer": to_answer,
            "to_ack": to_ack[:HOME_ALERTS],
            "to_ack_more": len(to_ack) > HOME_ALERTS,
            "filing_returned": filing_returned,
        },
    )
