"""The credit evaluation (诚信评价) with its appeal form, the annual assessment (考核评估) and the reports."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from contract.credit import METHOD_VERSION
from storage import credit as credit_store
from storage.users import User
from supervision import credit as appeal_rules
from web import appeals, reports
from web.api import assessment_rows, month_param, report_params
from web.credit_text import explain
from web.errors import NotFound, Refused
from web.keys import CREDIT, POOL, now_of
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
    appeals.attach(rows, await appeals.listed(request.app[POOL], user.scope, month=month))
    rows.sort(key=lambda r: (r["score"], r["name"]))
    grades = {g: sum(1 for r in rows if r["grade"] == g) for g, _ in request.app[CREDIT].grades}
    return {
        "rows": rows,
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


@routes.get("/assessment")
async def assessment_page(request: web.Request) -> web.Response:
    """The annual assessment (考核评估): a printable page (print CSS) and its CSV."""
    user = page_user(request)
    year, by, county, rows = await assessment_rows(request, user)  # Invalid: the error page says why
    from supervision.assessment import COLUMNS as ASSESSMENT

    ctx = {"rows": rows, "year": year, "by": by, "county": county, "columns": ASSESSMENT}
    return await render(request, "assessment.html", ctx)
