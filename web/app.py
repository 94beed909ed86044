"""`carewatch web`: the aiohttp application factory, auth middleware and pages.

Scope is enforced in one place (web.auth.Scope) for pages, API and stream.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from prometheus_client import REGISTRY, generate_latest

from alerts.store import NOTIFY_CHANNEL
from web import queries, reports
from web.api import acknowledge, not_found, report_params
from web.api import routes as api_routes
from web.auth import User, check_password, user_by_id, user_by_token
from web.i18n import TEXT, county_name
from web.keys import DATABASE_URL, HUB, POOL, USER, Hub

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
page_routes = web.RouteTableDef()


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """API errors are JSON with a reason; unknown paths under /api answer JSON 404 too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.content_type != "application/json" and exc.status >= 400:
            return web.json_response({"error": exc.reason}, status=exc.status)
        raise


@web.middleware
async def authenticate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    auth = request.headers.get("Authorization", "")
    user: User | None = None
    async with request.app[POOL].acquire() as conn:
        if auth.startswith("Bearer "):
            user = await user_by_token(conn, auth.removeprefix("Bearer ").strip())
            if user is None:
                return web.json_response({"error": "invalid or revoked token"}, status=401)
        else:
            session = await get_session(request)
            if "uid" in session:
                user = await user_by_id(conn, int(session["uid"]))
    request[USER] = user
    public = request.path in {"/login", "/healthz", "/metrics"} or request.path.startswith("/static/")
    if user is None and not public and not request.path.startswith("/api/"):
        raise web.HTTPFound("/login")
    return await handler(request)


def _user(request: web.Request) -> User:
    """The signed-in user of a page (the middleware sent everyone else to /login)."""
    user = request.get(USER)
    if user is None:
        raise web.HTTPFound("/login")
    return user


def lang_of(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in TEXT else "zh"


async def render(request: web.Request, template: str, ctx: dict[str, Any]) -> web.Response:
    lang = lang_of(request)
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    base = {
        "t": TEXT[lang],
        "lang": lang,
        "user": request.get(USER),
        "csrf": session["csrf"],
        "county_name": county_name,
        "path": request.path_qs,
    }
    resp = aiohttp_jinja2.render_template(template, request, {**base, **ctx})
    if "lang" in request.query:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    return resp


async def check_csrf(request: web.Request, form: Any) -> None:
    session = await get_session(request)
    if not session.get("csrf") or form.get("csrf") != session["csrf"]:
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")


@page_routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return await render(request, "login.html", {"error": None})


@page_routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    async with request.app[POOL].acquire() as conn:
        user = await check_password(conn, str(form.get("username", "")), str(form.get("password", "")))
    if user is None:
        return await render(request, "login.html", {"error": TEXT[lang_of(request)]["bad_login"]})
    session = await new_session(request)
    session["uid"] = user.id
    session["csrf"] = secrets.token_urlsafe(24)
    raise web.HTTPFound("/")


@page_routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await check_csrf(request, await request.post())
    (await get_session(request)).invalidate()
    raise web.HTTPFound("/login")


@page_routes.get("/")
async def overview(request: web.Request) -> web.Response:
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facilities(conn, user.scope)
        open_alerts = await queries.alerts(conn, user.scope, status="open", limit=200)
    by_county: dict[str, list[dict[str, Any]]] = {}
    for f in facs:
        by_county.setdefault(f["county"], []).append(f)
    severity_counts = {s: sum(1 for a in open_alerts if a["severity"] == s) for s in queries.SEVERITY_RANK}
    rule_counts: dict[str, int] = {}
    for a in open_alerts:
        rule_counts[a["rule"]] = rule_counts.get(a["rule"], 0) + 1
    return await render(
        request,
        "overview.html",
        {
            "by_county": by_county,
            "facilities": facs,
            "severity_counts": severity_counts,
            "rule_counts": sorted(rule_counts.items(), key=lambda kv: -kv[1]),
            "alerts": open_alerts[:20],
            "scope": user.scope.describe(),
            "understaffed": [f for f in facs if f["staffing_alerts"]],
        },
    )


@page_routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    user = _user(request)
    period, start, end, county, township = report_params(request)
    async with request.app[POOL].acquire() as conn:
        rows = await reports.facility_report(conn, user.scope, start, end, county, township)
    formula = (reports.__doc__ or "").split("\n\n", 1)[-1]
    return await render(
        request, "reports.html", {"rows": rows, "period": period, "day": start.date().isoformat(), "formula": formula}
    )


@page_routes.get("/facilities/{facility_id}")
async def facility_page(request: web.Request) -> web.Response:
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise web.HTTPNotFound(text="not found")
        status = await queries.facility_status(conn, f)
        alerts = await queries.alerts(conn, user.scope, facility_id=f["id"], status="open")
    return await render(request, "facility.html", {"f": f, "status": status, "alerts": alerts})


@page_routes.get("/alerts")
async def alert_inbox(request: web.Request) -> web.Response:
    user = _user(request)
    q = request.query
    status = q.get("status") if q.get("status") in {"open", "active", "cleared", "all"} else "open"
    severity = q.get("severity") if q.get("severity") in queries.SEVERITY_RANK else None
    async with request.app[POOL].acquire() as conn:
        alerts = await queries.alerts(
            conn,
            user.scope,
            status=status or "open",
            severity=severity,
            rule=q.get("rule") or None,
            facility_id=q.get("facility_id") or None,
        )
    return await render(request, "alerts.html", {"alerts": alerts, "status": status, "severity": severity})


@page_routes.post("/alerts/{alert_id}/ack")
async def ack_form(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        raise not_found() from None
    await acknowledge(request, alert_id, str(form.get("note", "")), _user(request))
    raise web.HTTPFound(str(form.get("back") or "/alerts"))


@page_routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire() as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError):
        return web.json_response({"database": False}, status=503)
    return web.json_response({"database": True})


@page_routes.get("/metrics")
async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), content_type="text/plain")


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    app[POOL] = await asyncpg.create_pool(app[DATABASE_URL], min_size=1, max_size=8)
    yield
    await app[POOL].close()


async def _listen_ctx(app: web.Application) -> AsyncIterator[None]:
    """One LISTEN connection feeds every open stream."""
    hub = app[HUB]
    conn = await asyncpg.connect(app[DATABASE_URL])

    def on_notify(_c: object, _pid: int, _ch: str, payload: str) -> None:
        hub.publish(payload)

    await conn.add_listener(NOTIFY_CHANNEL, on_notify)
    yield
    await conn.remove_listener(NOTIFY_CHANNEL, on_notify)
    await conn.close()


async def _end_streams(app: web.Application) -> None:
    app[HUB].close()


def create_app(database_url: str, session_key: bytes) -> web.Application:
    """session_key: 32 random bytes (the Fernet key of the session cookies)."""
    app = web.Application(middlewares=[errors])
    setup_session(
        app,
        EncryptedCookieStorage(
            session_key,  # 32 raw bytes: the storage makes the Fernet key of them
            cookie_name="cw_session",
            httponly=True,
            samesite="Lax",
            max_age=12 * 3600,
        ),
    )
    app.middlewares.append(authenticate)
    app[DATABASE_URL] = database_url
    app[HUB] = Hub()
    app.cleanup_ctx.extend([_pool_ctx, _listen_ctx])
    app.on_shutdown.append(_end_streams)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.router.add_routes(api_routes)
    app.router.add_routes(page_routes)
    app.router.add_static("/static/", HERE / "static")
    return app
