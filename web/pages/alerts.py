"""The alert inbox, one alert's page and its acknowledgement form."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from contract.inspection import DEPARTMENTS
from contract.rules import SEVERITIES, RuleId, rules_of_department
from storage import queries
from storage.users import User
from supervision import departments as department_rules
from supervision import orders as order_rules
from web.actions import acknowledge, record_whereabouts
from web.errors import Invalid, NotFound, Refused
from web.keys import POOL, RULES, now_of
from web.pages.render import check_csrf, form_refused, page_user, render
from web.params import local_path, path_id

routes = web.RouteTableDef()


INBOX_PAGE = 50  # alerts a page of the inbox


@routes.get("/alerts")
async def alert_inbox(request: web.Request) -> web.Response:
    """Filter by area, facility, rule, the rule's department, severity and state; a bad filter value is simply
    ignored."""
    user = page_user(request)
    q = request.query
    status = q.get("status") if q.get("status") in {"open", "active", "awaiting_ack", "cleared", "all"} else "open"
    severity = q.get("severity") if q.get("severity") in queries.SEVERITY_RANK else None
    rule = q.get("rule") if q.get("rule") in RuleId.__members__.values() else None
    # a department's alerts (contract/rules.py RULE_DEPARTMENTS): an inspector picks their own; default all in scope
    department = q.get("department") if q.get("department") in DEPARTMENTS else None
    county = q.get("county") if re.fullmatch(r"[0-9]{6}", q.get("county", "")) else None
    township = q.get("township") if re.fullmatch(r"[0-9]{9}", q.get("township", "")) else None
    facility_id = q.get("facility_id") or None
    sort = q.get("sort", "") if q.get("sort") in queries.ALERT_ORDER else "opened_at"
    descending = q.get("order") != "asc"
    page = int(q["page"]) if re.fullmatch(r"[1-9][0-9]{0,3}", q.get("page", "")) else 1
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facility_names(conn, user.scope)
        alerts = await queries.alerts(
            conn,
            user.scope,
            status=status or "open",
            severity=severity,
            rule=rule,
            rules=sorted(rules_of_department(department)) if department else None,
            county=county,
            township=township,
            facility_id=facility_id,
            order=sort,
            descending=descending,
            limit=INBOX_PAGE + 1,  # one more: is there a next page?
            offset=(page - 1) * INBOX_PAGE,
        )

    def link(**changes: object) -> str:
        """This inbox with the same filters and some parameters changed (sort, order, page)."""
        params = {k: v for k, v in q.items() if k != "lang"} | {k: str(v) for k, v in changes.items()}
        return "/alerts?" + urlencode(params)

    def sort_link(col: str) -> str:
        same = col == sort
        return link(sort=col, order="asc" if same and descending else "desc", page=1)

    return await render(
        request,
        "alerts.html",
        {
            "status": status,
            "severity": severity,
            "rule": rule,
            "rules": sorted(r.value for r in RuleId),
            "department": department,
            "departments": list(DEPARTMENTS),
            "own_department": user.department if user.role == "inspector" else None,
            "severities": SEVERITIES,
            "county": county,
            "township": township,
            "facility_id": facility_id,
            "counties": sorted({f["county"] for f in facs}),
            "townships": sorted({f["township"] for f in facs}),
            "facilities": facs,
            "alerts": alerts[:INBOX_PAGE],
            "sortable": True,
            "sort": sort,
            "descending": descending,
            "sort_link": sort_link,
            "page": page,
            "prev_link": link(page=page - 1) if page > 1 else None,
            "next_link": link(page=page + 1) if len(alerts) > INBOX_PAGE else None,
        },
    )


@routes.post("/alerts/{alert_id}/ack")
async def ack_form(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    alert_id = path_id(request.match_info["alert_id"])
    user = page_user(request)
    note = str(form.get("note", ""))
    try:
        await acknowledge(request.app[POOL], user, alert_id, note, now=now_of(request))
    except Invalid as exc:  # the alert's page again, with the reason in the page's language and the note typed
        ctx = await _alert_ctx(request, user, alert_id) | {"kept_note": {"alert": alert_id, "note": note[:2000]}}
        return await form_refused(request, "alert.html", ctx, exc)
    raise web.HTTPFound(local_path(str(form.get("back") or ""), "/alerts"))


@routes.post("/alerts/{alert_id}/whereabouts")
async def whereabouts_form(request: web.Request) -> web.Response:
    """Where the child of a `child_not_collected` alert is, with a note (issue #42 item 3)."""
    form = await request.post()
    await check_csrf(request, form)
    alert_id = path_id(request.match_info["alert_id"])
    user = page_user(request)
    note = str(form.get("note", ""))
    try:
        await record_whereabouts(request.app[POOL], user, alert_id, note, now=now_of(request))
    except Refused as exc:  # the alert's page again, with the reason in the page's language and the note typed
        if isinstance(exc, NotFound):
            raise
        kept = {"alert": alert_id, "note": note[:2000], "whereabouts": True}
        ctx = await _alert_ctx(request, user, alert_id) | {"kept_note": kept}
        return await form_refused(request, "alert.html", ctx, exc)
    raise web.HTTPFound(f"/alerts/{alert_id}")


async def _alert_ctx(request: web.Request, user: User, alert_id: int) -> dict[str, Any]:
    """One alert's page, as its address shows it and as a refused acknowledgement shows it again."""
    async with request.app[POOL].acquire() as conn:
        a = await queries.alert_detail(conn, user.scope, alert_id)
        if a is None:
            raise NotFound("no such alert")
        f = await queries.facility_with_closures(conn, user.scope, a["facility_id"])
        on_site = None
        if f is not None:
            status = await queries.facility_status(conn, f, rules=request.app[RULES], now=now_of(request))
            on_site = site_context(f, a, status)
    # the order form only for who may issue one on this alert (its department: 卫健, or the one it concerns)
    may_issue = order_rules.level_of(user.scope) is not None and department_rules.may_issue(
        user.scope, user.department, alert_rule=a["rule"]
    )
    return {
        "a": a,
        "alerts": [a],
        "may_issue": may_issue,
        "on_site": on_site,
        "error": None,
    }


def site_context(f: Any, a: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """What an inspector needs beside an alert (issue #41 item 6): whether the facility was open when it
    happened (its accepted opening hours with its approved closures) and who is badged in on site now, by
    role, with the children. It says what the records say and changes nothing of the alert: a panic in a
    closed facility with nobody badged in is shown as such, never taken for a false alarm."""
    happened = datetime.fromisoformat(a["occurred_at"] or a["opened_at"]).astimezone(ZoneInfo(f["timezone"]))
    staff = {role: n for role, n in status["staff_on_site"].items() if n}
    return {
        "open_then": queries.opening_hours(f).is_open_at(happened),
        "staff": staff,
        "children": status["children_present"],
        "nobody": not staff and not status["children_present"],
    }


@routes.get("/alerts/{alert_id}")
async def alert_page(request: web.Request) -> web.Response:
    user = page_user(request)
    return await render(request, "alert.html", await _alert_ctx(request, user, path_id(request.match_info["alert_id"])))
