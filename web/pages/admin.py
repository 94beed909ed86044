"""Running the platform: the registry, dead letters, the audit log, a user's own notification channels
and the delivery log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from contract.calendar import missing_year
from contract.retention import POLICY, days
from storage import notifications, queries
from storage import registry as registry_store
from storage.users import User, audit
from web import subscriptions
from web.actions import load_registry_text
from web.errors import Forbidden, Invalid, NotFound
from web.i18n import DEFAULT_TZ, TEXT
from web.keys import PERSON_SALT, POOL, now_of
from web.pages.render import check_csrf, form_refused, lang_of, page_user, render
from web.params import DEAD_LETTER_REASON, as_id, path_id

routes = web.RouteTableDef()


async def _registry_rows(request: web.Request, user: User) -> list[asyncpg.Record]:
    async with request.app[POOL].acquire() as conn:
        return await registry_store.overview(conn, user.scope, now_of(request))


@routes.get("/registry")
async def registry_page(request: web.Request) -> web.Response:
    """Facilities in scope from the registry; admins load a registry file here."""
    user = page_user(request)
    loaded = request.query.get("loaded", "")
    return await render(
        request,
        "registry.html",
        {
            "rows": await _registry_rows(request, user),
            "loaded": loaded if as_id(loaded) is not None else None,
            "error": None,
            # a year of holidays not entered yet (contract.calendar; CONTRACT §3 "The national calendar")
            "calendar_missing": missing_year(now_of(request).astimezone(ZoneInfo(DEFAULT_TZ)).date())
            if user.role == "admin"
            else None,
        },
    )


def _uploaded_text(upload: object) -> tuple[str, str]:
    """The uploaded registry file's text and name."""
    if not isinstance(upload, web.FileField):
        raise Invalid("choose a registry file (YAML or JSON)", "err_choose_file")
    try:
        return upload.file.read().decode("utf-8"), upload.filename or "upload"
    except UnicodeDecodeError:
        raise Invalid("the registry must be UTF-8 text", "err_not_utf8") from None


