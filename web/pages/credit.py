"""The credit evaluation (诚信评价) with its appeal form, the annual assessment (考核评估) and the reports."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from contract.credit import METHOD_VERSION
from storage import assessment as assessment_store
from storage import credit as credit_store
from storage import suspensions as suspension_store
from storage.users import User
from supervision import credit as appeal_rules
from web import appeals, reports
from web import assessment as assessment_action
from web.api import assessment_rows, month_param, report_params
from web.credit_text import explain
from web.errors import NotFound, Refused
from web.keys import CREDIT, POOL, TARGETS, now_of
from web.pages.render import check_csrf, form_refused, page_user, render
from web.params import path_id

routes = web.RouteTableDef()


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    user = page_user(request)
    # the page's form sends empty fields; they mean "not set" here
    period, start, end, county, township = report_params(request, {k: v for k, v in request.query.items() if v})
    async with request.app[POOL].acquire() as conn:
        rows = await reports.facility_report(conn, user.scope, start, end, county, township, now=now_of(request))
    return await render(request, "reports.html", {"rows": rows, "period": period, "day": start.date().isoformat()})


# -- the credit evaluation (诚信评价) -------------------------------------------------------------------------
@routes.get("/credit")
async def credit_page(request: web.Request) -> web.Response:
    user = page_user(request)
    month = month_param(request.query.get("month", ""), now_of(request))  # Invalid: the error page says why
    return await render(request, "credit.html", await _credit_ctx(request, user, month))


async def _credit_ctx(request: web.Request, user: User, month: date) -> dict[str, Any]:
    """The month's records in scope, each with its appeals (web/appeals.py), and who may file or decide."""
    async with request.app[POOL].acquire() as conn:
        rows = await credit_store.month_report(conn, user.scope, month, now_of(request), request.app[CREDIT])
        suspended = await suspension_store.in_force_among(conn, (r["facility_id"] for r in rows))
    appeals.attach(rows, await appeals.listed(request.app[POOL], user.scope, month=month))
    rows.sort(key=lambda r: (r["score"], r["name"]))
    grades = {g: sum(1 for r in rows if r["grade"] == g) for g, _ in request.app[CREDIT].grades}
    return {
        "rows": rows,
        "suspended": suspended,  # 停业整改中 now (a month's record is the month's; the tag is today's state)
        "month": month.isoformat()[:7],
        "grades": grades,
        "cfg": request.app[CREDIT],
        "method": METHOD_VERSION,
        "may_file": user.role == "operator",
        "may_decide": appeal_rules.may_decide(user.scope),
        "explain": explain,  # web.credit_text: what counted and why, as sentences
        "error": None,
    }


@routes.post("/credit/{facility_id}/{month}/appeal")
async def credit_appeal_form(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    month = month_param(request.match_info["month"], now_of(request))
    try:
        await appeals.file(
            request.app[POOL], user, request.match_info["facility_id"], month, form.get("note"), now=now_of(request)
        )
    except NotFound:
        raise
    except Refused as exc:
        return await form_refused(request, "credit.html", await _credit_ctx(request, user, month), exc)
    raise web.HTTPFound(f"/credit?month={month.isoformat()[:7]}")


@routes.post("/credit/appeals/{appeal_id}/decide")
async def credit_decide_form(request: web.Request) -> web.Response:
    """Accept with a corrected score, or reject; the month's page again."""
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    accept = str(form.get("decision", "")) == "accept"
    raw = str(form.get("score", "")).strip()
    try:
        score: object = float(raw) if raw else None
    except ValueError:
        score = raw  # not a number: the rules refuse it with their reason
    body = {"accept": accept, "score": score, "reason": str(form.get("reason", ""))}
    month = month_param(str(form.get("month", "")), now_of(request))
    try:
        await appeals.decide(
            request.app[POOL],
            user,
            path_id(request.match_info["appeal_id"]),
            body,
            request.app[CREDIT],
            now=now_of(request),
        )
    except NotFound:
        raise
    except Refused as exc:
        return await form_refused(request, "credit.html", await _credit_ctx(request, user, month), exc)
    raise web.HTTPFound(f"/credit?month={month.isoformat()[:7]}")


def _departments_only(request: web.Request) -> User:
    """The signed-in user unless an operator: the assessment grades the departments, not the facilities."""
    user = page_user(request)
    if user.role == "operator":
        raise NotFound()
    return user


@routes.get("/assessment")
async def assessment_page(request: web.Request) -> web.Response:
    """督导评估: the areas ranked by their work index with each indicator's figure and how it was computed,
    the 约谈 recorded, and (for the level above) a 约谈 form and a 通报 link beside each area; printable.
    The departments' own business: an operator gets 404, as for /audit (CONTRACT "Who may do what")."""
    user = _departments_only(request)
    return await render(request, "assessment.html", await _assessment_ctx(request, user))


async def _assessment_ctx(request: web.Request, user: User, kept: dict[str, str] | None = None) -> dict[str, Any]:
    # the page's form sends empty fields (the whole year); they mean "not set" here. Invalid: the error page
    query = {k: v for k, v in request.query.items() if v}
    year, quarter, by, county, rows = await assessment_rows(request, user, query)
    from supervision import assessment as rules

    # the 约谈 are the departments': shown to inspectors and admins (a township's, its own), never to operators
    summoned: list[dict[str, Any]] = []
    if user.role != "operator":
        async with request.app[POOL].acquire() as conn:
            # within the user's scope whatever `county` asks (another county's 约谈 are not theirs to read)
            summoned = await assessment_store.summonses_in(conn, user.scope, year, county or user.scope.county)
        if not (county or user.scope.county):  # the city's view: the counties summoned
            summoned = [s for s in summoned if s["level"] == "county"]
    level = "county" if by == "county" else "township"
    may = {r["area"]: rules.may_summon(user.scope, level, r["area"][:6]) for r in rows}
    last = next((r["area"] for r in reversed(rows) if may[r["area"]]), "")
    return {
        "rows": rows,
        "year": year,
        "quarter": quarter,
        "period": f"{year}" if quarter is None else f"{year}-Q{quarter}",
        "by": by,
        "county": county,
        "columns": rules.COLUMNS,
        "indicators": rules.INDICATORS,
        "weights": rules.WEIGHTS,
        "county_only": rules.COUNTY_ONLY,
        "target_keys": rules.TARGETS,
        "targets": request.app[TARGETS],
        "summoned": summoned,
        "may_summon": may,
        "kept": kept or {"area": last},
        "error": None,
    }


@routes.post("/assessment/summons")
async def assessment_summons(request: web.Request) -> web.Response:
    """约谈 of a lagging area from the assessment page (web/assessment.py): back to the page it came from."""
    user = _departments_only(request)
    form = await request.post()
    await check_csrf(request, form)
    body = {k: str(form.get(k, "")) for k in ("area", "period", "held_on", "people", "minutes")}
    try:
        await assessment_action.summon_area(request.app[POOL], user, body, now=now_of(request))
    except NotFound:
        raise
    except Refused as exc:
        return await form_refused(request, "assessment.html", await _assessment_ctx(request, user, body), exc)
    query = {"year": body["period"][:4]} | ({"quarter": body["period"][-1]} if "-Q" in body["period"] else {})
    if request.query.get("county"):
        query["county"] = request.query["county"]
    raise web.HTTPFound(f"/assessment?{urlencode(query)}#summons")
