"""The government side's pages: rectification orders (整改通知, 督办), inspections (检查记录) and the
evidence files they hold."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from contract.inspection import ALL_ITEMS, checklist
from contract.inspection import AREAS as INSPECTION_AREAS
from storage import documents as document_store
from storage import inspections as inspection_store
from storage import order_followups as followup_store
from storage import queries
from storage import rectification as rectification_store
from storage import suspensions as suspension_store
from storage.users import User
from supervision import circulars as circular_rules
from supervision import countersign as countersign_rules
from supervision import deadlines
from supervision import departments as department_rules
from supervision import documents as document_rules
from supervision import followups as followup_rules
from supervision import orders as order_rules
from web import inspections, orders, receipts
from web.api import public_url as api_public_url
from web.errors import Invalid, NotFound, Refused
from web.keys import POOL, now_of
from web.pages.facilities import facility_refused
from web.pages.render import check_csrf, facility_form, form_files, form_refused, page_user, render
from web.params import as_id, path_id

routes = web.RouteTableDef()


def _doc_text(n: document_store.DocumentNumber | None) -> str | None:
    """A document number as it reads (忻府卫托整〔2026〕12号), or None before it has one."""
    return None if n is None else document_rules.number_text(n.department, n.kind, n.year, n.seq)


# -- rectification orders (整改通知): the inbox, one order, and the forms of each side ----------------------
@routes.get("/orders")
async def orders_page(request: web.Request) -> web.Response:
    user = page_user(request)
    status = request.query.get("status") or "open"
    if status not in {"open", "overdue", "issued", "answered", "returned", "accepted", "all"}:
        raise Invalid("status: open, overdue, issued, answered, returned, accepted or all")
    level = order_rules.level_of(user.scope)
    now = now_of(request)
    async with request.app[POOL].acquire() as conn:
        rows = await rectification_store.orders(conn, user.scope, now, status=None if status == "all" else status)
        supervised = (
            await rectification_store.orders(conn, user.scope, now, status="escalated", supervised_at=level)
            if level and level != "township"
            else []
        )
        # 责令停业整改 in force in scope, with the children badged in meanwhile (停业整改期间有幼儿在园)
        suspended = await suspension_store.suspensions(conn, user.scope, in_force=True) if level else []
    ctx = {
        "rows": rows,
        "status": status,
        "supervised": supervised,
        "suspensions": suspended,
        "may_circulate": circular_rules.may_write(user.scope),
    }
    return await render(request, "orders.html", ctx)


async def _order_ctx(request: web.Request, user: User, order_id: int) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, user.scope, order_id, now_of(request))
        n = None if o is None else await document_store.number_of(conn, order_id=order_id)
    if o is None:
        raise NotFound("no such order")
    may_review = order_rules.may_review(user.scope, o["issued_level"])
    async with request.app[POOL].acquire() as conn:
        followup = await followup_rules.state(conn, order_id)  # 复查 and extension (issue #40 item 2)
    return {
        "o": o,
        "followup": followup,
        "may_extend": followup_rules.may_request_extension(user.scope),
        "recheck_days": deadlines.RECHECK_WITHIN.days,
        "doc_no": _doc_text(n),
        "may_answer": order_rules.may_answer(user.scope),
        "may_receive": user.scope.role == "operator",  # the facility's own operator (supervision/receipts.py)
        "may_review": may_review,
        "may_supervise": order_rules.may_supervise(user.scope, o["issued_level"], o["status"]),
        "return_days": order_rules.RETURN_DUE_MAX.days,
        "kept": {},  # a refused form's values, by form (answer, review, urge, summon)
        "error": None,
    }


async def _local_due(request: web.Request, order_id: int, raw: str) -> str:
    """A return's new due date from the form: the facility's local date and time, as RFC 3339 ("" when
    missing or not a date: web.orders refuses it with its reason)."""
    if not raw.strip():
        return ""
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, user.scope, order_id, now_of(request))
        f = None if o is None else await queries.facility_row(conn, user.scope, o["facility_id"])
    try:
        zone = ZoneInfo(f["timezone"]) if f is not None else ZoneInfo("Asia/Shanghai")
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=zone).isoformat()
    except ValueError:
        return ""


local_due = _local_due  # for the 复查 and extension forms (web/pages/followups.py)


@routes.get("/orders/{order_id}")
async def order_page(request: web.Request) -> web.Response:
    user = page_user(request)
    return await render(request, "order.html", await _order_ctx(request, user, path_id(request.match_info["order_id"])))


# the order form's field each refusal concerns (the others: the form as a whole)
ORDER_FIELDS = {"err_order_title": "title", "err_order_detail": "detail", "err_order_due": "due_at"}


@routes.post("/facilities/{facility_id}/orders")
async def order_issue_form(request: web.Request) -> web.Response:
    """From the facility page or an alert's page: due date as the facility's local date and time."""
    user, form, f = await facility_form(request)
    due = str(form.get("due_at", "")).strip()
    try:
        due = datetime.fromisoformat(due).replace(tzinfo=ZoneInfo(f["timezone"])).isoformat() if due else ""
    except ValueError:
        due = ""  # not a date: the action refuses it with the form's own reason
    body: dict[str, Any] = {"title": str(form.get("title", "")), "detail": str(form.get("detail", "")), "due_at": due}
    for ref in ("alert_id", "inspection_id"):
        raw = str(form.get(ref, "")).strip()
        if raw:  # an id in ASCII digits, or the raw text for orders.issue to refuse with its reason
            found = as_id(raw)  # not str.isdigit(): "²" is a digit to Python and not to int()
            body[ref] = raw if found is None else found
    try:
        o = await orders.issue(request.app[POOL], user, f["id"], body, api_public_url(request), now=now_of(request))
    except Refused as exc:  # the facility's page again, the order's form kept, with the reason
        return await facility_refused(
            request,
            user,
            f,
            exc,
            order_kept={k: str(form.get(k, "")) for k in ("title", "detail", "due_at", "alert_id")},
            order_error=True,
            error_at=("order-form", ORDER_FIELDS.get(exc.key or "", "")),
        )
    raise web.HTTPFound(f"/orders/{o['id']}")


async def _order_refused(
    request: web.Request, user: User, order_id: int, exc: Refused, which: str, form: Mapping[str, Any]
) -> web.Response:
    """The order's page again with the reason, and what the person typed in that form kept (not files)."""
    kept = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    ctx = await _order_ctx(request, user, order_id) | {"kept": {which: kept}}
    return await form_refused(request, "order.html", ctx, exc)


