"""The printable documents (issue #40 item 4): an order's 整改通知书 at /orders/{id}.pdf, an inspection's
现场检查记录 at /inspections/{id}.pdf, a 复查's 复查意见书 at /inspections/{id}/recheck.pdf, a 催办's or a 约谈's
督办通知 at /orders/{id}/steps/{step}.pdf and a 通报 at /circulars/{id}.pdf, for whoever may see the order, the
inspection or the circular (404 otherwise).
web/documents.py lays them out; these handlers gather the rows and run it in a worker thread."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from contract.inspection import DEFAULT_DEPARTMENT
from storage import circulars as circular_store
from storage import documents as document_store
from storage import inspections as inspection_store
from storage import order_followups as followup_store
from storage import rectification as rectification_store
from supervision import countersign as countersign_rules
from supervision import documents as document_rules
from supervision import orders as order_rules
from web import documents
from web.errors import Conflict, NotFound
from web.i18n import TEXT, county_name, label, township_name
from web.keys import POOL, now_of
from web.pages.render import lang_of, page_user
from web.params import path_id

routes = web.RouteTableDef()


def issuer_name(department: str, lang: str) -> str:
    """The issuing department's name on the document (its place: the city, a county, a township; and its
    department when not 卫健's: 忻府区托育机构安全监管部门（消防）)."""
    department, kind = document_rules.split(department)
    if department == "city":
        place = "忻州市" if lang == "zh" else "Xinzhou"
    elif len(department) == 6:
        place = county_name(department, lang)
    else:
        place = f"{county_name(department[:6], lang)} {township_name(department, lang)}"
    name = TEXT[lang]["doc_issuer"].format(place=place)
    if kind == DEFAULT_DEPARTMENT:
        return name
    which = label("department", kind, lang)
    return f"{name}（{which}）" if lang == "zh" else f"{name} ({which})"


async def _facility(conn: asyncpg.Connection, facility_id: str, lang: str) -> documents.Facility:
    r = await document_store.particulars(conn, facility_id)
    return documents.Facility(
        id=r["id"],
        name=r["name"],
        county=r["county"],
        township=r["township"],
        kind=label("facility_kind", r["kind"], lang),
        places=r["places"],
        class_count=r["class_count"],
        hours=f"{r['open_time']:%H:%M}–{r['close_time']:%H:%M}",
        timezone=r["timezone"],
    )


def _number(n: document_store.DocumentNumber | None) -> str | None:
    return None if n is None else document_rules.number_text(n.department, n.kind, n.year, n.seq)


