"""登记备案 pages (issue #39 item 1): the facilities in scope with their filing state (未备案 / 已备案 with its
number / awaiting review / returned), a facility's filings with their history, the operator's form (the
particulars, the address, the 举办者 and the documents) and the county's review (web/filing.py)."""

from __future__ import annotations

from typing import Any

import asyncpg
import yaml
from aiohttp import web

from contract.errors import ContractError
from contract.registry import parse_registry
from storage import filing as store
from storage import queries
from storage import suspensions as suspension_store
from storage.users import User
from supervision import filing as rules
from web import filing
from web.errors import Invalid, NotFound, Refused
from web.keys import PERSON_SALT, POOL, now_of
from web.pages.render import check_csrf, facility_form, form_files, form_refused, page_user, render

routes = web.RouteTableDef()


def _yaml(entry: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {k: entry[k] for k in rules.FILED_FIELDS if k in entry}, allow_unicode=True, sort_keys=False, width=120
    )


def _missing_if_accepted(current: dict[str, Any], filed: dict[str, Any]) -> list[str] | None:
    """For the reviewer: the required equipment the facility would lack with this filing accepted (None when
    it no longer fits today's registry, e.g. a class with children dropped: accepting it would be refused)."""
    try:
        return parse_registry({"facilities": [rules.merged(current, filed)]}).facilities[0].missing_equipment()
    except ContractError:
        return None


async def _facility_ctx(conn: asyncpg.Connection, user: User, f: asyncpg.Record, now: Any) -> dict[str, Any]:
    rows = [store.filing_json(r) for r in await store.of_facility(conn, f["id"])]
    steps = await store.history(conn, [r["id"] for r in rows])
    current = await filing.current_entry(conn, f["id"])
    for r in rows:
        r["steps"] = [s for s in steps if s["filing_id"] == r["id"]]
        r["missing"] = _missing_if_accepted(current, r["particulars"]) if r["status"] == "submitted" else None
        r["overdue"] = rules.overdue(r, now)
        r["level"] = rules.review_level(r, now)
    accepted = await store.accepted(conn, f["id"])
    open_row = next((r for r in rows if r["status"] in {"submitted", "returned"}), None)
    # the form starts from the returned filing (to correct it), or from the registry as judged now
    start = open_row if open_row is not None and open_row["status"] == "returned" else None
    last = start or (store.filing_json(accepted) if accepted is not None else None)
    return {
        "f": f,
        "suspended": await suspension_store.in_force_among(conn, [f["id"]]),
        "filings": rows,
        "state": rules.facility_state(accepted, rows[0] if rows else None),
        "number": accepted["number"] if accepted is not None else None,
        "current": current,
        "form_yaml": _yaml(start["particulars"] if start else current),
        "declared": last["declared"] if last else {"documents": {}},
        "may_submit": rules.may_submit(user.scope) and (open_row is None or open_row["status"] == "returned"),
        "may_review": rules.may_review(user.scope),
        "documents": rules.DOCUMENTS,
        "with_validity": rules.DOCUMENTS_WITH_VALIDITY,
        "error": None,
    }


@routes.get("/filing")
async def filing_list(request: web.Request) -> web.Response:
    """Every facility in scope with its filing state; an operator's is their own."""
    user, now = page_user(request), now_of(request)
    async with request.app[POOL].acquire() as conn:
        rows = [dict(r) for r in await store.in_scope(conn, user.scope)]
        suspended = await suspension_store.in_force_among(conn, (r["facility_id"] for r in rows))
    for r in rows:
        r["state"] = "filed" if r["accepted_id"] else rules.facility_state(None, r if r["id"] else None)
        r["overdue"] = r["id"] is not None and rules.overdue(r, now)
    return await render(request, "filing_list.html", {"rows": rows, "suspended": suspended})


@routes.get("/facilities/{facility_id}/filing")
async def filing_page(request: web.Request) -> web.Response:
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise NotFound("no such facility")
        ctx = await _facility_ctx(conn, user, f, now_of(request))
    return await render(request, "filing.html", ctx)


async def _refused(request: web.Request, user: User, f: asyncpg.Record, exc: Refused, form: Any) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        ctx = await _facility_ctx(conn, user, f, now_of(request))
    return await form_refused(request, "filing.html", ctx, exc)


@routes.get("/facilities/{facility_id}/filing/particulars.yaml")
async def particulars_file(request: web.Request) -> web.Response:
    """The particulars the form starts from (the returned filing's, or the registry's as judged now) as a
    file in the registry's format, for the operator to edit and upload with the filing."""
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise NotFound("no such facility")
        ctx = await _facility_ctx(conn, user, f, now_of(request))
    return web.Response(
        text=ctx["form_yaml"],
        content_type="application/yaml",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{f["id"]}-filing.yaml"'},
    )


async def _body(request: web.Request, form: Any, f: asyncpg.Record, user: User) -> dict[str, str]:
    """The form's fields; the particulars from the uploaded file, or as typed (`particulars`), or else the
    ones the form started from (a facility filing what the registry already says)."""
    body = {k: str(v) for k, v in form.items() if k not in {"csrf", "particulars_file"} and not hasattr(v, "file")}
    files = form_files(form, "particulars_file")
    if files and files[0].data:
        try:
            body["particulars"] = files[0].data.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the particulars file must be UTF-8 text", "err_not_utf8") from None
    elif "particulars" not in body:
        async with request.app[POOL].acquire() as conn:
            body["particulars"] = (await _facility_ctx(conn, user, f, now_of(request)))["form_yaml"]
    return body


@routes.post("/facilities/{facility_id}/filing")
async def submit_form(request: web.Request) -> web.Response:
    user, form, f = await facility_form(request)
    try:
        body = await _body(request, form, f, user)
    except Refused as exc:
        return await _refused(request, user, f, exc, {})
    try:
        await filing.submit(request.app[POOL], user, f["id"], body, salt=request.app[PERSON_SALT], now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, f, exc, body)
    raise web.HTTPFound(f"/facilities/{f['id']}/filing")


@routes.post("/filings/{filing_id:[0-9]{1,18}}/review")
async def review_form(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    fid = int(request.match_info["filing_id"])
    body = {"decision": str(form.get("decision", "")), "reasons": str(form.get("reasons", ""))}
    async with request.app[POOL].acquire() as conn:
        row = await store.filing(conn, fid)
        f = None if row is None else await queries.facility_row(conn, user.scope, row["facility_id"])
    if f is None:
        raise NotFound("no such filing")
    try:
        await filing.review(request.app[POOL], user, fid, body, salt=request.app[PERSON_SALT], now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, f, exc, {})
    raise web.HTTPFound(f"/facilities/{f['id']}/filing")