order_refused = _order_refused  # for the 复查 and extension forms (web/pages/followups.py)


@routes.post("/orders/{order_id}/answer")
async def order_answer_form(request: web.Request) -> web.Response:
    """The operator's answer with evidence: multipart, files checked by their bytes (web/orders.py)."""
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    uploads = form_files(form, "evidence")
    try:
        await orders.answer(
            request.app[POOL],
            user,
            order_id,
            str(form.get("note", "")),
            uploads,
            api_public_url(request),
            now=now_of(request),
        )
    except Refused as exc:
        return await _order_refused(request, user, order_id, exc, "answer", form)
    raise web.HTTPFound(f"/orders/{order_id}")


@routes.post("/orders/{order_id}/review")
async def order_review_form(request: web.Request) -> web.Response:
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    accept = str(form.get("decision", "")) == "accept"
    try:
        await orders.review(
            request.app[POOL],
            user,
            order_id,
            accept,
            str(form.get("note", "")),
            api_public_url(request),
            now=now_of(request),
            due_at=await _local_due(request, order_id, str(form.get("due_at", ""))),
        )
    except Refused as exc:
        return await _order_refused(request, user, order_id, exc, "review", form)
    raise web.HTTPFound(f"/orders/{order_id}")


@routes.post("/orders/{order_id}/urge")
@routes.post("/orders/{order_id}/summons")
@routes.post("/orders/{order_id}/instruction")
async def order_follow_up_form(request: web.Request) -> web.Response:
    """督办 from the order's page: 催办 (a message to the issuing level), 约谈 (date, people, minutes) or 批示 (a
    leader's written instruction, sent to the issuing level)."""
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    action = {"urge": "urge", "summons": "summon", "instruction": "instruct"}[request.path.rsplit("/", 1)[1]]
    body = {k: str(form.get(k, "")) for k in ("note", "held_on", "people", "minutes")}
    try:
        await orders.follow_up(
            request.app[POOL], user, order_id, action, body, api_public_url(request), now=now_of(request)
        )
    except Refused as exc:
        return await _order_refused(request, user, order_id, exc, action, form)
    raise web.HTTPFound(f"/orders/{order_id}")


