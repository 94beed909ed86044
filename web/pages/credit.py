"""The credit evaluation (诚信评价) with its appeal form, the annual assessment (考核评估) and the reports."""

from __future__ import annotations

from aiohttp import web

from contract.credit import METHOD_VERSION
from storage import credit as credit_store
from web import reports
from web.actions import appeal_credit
from web.api import assessment_rows, month_param, report_params
from web.keys import CREDIT, POOL, now_of
from web.pages.render import check_csrf, page_user, render

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
    async with request.app[POOL].acquire() as conn:
        rows = await credit_store.month_report(conn, user.scope, month, now_of(request), request.app[CREDIT])
    rows.sort(key=lambda r: (r["score"], r["name"]))
    grades = {g: sum(1 for r in rows if r["grade"] == g) for g, _ in request.app[CREDIT].grades}
    ctx = {
        "rows": rows,
        "month": month.isoformat()[:7],
        "grades": grades,
        "cfg": request.app[CREDIT],
        "method": METHOD_VERSION,
    }
    return await render(request, "credit.html", ctx)


@routes.post("/credit/{facility_id}/{month}/appeal")
async def credit_appeal_form(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    month = month_param(request.match_info["month"], now_of(request))
    note = str(form.get("note", ""))
    await appeal_credit(request.app[POOL], user, request.match_info["facility_id"], month, note, now=now_of(request))
    raise web.HTTPFound(f"/credit?month={month.isoformat()[:7]}")


@routes.get("/assessment")
async def assessment_page(request: web.Request) -> web.Response:
    """The annual assessment (考核评估): a printable page (print CSS) and its CSV."""
    user = page_user(request)
    year, by, county, rows = await assessment_rows(request, user)  # Invalid: the error page says why
    from storage.assessment import COLUMNS as ASSESSMENT

    ctx = {"rows": rows, "year": year, "by": by, "county": county, "columns": ASSESSMENT}
    return await render(request, "assessment.html", ctx)
