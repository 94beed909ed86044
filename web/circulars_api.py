"""通报 over the JSON API (issue #40 item 1), with the pages' checks (web/circulars.py): scope first (404), then
who (403), then the input (400) and the circular's state (409); drafting and issuing are audited there.

- `GET /api/v1/circulars`: those the caller reads (storage.circulars.visible: the department's drafts, the
  issued ones naming what is in scope; an operator the issued ones naming its facility), newest first.
- `GET /api/v1/circulars/{id}`: one, with its subjects (404 when the caller does not read it).
- `POST /api/v1/circulars`: a draft (`kind`, `title`, `body`, `public`, `subjects`: [{`subject`:
  `facility:<id>` | `area:<code>`, `statement`}]), by a county or city inspector (or an admin); 201.
- `POST /api/v1/circulars/{id}/issue`: numbered and issued (then it never changes).
- `GET /api/v1/public/circulars` and `/api/v1/public/circulars/{id}`: the public ones (公开通报), for anyone,
  without a login, limited per address as the public page is (web/middleware.py); never who drafted or
  issued them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from storage import circulars as store
from supervision import circulars as rules
from supervision import documents as document_rules
from web import circulars
from web.api import user_of
from web.errors import Invalid, NotFound
from web.keys import POOL, PUBLIC_URL, now_of
from web.params import json_body, one_of, path_id, qp
from web.schemas import enforcement as schemas
from web.schemas.base import respond

routes = web.RouteTableDef()
_SHAPE = '{"kind", "title", "body", "public": false, "subjects": [{"subject": "facility:<id>", "statement"}]}'
_PUBLIC_KEYS = ("id", "department", "kind", "title", "body", "issued_at", "number", "number_text", "subjects")


def _number_text(c: dict[str, Any]) -> str | None:
    if not c.get("number"):
        return None
    department, year, seq = c["number"]
    return document_rules.number_text(department, "circular", year, seq)


def _shown(c: dict[str, Any]) -> dict[str, Any]:
    return c | {"number_text": _number_text(c)}


def _public(c: dict[str, Any]) -> dict[str, Any]:
    """What anyone reads of a public circular: what it says and who issued it (the department), never the
    people who drafted or issued it."""
    out = {k: v for k, v in _shown(c).items() if k in _PUBLIC_KEYS}
    keep = ("position", "facility_id", "facility_name", "area", "statement")
    out["subjects"] = [{k: s[k] for k in keep} for s in c.get("subjects", [])]
    return out


def _draft_input(body: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The JSON draft as the page's form (web/circulars.fields) and its (subject, statement) pairs; 400 when
    a field is not of its type."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object: " + _SHAPE, "err_circular_text")
    for name in ("kind", "title", "body"):
        if not isinstance(body.get(name, ""), str):
            raise Invalid(f"{name} must be text", "err_circular_text")
    if not isinstance(body.get("public", False), bool):
        raise Invalid("public must be true or false", "err_circular_text")
    raw = body.get("subjects", [])
    if not isinstance(raw, list) or len(raw) > rules.SUBJECTS_MAX:
        raise Invalid(f"subjects must be a list of at most {rules.SUBJECTS_MAX}", "err_circular_subjects_many")
    pairs = []
    for s in raw:
        if (
            not isinstance(s, dict)
            or not isinstance(s.get("subject"), str)
            or not isinstance(s.get("statement", ""), str)
        ):
            raise Invalid('each subject is {"subject": "facility:<id>" or "area:<code>", "statement"}')
        if not s["subject"].strip():  # the form skips its blank rows; a program means what it sends
            raise Invalid("a subject is facility:<id> or area:<code>, not blank", "err_circular_subject")
        pairs.append((s["subject"], s.get("statement", "")))
    form = {k: body.get(k, "") for k in ("kind", "title", "body")} | {"public": "1" if body.get("public") else ""}
    return form, pairs


@routes.get("/api/v1/circulars")
async def list_circulars(request: web.Request) -> web.Response:
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.visible(conn, user.scope)
    return respond(schemas.Circulars, {"circulars": [_shown(r) for r in rows]})


@routes.get(r"/api/v1/circulars/{circular_id}")
async def get_circular(request: web.Request) -> web.Response:
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        c = await circulars.visible(conn, user, path_id(request.match_info["circular_id"]))
    return respond(schemas.CircularDetail, _shown(c))


@routes.post("/api/v1/circulars")
async def post_circular(request: web.Request) -> web.Response:
    user = user_of(request)
    lang = one_of(qp(request.query, "lang"), "lang", {"zh", "en"}) or "zh"
    circulars.writer_department(user)  # 403 before the body is judged
    form, pairs = _draft_input(await json_body(request, _SHAPE))
    cid = await circulars.draft(request.app[POOL], user, form, pairs, lang, now=now_of(request))
    async with request.app[POOL].acquire() as conn:
        c = await circulars.visible(conn, user, cid)
    return respond(schemas.CircularDetail, _shown(c), 201)


@routes.post(r"/api/v1/circulars/{circular_id}/issue")
async def post_issue(request: web.Request) -> web.Response:
    user = user_of(request)
    cid = path_id(request.match_info["circular_id"])
    await circulars.issue(request.app[POOL], user, cid, now=now_of(request), public_url=request.app[PUBLIC_URL])
    async with request.app[POOL].acquire() as conn:
        c = await circulars.visible(conn, user, cid)
    return respond(schemas.CircularDetail, _shown(c))


@routes.get("/api/v1/public/circulars")
async def public_circulars(request: web.Request) -> web.Response:
    """The public circulars, newest first (the public page's list)."""
    async with request.app[POOL].acquire() as conn:
        rows = await store.public(conn)
    out = []
    for r in rows:
        number = (r["number_department"], r["year"], r["seq"])
        out.append(
            {
                "id": r["id"],
                "department": r["department"],
                "kind": r["kind"],
                "title": r["title"],
                "issued_at": r["issued_at"].isoformat(),
                "number": list(number),
                "number_text": document_rules.number_text(number[0], "circular", number[1], number[2]),
            }
        )
    return respond(schemas.PublicCirculars, {"circulars": out})


@routes.get(r"/api/v1/public/circulars/{circular_id}")
async def public_circular(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        c = await store.detail(conn, None, path_id(request.match_info["circular_id"]))
    if c is None:
        raise NotFound("no such circular")
    return respond(schemas.PublicCircular, _public(c))