# -- inspections (检查记录) ------------------------------------------------------------------------------------
@routes.get("/inspections")
async def inspections_page(request: web.Request) -> web.Response:
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        task = countersign_rules.task_of(user.scope, user.username)
        rows = await inspection_store.inspections(conn, user.scope, drawn_for=task)
        awaiting = await inspection_store.awaiting(conn, user.scope, user.username)
    return await render(request, "inspections.html", {"rows": rows, "awaiting": awaiting})


async def _inspection_ctx(request: web.Request, user: User, inspection_id: int) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        task = countersign_rules.task_of(user.scope, user.username)
        i = await inspection_store.inspection_detail(conn, user.scope, inspection_id, task)
        n = None if i is None else await document_store.number_of(conn, inspection_id=inspection_id)
        recheck_of = None if i is None else await followup_store.order_of_recheck(conn, inspection_id)  # a 复查
        inspects = order_rules.level_of(user.scope) is not None
        may_record = (
            i is not None
            and countersign_rules.may_record(user.username, inspects, i)
            and department_rules.may_record(user.scope, user.department, i["department"])
        )
        if may_record and i is not None and i["drawn"]:  # the draw chose both officers: the other one seconds
            seconds = [x for x in i["drawn"] if x != user.username]
        elif may_record:
            seconds = await inspection_store.candidate_seconds(conn, inspection_id, user.username)
        else:
            seconds = []
        # a drawn inspector of another area holds this record only, not the facility (its page, its orders)
        in_area = i is not None and await queries.facility_row(conn, user.scope, i["facility_id"]) is not None
    if i is None:
        raise NotFound("no such inspection")
    items = checklist(i["department"])
    return {
        "i": i,
        "doc_no": _doc_text(n),
        "recheck_of": recheck_of,
        "checklist": items,  # the record's department's items (supervision/departments.py)
        "areas": {a: names for a, names in INSPECTION_AREAS.items() if any(x.area == a for x in items)},
        "may_record": may_record,
        "seconds": seconds,
        "may_countersign": user.scope.role == "inspector" and countersign_rules.awaits(i, user.username),
        "may_issue": inspects and in_area and _issues_from(user, i["department"]),
        "in_area": in_area,
        "error": None,
    }


def _issues_from(user: User, record_department: str) -> bool:
    """Whether the user's department issues orders from a record of `record_department`."""
    return department_rules.may_issue(user.scope, user.department, record_department)


@routes.get("/inspections/{inspection_id}")
async def inspection_page(request: web.Request) -> web.Response:
    user = page_user(request)
    ctx = await _inspection_ctx(request, user, path_id(request.match_info["inspection_id"]))
    return await render(request, "inspection.html", ctx)


