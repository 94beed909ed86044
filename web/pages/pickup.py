"""The facility page's pick-up delegates (issue #39 item 3): the operator's form to record one with the
parents' consent (a signed form uploaded, or a note) and to revoke one; the files' downloads. Inspectors
see the list on the facility page, read-only (web/pickup.py says who may write)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from storage import pickup as pickup_store
from storage import queries
from web import pickup
from web.errors import NotFound, Refused
from web.keys import POOL, now_of
from web.pages.facilities import facility_refused
from web.pages.render import facility_form, form_files, local_iso, page_user
from web.params import path_id

routes = web.RouteTableDef()
FIELDS = (
    "child_id",
    "person_id",
    "name",
    "relation",
    "kind",
    "valid_from",
    "valid_until",
    "consent_by",
    "consent_method",
    "consent_at",
    "consent_note",
)


@routes.post("/facilities/{facility_id}/delegates")
async def delegate_form(request: web.Request) -> web.Response:
    """The operator's form (multipart: a photo and a signed consent form may come with it); local
    date-times in the facility's time zone."""
    user, form, f = await facility_form(request)

    def when(name: str) -> str:
        return local_iso(str(form.get(name, "")), f["timezone"])

    body = {k: str(form.get(k, "")) for k in FIELDS}
    body |= {k: when(k) for k in ("valid_from", "valid_until", "consent_at")}
    photos, consents = form_files(form, "photo"), form_files(form, "consent_file")
    try:
        await pickup.record(
            request.app[POOL],
            user,
            f["id"],
            body,
            now=now_of(request),
            photo=photos[0] if photos else None,
            consent_file=consents[0] if consents else None,
        )
    except Refused as exc:
        return await facility_refused(request, user, f, exc, delegate_kept={k: str(form.get(k, "")) for k in FIELDS})
    raise web.HTTPFound(f"/facilities/{f['id']}#delegates")


@routes.post("/facilities/{facility_id}/delegates/{delegate_id:[0-9]{1,18}}/revoke")
async def delegate_revoke_form(request: web.Request) -> web.Response:
    user, form, f = await facility_form(request)
    try:
        did = int(request.match_info["delegate_id"])
        await pickup.revoke(
            request.app[POOL], user, f["id"], did, {"reason": str(form.get("reason", ""))}, now=now_of(request)
        )
    except Refused as exc:
        return await facility_refused(request, user, f, exc)
    raise web.HTTPFound(f"/facilities/{f['id']}#delegates")


@routes.get("/facilities/{facility_id}/delegates/{delegate_id}/{what:photo|consent}")
async def delegate_file(request: web.Request) -> web.Response:
    """A delegate's photo or signed consent form, for whoever's scope covers the facility, as a download."""
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise NotFound("no such facility")
        did = path_id(request.match_info["delegate_id"])
        stored = await pickup_store.stored_file(conn, f["id"], did, request.match_info["what"])
    if stored is None:
        raise NotFound("no such file")
    disposition = "inline" if stored.content_type.startswith("image/") else "attachment"
    return web.Response(
        body=stored.data,
        content_type=stored.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(stored.filename)}",
            "Cache-Control": "private, max-age=3600",
        },
    )
