"""The printable documents (issue #40 item 4): an order's 整改通知书 at /orders/{id}.pdf and an inspection's
现场检查记录 at /inspections/{id}.pdf, for whoever may see the order or the inspection (404 otherwise).
web/documents.py lays them out; these handlers gather the rows and run it in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from storage import documents as document_store
from storage import inspections as inspection_store
from storage import rectification as rectification_store
from supervision import countersign as countersign_rules
from supervision import documents as document_rules
from web import documents
from web.errors import NotFound
from web.i18n import TEXT, county_name, label, township_name
from web.keys import POOL, now_of
from web.pages.render import lang_of, page_user
from web.params import path_id

routes = web.RouteTableDef()


def _issuer(department: str, lang: str) -> str:
    """The issuing department's name on the document (its place: the city, a county, a township)."""
    if department == "city":
        place = "忻州市" if lang == "zh" else "Xinzhou"
    elif len(department) == 6:
        place = county_name(department, lang)
    else:
        place = f"{county_name(department[:6], lang)} {township_name(department)}"
    return TEXT[lang]["doc_issuer"].format(place=place)


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
        documents.render_order, o, number, _issuer(department, lang), f, insp_number, photos, TEXT[lang], lang
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
    department = n.department if n else document_rules.department_of(i["level"], f.county, f.township)
    labels: dict[str, Any] = {"kind": label("inspection_kind", i["kind"], lang)}
    labels |= {r: label("finding", r, lang) for r in ("pass", "fail", "na")}
    labels["department"] = label("department", i["department"], lang)
    body = await asyncio.to_thread(
        documents.render_inspection, i, number, _issuer(department, lang), f, photos, TEXT[lang], lang, labels
    )
    return _pdf(body, f"{TEXT[lang]['doc_inspection_title']}-{number or i['id']}.pdf")