@routes.post("/facilities/{facility_id}/inspections")
async def inspection_plan_form(request: web.Request) -> web.Response:
    user, form, f = await facility_form(request)
    body: dict[str, Any] = {"kind": str(form.get("kind", "visit")), "planned_for": str(form.get("planned_for", ""))}
    if joint := [str(d) for d in form.getall("departments", [])]:  # 联合检查: the planner's department leads
        body["departments"] = [department_rules.department_of(user.scope, user.department), *joint]
    try:
        i = await inspections.plan(request.app[POOL], user, f["id"], body, now=now_of(request))
    except Refused as exc:  # the reason next to the date (or at the form's head), the form as typed
        field = "planned_for" if exc.key == "err_inspect_date" else ""
        return await facility_refused(request, user, f, exc, plan_kept=body, error_at=("plan-form", field))
    raise web.HTTPFound(f"/inspections/{i['id']}")


@routes.post("/inspections/{inspection_id}/record")
async def inspection_record_form(request: web.Request) -> web.Response:
    """The checklist form: a result and a note per item, notes, photos; 'sign' closes the record."""
    user = page_user(request)
    inspection_id = path_id(request.match_info["inspection_id"])
    form = await request.post()
    await check_csrf(request, form)
    findings = {  # the items the form sent, of any department: the record's department decides which count
        code: {"result": str(form.get(f"result_{code}", "")), "note": str(form.get(f"note_{code}", ""))}
        for code in ALL_ITEMS
        if f"result_{code}" in form or f"note_{code}" in form
    }
    body = {
        "findings": findings,
        "notes": str(form.get("notes", "")),
        "sign": form.get("action") == "sign",
        "second_inspector": str(form.get("second_inspector", "")),
    }
    uploads = form_files(form, "photos")
    try:
        await inspections.record(request.app[POOL], user, inspection_id, body, uploads, now=now_of(request))
    except NotFound:
        raise  # the error page's 404, not the form again
    except Refused as exc:
        ctx = await _inspection_ctx(request, user, inspection_id)
        ctx["i"] = ctx["i"] | {"findings": {k: v for k, v in findings.items() if v["result"] or v["note"]}}
        return await form_refused(request, "inspection.html", ctx, exc)
    raise web.HTTPFound(f"/inspections/{inspection_id}")


@routes.post("/orders/{order_id}/receipt")
async def order_receipt_form(request: web.Request) -> web.Response:
    """The facility's operator acknowledges receipt of the order (签收), at the server's time."""
    user = page_user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    try:
        await receipts.acknowledge(request.app[POOL], user, order_id, {}, now=now_of(request))
    except NotFound:
        raise
    except Refused as exc:
        return await _order_refused(request, user, order_id, exc, "receipt", form)
    raise web.HTTPFound(f"/orders/{order_id}")


@routes.post("/inspections/{inspection_id}/countersign")
async def inspection_countersign_form(request: web.Request) -> web.Response:
    """The second officer's confirmation (会签), from their own login (a phone in the field)."""
    user = page_user(request)
    inspection_id = path_id(request.match_info["inspection_id"])
    form = await request.post()
    await check_csrf(request, form)
    try:
        await inspections.countersign(request.app[POOL], user, inspection_id, now=now_of(request))
    except NotFound:
        raise
    except Refused as exc:
        return await form_refused(request, "inspection.html", await _inspection_ctx(request, user, inspection_id), exc)
    raise web.HTTPFound(f"/inspections/{inspection_id}")


@routes.get("/evidence/{file_id}")
async def evidence_download(request: web.Request) -> web.Response:
    """An evidence file of an order in scope, as a download (never rendered as a page of this site)."""
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        row = await rectification_store.evidence_file(conn, user.scope, path_id(request.match_info["file_id"]))
    if row is None:
        raise NotFound("no such file")
    disposition = "inline" if row["content_type"].startswith("image/") else "attachment"
    return web.Response(
        body=bytes(row["data"]),
        content_type=row["content_type"],
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row['filename'])}",
            "Cache-Control": "private, max-age=3600",
        },
    )