@routes.post("/registry")
async def registry_upload(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    upload = form.get("file")
    try:
        text, name = _uploaded_text(upload)
        result = await load_registry_text(
            request.app[POOL], user, text, name, salt=request.app[PERSON_SALT], now=now_of(request)
        )
    except (Invalid, Forbidden) as exc:
        ctx = {"rows": await _registry_rows(request, user), "loaded": None}
        return await form_refused(request, "registry.html", ctx, exc)
    raise web.HTTPFound(f"/registry?loaded={result['facilities']}")


@routes.get("/dead-letters")
async def dead_letters_page(request: web.Request) -> web.Response:
    """What ingest refused from the facilities in scope, and why: a device sending a wrong format or
    a clock gone wrong shows up here rather than as silence."""
    user = page_user(request)
    reason = request.query.get("reason", "")
    reason_ok = reason if DEAD_LETTER_REASON.fullmatch(reason) else None
    async with request.app[POOL].acquire() as conn:
        rows = await queries.dead_letters(conn, user.scope, reason_ok, as_id(request.query.get("before", "")))
    return await render(request, "dead_letters.html", {"rows": rows, "reason": reason_ok or ""})


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    user = page_user(request)
    if user.role != "admin":
        raise NotFound()
    async with request.app[POOL].acquire() as conn:
        rows = await queries.audit_log(
            conn,
            request.query.get("actor") or None,
            request.query.get("action") or None,
            as_id(request.query.get("before", "")),
        )
        # the facilities the entries name, by their names (issue #41 item 2)
        facilities = {r["id"]: r["name"] for r in await queries.facility_names(conn, user.scope)}
    return await render(request, "audit.html", {"rows": rows, "facilities": facilities})


# -- notifications: a user's own channels (WeCom, DingTalk, e-mail) and what was sent -----------------------
async def _subscriptions_ctx(conn: asyncpg.Connection, user: User) -> dict[str, Any]:
    return {
        "subs": await notifications.subscriptions_of(conn, user.id),
        "sent": await notifications.deliveries(conn, user.id, limit=30),
        "masked": subscriptions.masked,
        "kept": {},
        "error": None,
    }


@routes.get("/settings/notifications")
async def notifications_page(request: web.Request) -> web.Response:
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        ctx = await _subscriptions_ctx(conn, user)
    return await render(request, "notifications.html", ctx | {"queued": request.query.get("queued") == "1"})


@routes.post("/settings/notifications")
async def notifications_add(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    fields = {k: str(form.get(k, ""))[:2000] for k in subscriptions.FIELDS}
    async with request.app[POOL].acquire() as conn:
        in_scope = {r["id"] for r in await queries.facility_names(conn, user.scope)}
        try:
            sub = subscriptions.parse(fields, in_scope)
        except Invalid as exc:
            ctx = await _subscriptions_ctx(conn, user)
            kept = {k: v for k, v in fields.items() if k != "secret"}
            resp = await render(
                request, "notifications.html", ctx | {"kept": kept, "error": exc.text(lang_of(request))}
            )
            resp.set_status(400)
            return resp
        sid = await notifications.add_subscription(
            conn, user.id, sub.channel, sub.target, sub.secret, sub.facilities, sub.min_severity, sub.quiet, sub.lang
        )
        detail: dict[str, object] = {"channel": sub.channel, "severity": sub.min_severity, "facilities": sub.facilities}
        await audit(conn, user.username, "notification.subscribe", f"subscription {sid}", detail, at=now_of(request))
    raise web.HTTPFound("/settings/notifications")


@routes.post("/settings/notifications/{sub_id}/{action:delete|test}")
async def notifications_change(request: web.Request) -> web.Response:
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    sub_id = path_id(request.match_info["sub_id"])
    action = request.match_info["action"]
    async with request.app[POOL].acquire() as conn:
        sub = await notifications.own_subscription(conn, user.id, sub_id)
        if sub is None:  # another user's reads the same as none
            raise NotFound()
        if action == "delete":
            await notifications.delete_subscription(conn, user.id, sub_id)
        else:
            texts = TEXT[sub.lang]
            test = notifications.Outgoing(
                sub, None, None, "test", texts["test_title"], texts["test_body"], priority=notifications.PRIORITY_TEST
            )
            wait = await notifications.enqueue_test(conn, test, now_of(request), TESTS_PER_HOUR)
            if wait is not None:  # a few an hour: a test checks a channel, it is not a way to flood one
                return await _tests_limited(request, conn, user, wait)
        await audit(
            conn,
            user.username,
            f"notification.{action}",
            f"subscription {sub_id}",
            {"channel": sub.channel},
            at=now_of(request),
        )
    raise web.HTTPFound("/settings/notifications" + ("?queued=1" if action == "test" else ""))


TESTS_PER_HOUR = 5  # a user's test messages an hour, all channels together (issue #38 D)


async def _tests_limited(request: web.Request, conn: asyncpg.Connection, user: User, wait_s: float) -> web.Response:
    """The notifications page with the reason, as 429 with Retry-After."""
    minutes = max(1, round(wait_s / 60))
    error = TEXT[lang_of(request)]["test_limited"].format(n=TESTS_PER_HOUR, minutes=minutes)
    resp = await render(request, "notifications.html", await _subscriptions_ctx(conn, user) | {"error": error})
    resp.set_status(429)
    resp.headers["Retry-After"] = str(int(wait_s) + 1)
    return resp


@routes.get("/admin/retention")
async def retention_page(request: web.Request) -> web.Response:
    """Every table, how long it keeps its rows and why (contract.retention.POLICY), for admins only."""
    user = page_user(request)
    if user.role != "admin":
        raise Forbidden("the retention policy is for administrators")
    rows = [
        {"table": t, "policy": p, "days": days(p.keep) if p.keep else None}
        for t, p in sorted(POLICY.items(), key=lambda kv: (kv[1].keep is None, kv[1].current, kv[0]))
    ]
    return await render(request, "retention.html", {"rows": rows})


@routes.get("/admin/notifications")
async def notification_log(request: web.Request) -> web.Response:
    """Every delivery attempt's outcome, for admins: a receiver that is down shows here as failures."""
    user = page_user(request)
    if user.role != "admin":
        raise NotFound()
    status = request.query.get("status") or None
    if status not in {None, "pending", "sent", "failed"}:
        raise Invalid("status: pending, sent or failed")
    async with request.app[POOL].acquire() as conn:
        rows = await notifications.deliveries(conn, None, status, as_id(request.query.get("before", "")), 200)
        counts = await notifications.delivery_counts(conn, now_of(request) - timedelta(days=1))
    return await render(request, "notification_log.html", {"rows": rows, "counts": counts, "status": status or ""})
