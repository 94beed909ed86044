"""通报 pages (issue #40 item 1): the circulars a user reads (`/circulars`), a new draft (`/circulars/new`,
whose `?subject=facility:<id>` and `?subject=area:<code>` prefill subjects, with statements drafted from
the facts: the links of the 督办 list and the assessment), a draft edited and issued, an issued one read
(`/circulars/{id}`); its PDF is web/pages/documents.py's. The actions are web/circulars.py's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from storage import circulars as store
from storage.users import User
from supervision import circulars as rules
from supervision import documents as document_rules
from web import circulars
from web.errors import Refused
from web.i18n import COUNTIES
from web.keys import POOL, PUBLIC_URL, now_of
from web.pages.documents import subject_name
from web.pages.render import check_csrf, form_refused, lang_of, page_user, render
from web.params import path_id

routes = web.RouteTableDef()
BLANK_ROWS = 3  # empty subject rows under the named ones


def _number(c: dict[str, Any]) -> str | None:
    if not c.get("number"):
        return None
    department, year, seq = c["number"]
    return document_rules.number_text(department, "circular", year, seq)


async def _options(request: web.Request, user: User, department: str | None) -> list[tuple[str, str]]:
    """What the subject field offers: the lower departments and the facilities in scope."""
    if department is None:
        return []
    lang = lang_of(request)
    out = [(f"area:{a}", circulars.area_name(a, lang)) for a in rules.lower_departments(department, COUNTIES)]
    async with request.app[POOL].acquire() as conn:
        rows = await store.facilities_in(conn, user.scope)
    return out + [(f"facility:{r['id']}", r["name"]) for r in rows]


async def _form_ctx(
    request: web.Request, user: User, c: dict[str, Any] | None, rows: list[dict[str, str]]
) -> dict[str, Any]:
    department = c["department"] if c else rules.department_of(user.scope)
    options = await _options(request, user, department)
    return {
        "c": c,
        "number": _number(c) if c else None,
        "rows": rows + [{"subject": "", "statement": "", "name": ""}] * BLANK_ROWS,
        "area_options": [o for o in options if o[0].startswith("area:")],
        "facility_options": [o for o in options if o[0].startswith("facility:")],
        "option_values": {value for value, _ in options},
        "may_write": rules.may_write(user.scope, department) and (c is None or c["status"] == "draft"),
        "kept": {},
        "error": None,
    }


def _rows(c: dict[str, Any], lang: str) -> list[dict[str, str]]:
    return [
        {
            "subject": f"facility:{s['facility_id']}" if s["facility_id"] else f"area:{s['area']}",
            "statement": s["statement"],
            "name": subject_name(s, lang),
        }
        for s in c["subjects"]
    ]


@routes.get("/circulars")
async def circulars_page(request: web.Request) -> web.Response:
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.visible(conn, user.scope)
    shown = [r | {"number_text": _number(r)} for r in rows]
    return await render(request, "circulars.html", {"rows": shown, "may_draft": rules.may_write(user.scope)})


@routes.get("/circulars/new")
async def new_page(request: web.Request) -> web.Response:
    """A new draft, its subjects prefilled from `?subject=` (each checked like a saved one: 400/404 with its
    reason), with what is said of each drafted from the facts."""
    user = page_user(request)
    lang = lang_of(request)
    department = circulars.writer_department(user)
    pairs = [(raw, "") for raw in request.query.getall("subject", [])][: rules.SUBJECTS_MAX]
    async with request.app[POOL].acquire() as conn:
        subs = await circulars.subjects(conn, user, department, pairs, lang, now_of(request))
        names = {r["id"]: r["name"] for r in await store.facilities_in(conn, user.scope)}
    shown = [
        {
            "facility_id": s.facility_id,
            "area": s.area,
            "statement": s.statement,
            "facility_name": names.get(s.facility_id),
        }
        for s in subs
    ]
    rows = _rows({"subjects": shown}, lang)
    return await render(request, "circular.html", await _form_ctx(request, user, None, rows))


async def _form(request: web.Request) -> tuple[User, dict[str, Any], list[tuple[str, str]]]:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    subjects = [str(v) for v in form.getall("subject", [])]
    statements = [str(v) for v in form.getall("statement", [])]
    statements += [""] * (len(subjects) - len(statements))
    kept = {k: str(v) for k, v in form.items() if k not in {"csrf", "subject", "statement"}}
    return user, kept, list(zip(subjects, statements, strict=False))


async def _refused(
    request: web.Request,
    user: User,
    c: dict[str, Any] | None,
    form: dict[str, Any],
    pairs: list[tuple[str, str]],
    exc: Refused,
) -> web.Response:
    """The form again with what was typed, and the reason."""
    rows = [{"subject": s, "statement": st, "name": ""} for s, st in pairs if s.strip() or st.strip()]
    ctx = await _form_ctx(request, user, c, rows)
    kept = {"title": form.get("title", ""), "body": form.get("body", ""), "kind": form.get("kind", "")}
    kept |= {"public": form.get("public") == "1"}
    return await form_refused(request, "circular.html", ctx | {"kept": kept}, exc)


@routes.post("/circulars")
async def draft_form(request: web.Request) -> web.Response:
    user, form, pairs = await _form(request)
    try:
        cid = await circulars.draft(request.app[POOL], user, form, pairs, lang_of(request), now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, None, form, pairs, exc)
    raise web.HTTPFound(f"/circulars/{cid}")


async def _visible(request: web.Request, user: User) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        return await circulars.visible(conn, user, path_id(request.match_info["circular_id"]))


@routes.get(r"/circulars/{circular_id:\d+}")
async def circular_page(request: web.Request) -> web.Response:
    user = page_user(request)
    c = await _visible(request, user)
    ctx = await _form_ctx(request, user, c, _rows(c, lang_of(request)))
    return await render(request, "circular.html", ctx)


@routes.post(r"/circulars/{circular_id:\d+}")
async def edit_form(request: web.Request) -> web.Response:
    user, form, pairs = await _form(request)
    c = await _visible(request, user)
    try:
        await circulars.edit(request.app[POOL], user, c["id"], form, pairs, lang_of(request), now=now_of(request))
    except Refused as exc:
        return await _refused(request, user, c, form, pairs, exc)
    raise web.HTTPFound(f"/circulars/{c['id']}")


@routes.post(r"/circulars/{circular_id:\d+}/issue")
async def issue_form(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    c = await _visible(request, user)
    try:
        await circulars.issue(request.app[POOL], user, c["id"], now=now_of(request), public_url=request.app[PUBLIC_URL])
    except Refused as exc:
        ctx = await _form_ctx(request, user, c, _rows(c, lang_of(request)))
        return await form_refused(request, "circular.html", ctx, exc)
    raise web.HTTPFound(f"/circulars/{c['id']}")