def _pdf(body: bytes, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


@routes.get(r"/orders/{order_id:\d+}.pdf")
async def order_pdf(request: web.Request) -> web.Response:
    user = page_user(request)
    lang = lang_of(request)
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(
            conn, user.scope, path_id(request.match_info["order_id"]), now_of(request)
        )
        if o is None:
            raise NotFound("no such order")
        n = await document_store.number_of(conn, order_id=o["id"])
        f = await _facility(conn, o["facility_id"], lang)
        photos: list[document_store.Photo] = []
        insp_number = None
        if o["inspection_id"] is not None:
            photos = await document_store.inspection_photos(conn, o["inspection_id"])
            insp_number = _number(await document_store.number_of(conn, inspection_id=o["inspection_id"]))
    number = _number(n) or f"#{o['id']}"  # every order is numbered when issued (migration 028 numbered the rest)
    department = n.department if n else "city"
    body = await asyncio.to_thread(
        documents.render_order, o, number, issuer_name(department, lang), f, insp_number, photos, TEXT[lang], lang
    )
    return _pdf(body, f"{TEXT[lang]['doc_order_title']}-{number}.pdf")


@routes.get(r"/inspections/{inspection_id:\d+}.pdf")
async def inspection_pdf(request: web.Request) -> web.Response:
    user = page_user(request)
    lang = lang_of(request)
    async with request.app[POOL].acquire() as conn:
        task = countersign_rules.task_of(user.scope, user.username)  # the drawn pair print their own record
        iid = path_id(request.match_info["inspection_id"])
        i = await inspection_store.inspection_detail(conn, user.scope, iid, task)
        if i is None:
            raise NotFound("no such inspection")
        n = await document_store.number_of(conn, inspection_id=i["id"])
        f = await _facility(conn, i["facility_id"], lang)
        photos = await document_store.inspection_photos(conn, i["id"])
    number = _number(n)
    department = n.department if n else document_rules.department_of(i["level"], f.county, f.township, i["department"])
    labels: dict[str, Any] = {"kind": label("inspection_kind", i["kind"], lang)}
    labels |= {r: label("finding", r, lang) for r in ("pass", "fail", "na")}
    labels["department"] = label("department", i["department"], lang)
    body = await asyncio.to_thread(
        documents.render_inspection, i, number, issuer_name(department, lang), f, photos, TEXT[lang], lang, labels
    )
    return _pdf(body, f"{TEXT[lang]['doc_inspection_title']}-{number or i['id']}.pdf")


def _labels(lang: str) -> dict[str, str]:
    return {r: label("finding", r, lang) for r in ("pass", "fail", "na")}


@routes.get(r"/inspections/{inspection_id:\d+}/recheck.pdf")
async def recheck_pdf(request: web.Request) -> web.Response:
    """复查意见书 of a signed 复查 (a re-inspection an order waits for, supervision/followups.py): 404 for any
    other inspection or outside the scope, 409 until it is signed and confirmed."""
    user = page_user(request)
    lang = lang_of(request)
    now = now_of(request)
    async with request.app[POOL].acquire() as conn:
        i = await inspection_store.inspection_detail(conn, user.scope, path_id(request.match_info["inspection_id"]))
        order_id = None if i is None else await followup_store.order_of_recheck(conn, i["id"])
        o = None if order_id is None else await rectification_store.order_detail(conn, user.scope, order_id, now)
        if i is None or o is None:
            raise NotFound("no such re-inspection")
        if i["status"] != "signed":
            raise Conflict("the re-inspection is not signed and confirmed yet", "doc_recheck_not_signed")
        n = await document_store.number_of(conn, kind="recheck", of=i["id"])
        record = _number(await document_store.number_of(conn, inspection_id=i["id"])) or f"#{i['id']}"
        order_number = _number(await document_store.number_of(conn, order_id=o["id"])) or f"#{o['id']}"
        f = await _facility(conn, i["facility_id"], lang)
        photos = await document_store.inspection_photos(conn, i["id"])
    number = _number(n) or f"#{i['id']}"  # numbered when signed (migration 039 numbered the ones before)
    department = n.department if n else document_rules.department_of(i["level"], f.county, f.township)
    body = await asyncio.to_thread(
        documents.render_recheck,
        i,
        number,
        issuer_name(department, lang),
        f,
        o,
        order_number,
        record,
        photos,
        TEXT[lang],
        lang,
        _labels(lang),
    )
    return _pdf(body, f"{TEXT[lang]['doc_recheck_title']}-{number}.pdf")


@routes.get(r"/orders/{order_id:\d+}/steps/{step_id:\d+}.pdf")
async def supervision_pdf(request: web.Request) -> web.Response:
    """督办通知 of an order's 催办 or 约谈, from the level that took it to the order's issuing department."""
    user = page_user(request)
    lang = lang_of(request)
    t = TEXT[lang]
    now = now_of(request)
    step_id = path_id(request.match_info["step_id"])
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, user.scope, path_id(request.match_info["order_id"]), now)
        step = None if o is None else next((h for h in o["history"] if h["id"] == step_id), None)
        if o is None or step is None or step["action"] not in {"urged", "summoned"}:
            raise NotFound("no such 督办 step")
        n = await document_store.number_of(conn, kind="supervision", of=step_id)
        order_number = _number(await document_store.number_of(conn, order_id=o["id"])) or f"#{o['id']}"
        f = await _facility(conn, o["facility_id"], lang)
    number = _number(n) or f"#{step_id}"
    by_level = step["detail"].get("by_level", "city")
    upper = n.department if n else document_rules.department_of(by_level, f.county, f.township)
    lower = document_rules.department_of(o["issued_level"], f.county, f.township)
    state = document_rules.order_state_at(o["history"], step_id, o["due_at"])
    tz = f.timezone
    if state.whose == "answer":
        late = t["doc_supervision_late_answer"].format(
            due=documents.local_time(state.due_at, tz, lang), since=documents.local_time(state.since, tz, lang)
        )
    elif state.whose == "review":
        late = t["doc_supervision_late_review"].format(
            answered=documents.local_time(state.answered_at, tz, lang),
            since=documents.local_time(state.since, tz, lang),
        )
    elif state.status in {"issued", "returned"} and state.due_at > datetime.fromisoformat(step["at"]):
        late = t["doc_supervision_not_due"].format(due=documents.local_time(state.due_at, tz, lang))
    else:
        late = t["doc_supervision_open"]
    by = datetime.fromisoformat(step["at"]) + order_rules.ESCALATION_STEP
    body = await asyncio.to_thread(
        documents.render_supervision,
        step,
        o,
        number,
        order_number,
        issuer_name(upper, lang),
        issuer_name(lower, lang),
        f,
        late,
        by,
        t,
        lang,
    )
    return _pdf(body, f"{t['doc_supervision_title']}-{number}.pdf")


def subject_name(s: dict[str, Any], lang: str) -> str:
    """A circular's subject as it is named: the facility's name, or the department's (web.circulars)."""
    return str(s["facility_name"]) if s["facility_id"] else issuer_name(s["area"], lang)


@routes.get(r"/circulars/{circular_id:\d+}.pdf")
async def circular_pdf(request: web.Request) -> web.Response:
    """通报, once issued (409 for a draft), for whoever reads it (404 otherwise)."""
    user = page_user(request)
    lang = lang_of(request)
    async with request.app[POOL].acquire() as conn:
        c = await circular_store.detail(conn, user.scope, path_id(request.match_info["circular_id"]))
    if c is None:
        raise NotFound("no such circular")
    if c["status"] != "issued":
        raise Conflict("a circular is printed once issued", "err_circular_not_issued")
    return await circular_response(c, lang)


async def circular_response(c: dict[str, Any], lang: str) -> web.Response:
    """A circular's PDF (also the public page's, for a public one)."""
    department, year, seq = c["number"]
    number = document_rules.number_text(department, "circular", year, seq)
    subjects = [(subject_name(s, lang), str(s["statement"])) for s in c["subjects"]]
    kind = label("circular_kind", c["kind"], lang)
    body = await asyncio.to_thread(
        documents.render_circular, c, number, issuer_name(c["department"], lang), subjects, TEXT[lang], lang, kind
    )
    return _pdf(body, f"{c['title']}-{number}.pdf")
