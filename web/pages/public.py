"""The public page (issue #40 item 7, 信息公示 and 社会监督): no login, read-only but for filing and following a
complaint, limited per client address (web/middleware.py, web/ratelimit.py). A search of the facilities by
county and township, and each facility's public record: its name and area, its 托位 by class type, its
filing status (in the registry since), the grades of its closed months and its closed orders' summaries
(dates and kind, never an inspector's free text). No personal data is read for these pages (storage/public.py)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from contract.inspection import ALL_ITEMS
from storage import circulars as circular_store
from storage import public as store
from supervision import documents as document_rules
from supervision.complaints import ANSWER_PERIOD, CONTACT_MAX, WHAT_MAX
from web import complaints
from web.errors import Invalid, NotFound, Refused
from web.i18n import COUNTIES, DEFAULT_TZ
from web.keys import POOL, now_of, report_conn
from web.pages.documents import issuer_name, subject_name
from web.pages.render import check_csrf, form_refused, lang_of, render
from web.params import client_address, code, qp

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}  # a page with a follow-up code is kept by no cache


def _month_start(request: web.Request, tz: str) -> date:
    """The first day of the running month in `tz`: grades are shown only for months before it."""
    return now_of(request).astimezone(ZoneInfo(tz)).date().replace(day=1)


@routes.get("/public")
async def public_index(request: web.Request) -> web.Response:
    """The facilities of a county (or a township of it), a page at a time. Without a county, the first
    one of the list: a visitor sees facilities on arrival, not an empty list until they press 查看."""
    county = code(qp(request.query, "county"), "county", 6)
    township = code(qp(request.query, "township"), "township", 9)
    if township and (county is None or not township.startswith(county)):
        raise Invalid("township must be one of the county's (its first 6 digits)")
    raw_page = qp(request.query, "page")
    if raw_page and not re.fullmatch(r"[1-9][0-9]{0,3}", raw_page):
        raise Invalid("page must be a number from 1")
    page = int(raw_page or 1)
    async with report_conn(request) as conn:
        counties = await store.counties(conn)
        county = county or (counties[0]["county"] if counties else None)
        rows, towns = [], []
        if county:
            # one more than a page: is there a next one?
            rows = await store.facilities(conn, county, township, limit=store.PAGE + 1, offset=(page - 1) * store.PAGE)
            towns = await store.townships(conn, county)

    def link(p: int) -> str:
        lang = request.query.get("lang", "")
        params = {"county": county or "", "township": township or "", "page": str(p), "lang": lang}
        return "/public?" + urlencode({k: v for k, v in params.items() if v})

    return await render(
        request,
        "public.html",
        {
            "counties": counties,
            "county": county,
            "township": township,
            "rows": rows[: store.PAGE],
            "towns": towns,
            "known": set(COUNTIES),
            "page": page,
            "prev_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if len(rows) > store.PAGE else None,
            "circulars": await _circulars(request),
        },
    )


async def _record(request: web.Request, facility_id: str) -> dict[str, Any]:
    async with report_conn(request) as conn:
        f = await store.facility(conn, facility_id)
        if f is None:
            raise NotFound("no such facility")
        places = await store.places(conn, facility_id)
        filed = await store.filed(conn, facility_id)
        grades = await store.grades(conn, facility_id, _month_start(request, f["timezone"]))
        orders = await store.closed_orders(conn, facility_id)
    lang = lang_of(request)
    return {
        "f": f,
        "filed": filed,
        "places": places,
        "total_places": sum(p["places"] for p in places),
        "grades": grades,
        "orders": [o | {"items": [_item(i, lang) for i in o["items"] or ()]} for o in map(dict, orders)],
        "answer_days": ANSWER_PERIOD.days,
        "what_max": WHAT_MAX,
        "contact_max": CONTACT_MAX,
        "kept": {},
        "error": None,
    }


def _item(item: str, lang: str) -> str:
    found = ALL_ITEMS.get(item)  # of any department (migration 043)
    return item if found is None else found.zh if lang == "zh" else found.en


@routes.get("/public/facilities/{facility_id}")
async def public_facility(request: web.Request) -> web.Response:
    return await render(request, "public_facility.html", await _record(request, request.match_info["facility_id"]))


@routes.post("/public/facilities/{facility_id}/complaints")
async def file_complaint(request: web.Request) -> web.Response:
    facility_id = request.match_info["facility_id"]
    form = await request.post()
    await check_csrf(request, form)
    given = {k: str(v) for k, v in form.items() if k in {"what", "happened_on", "contact"}}
    try:
        filed = await complaints.file(request.app[POOL], facility_id, given, client_address(request), now_of(request))
    except Refused as exc:
        if exc.status == 404:
            raise
        # the form again with what was typed, but the contact: a page is no place for it to travel back on
        ctx = await _record(request, facility_id) | {"kept": given | {"contact": ""}}
        return await form_refused(request, "public_facility.html", ctx, exc)
    resp = await render(request, "public_filed.html", {"code": filed.code, "due_at": filed.due_at, "tz": DEFAULT_TZ})
    resp.headers.update(NO_STORE)
    return resp


@routes.get("/public/complaints")
async def follow_page(request: web.Request) -> web.Response:
    return await render(request, "public_follow.html", {"c": None, "error": None})


@routes.post("/public/complaints")
async def follow_form(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    try:
        row = await complaints.follow(request.app[POOL], str(form.get("code", "")))
    except Refused as exc:
        return await form_refused(request, "public_follow.html", {"c": None}, exc)
    resp = await render(request, "public_follow.html", {"c": row, "error": None})
    resp.headers.update(NO_STORE)
    return resp


async def _circulars(request: web.Request) -> list[dict[str, Any]]:
    """The public circulars (公开通报), newest first: number, title, kind, issuing department, date; never
    who drafted or issued them."""
    lang = lang_of(request)
    async with request.app[POOL].acquire() as conn:
        rows = await circular_store.public(conn)
    return [
        {
            "id": r["id"],
            "title": r["title"],
            "kind": r["kind"],
            "issued_at": r["issued_at"],
            "issuer": issuer_name(r["department"], lang),
            "number": document_rules.number_text(r["number_department"], "circular", r["year"], r["seq"]),
        }
        for r in rows
    ]


@routes.get(r"/public/circulars/{circular_id:[0-9]{1,18}}")
async def public_circular(request: web.Request) -> web.Response:
    """A public circular: its number, title, kind, department and date, its text and its subjects (a
    facility's or a department's name, what is said of it). Issuing it checked it names no person
    (supervision/circulars.py); who drafted or issued it is not shown."""
    lang = lang_of(request)
    async with request.app[POOL].acquire() as conn:
        c = await circular_store.detail(conn, None, int(request.match_info["circular_id"]))
    if c is None:
        raise NotFound("no such circular")
    department, year, seq = c["number"]
    shown = {
        "id": c["id"],
        "title": c["title"],
        "kind": c["kind"],
        "body": c["body"],
        "issued_at": c["issued_at"],
        "issuer": issuer_name(c["department"], lang),
        "number": document_rules.number_text(department, "circular", year, seq),
        "subjects": [{"name": subject_name(s, lang), "statement": s["statement"]} for s in c["subjects"]],
    }
    return await render(request, "public_circular.html", {"c": shown})
