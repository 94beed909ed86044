"""`carewatch web`: the aiohttp application factory, auth middleware and pages.

Scope is enforced in one place (storage.users.Scope) for pages, API and stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from markupsafe import Markup
from prometheus_client import REGISTRY, generate_latest

from contract.clock import SYSTEM, Clock
from contract.config import DEFAULT_PUBLIC_URL, check_public_url
from contract.credit import METHOD_VERSION, CreditConfig
from contract.errors import DomainError
from contract.inspection import AREAS as INSPECTION_AREAS
from contract.inspection import CHECKLIST
from contract.places import boundaries_geojson
from contract.rules import SEVERITIES, RuleConfig, RuleId, load_rules
from runtime.collector import watch_pauses
from runtime.retry import Backoff
from storage import credit as credit_store
from storage import inspections as inspection_store
from storage import logins, notifications, queries
from storage import maintenance as maintenance_store
from storage import rectification as rectification_store
from storage import registry as registry_store
from storage.alerts import NOTIFY_CHANNEL
from storage.errors import RETRYABLE
from storage.listen import Listener
from storage.users import (
    User,
    audit,
    end_sessions,
    hash_token,
    password_record,
    user_by_session,
    user_by_token,
    verify_password,
)
from supervision import credit as appeal_rules
from supervision import orders as order_rules
from web import appeals, i18n, inspections, orders, reports, subscriptions
from web.actions import acknowledge, load_registry_text, may_set_maintenance, set_maintenance
from web.api import assessment_rows, month_param, report_params
from web.api import public_url as api_public_url
from web.api import routes as api_routes
from web.errors import Forbidden, Invalid, Refused
from web.errors import NotFound as NotFoundError
from web.i18n import DEFAULT_TZ, TEXT, county_name, details, label, labels_for, scope_name, township_name, when
from web.keys import (
    CLOCK,
    CREDIT,
    DATABASE_URL,
    GATEWAYS,
    HASH_SLOTS,
    HUB,
    INTAKE,
    LOGIN_LIMITS,
    POOL,
    PUBLIC_URL,
    RATE_BUCKETS,
    RESYNC,
    RULES,
    SESSION_LIMITS,
    STILL_VALID,
    STREAM_CHECK_S,
    TIMING,
    TRUSTED_PROXIES,
    USER,
    GatewaySnapshot,
    Hub,
    IntakeSnapshot,
    Timing,
    now_of,
)
from web.limits import DEFAULT_BYTES, body_limit
from web.params import DEAD_LETTER_REASON, as_id, client_address, local_path, path_id, proxy_networks
from web.ratelimit import Buckets, RateLimit, retry_after
from web.throttle import HashSlots, LoginLimits

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
page_routes = web.RouteTableDef()


@web.middleware
async def server_timing(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every answer says where its time went (`Server-Timing`; pages add their own phases)."""
    timing = request[TIMING] = Timing()
    resp = await handler(request)
    if not resp.prepared:  # a stream's headers left long ago
        resp.headers["Server-Timing"] = timing.header()
    return resp


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """API errors are JSON with a reason; unknown paths under /api answer JSON 404 too; a value the
    database refuses is the client's error (400); the database out of reach is a 503 that says so
    (with Retry-After), not a 500."""
    try:
        return await handler(request)
    except Refused as exc:  # the domain's refusals, mapped here and nowhere else
        if isinstance(exc, Forbidden):
            await _audit_forbidden(request, exc)
        if request.path.startswith("/api/"):
            return web.json_response({"error": exc.reason}, status=exc.status)
        return web.Response(text=exc.reason, status=exc.status)
    except DomainError as exc:  # a business rule below the web that no handler translated: never a 500
        status = 409 if exc.kind == "conflict" else 400
        if request.path.startswith("/api/"):
            return web.json_response({"error": str(exc)}, status=status)
        return web.Response(text=str(exc), status=status)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.content_type != "application/json" and exc.status >= 400:
            return web.json_response({"error": exc.reason}, status=exc.status)
        raise
    except asyncpg.DataError as exc:
        # A value PostgreSQL cannot take (a NUL character in text, a number out of range): the
        # client's input, so a 400 with the reason, never a 500.
        logger.info(
            "%s %s: the database refused a value (%s: %s)", request.method, request.path, type(exc).__name__, exc
        )
        reason = "invalid value: the database cannot store it (a NUL character, a number out of range)"
        if request.path.startswith("/api/"):
            return web.json_response({"error": reason}, status=400)
        return web.Response(text=reason, status=400)
    except RETRYABLE as exc:
        logger.warning("%s %s: database unavailable (%s: %s)", request.method, request.path, type(exc).__name__, exc)
        reason = "the database is unavailable; try again shortly (数据库暂不可用，请稍后重试)"
        headers = {"Retry-After": "5"}
        if request.path.startswith("/api/"):
            return web.json_response({"error": reason}, status=503, headers=headers)
        return web.Response(text=reason, status=503, headers=headers)


async def _audit_forbidden(request: web.Request, exc: Forbidden) -> None:
    """Someone tried what their role does not allow: the audit log says who, what and where."""
    user = request.get(USER)
    with contextlib.suppress(*RETRYABLE):  # the refusal stands even if the log cannot be written
        async with request.app[POOL].acquire() as conn:
            await audit(
                conn,
                user.username if user else "-",
                "forbidden",
                f"{request.method} {request.path}",
                {"reason": exc.reason, "address": client_address(request)},
            )


@web.middleware
async def authenticate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    auth = request.headers.get("Authorization", "")
    user: User | None = None
    with request[TIMING]("auth"):
        limited = await _rate_limited(request, auth)
        if limited is not None:
            return limited
        async with request.app[POOL].acquire() as conn:
            if auth.startswith("Bearer "):
                token = auth.removeprefix("Bearer ").strip()
                user = await user_by_token(conn, token)
                if user is None:
                    return web.json_response({"error": "invalid or revoked token"}, status=401)
                request[STILL_VALID] = _token_holds(token)
            else:
                session = await get_session(request)
                if "uid" in session:
                    user = await _session_user(request, conn, session)
                    if user is not None:
                        request[STILL_VALID] = _session_holds(request, user.id, float(session.get("at", 0)))
                if user is not None and request.method not in SAFE_METHODS and request.path.startswith("/api/"):
                    _same_origin(request)  # a cookie rides along with any site's request: check where it came from
    request[USER] = user
    public = request.path in {"/login", "/healthz", "/metrics"} or request.path.startswith("/static/")
    if user is None and not public and not request.path.startswith("/api/"):
        raise web.HTTPFound("/login")
    if request.method not in SAFE_METHODS and not request.path.startswith("/api/"):
        await _form_origin(request)
    return await handler(request)


async def _rate_limited(request: web.Request, auth: str) -> web.Response | None:
    """A 429 if this request's token or session has spent its bucket (web/ratelimit.py); None: go on.

    Keyed by what the request presents, before it is looked up, so a refused request costs no database
    work: a token by its SHA-256 digest (what storage keeps; the token itself is not held here), a session
    by its user and sign-in time (the cookie is encrypted and signed: nobody writes it but this site).
    Static files and anonymous requests are not counted (a login is the login throttle's)."""
    buckets = request.app[RATE_BUCKETS]
    if buckets is None or request.path.startswith("/static/"):
        return None
    if auth.startswith("Bearer "):
        key, what = "t:" + hash_token(auth.removeprefix("Bearer ").strip()), "this token"
    else:
        session = await get_session(request)
        if "uid" not in session:
            return None
        key, what = f"s:{session['uid']}:{session.get('at', 0)}", "this session"
    wait = buckets.take(key)
    if wait <= 0:
        return None
    reason = f"too many requests for {what}: {buckets.limit.describe()}; retry after {retry_after(wait)} s"
    headers = {"Retry-After": retry_after(wait)}
    if request.path.startswith("/api/"):
        return web.json_response({"error": reason}, status=429, headers=headers)
    return web.Response(text=reason, status=429, headers=headers)


async def _form_origin(request: web.Request) -> None:
    """What can be checked of a page's form before its body is read (the CSRF token is in the body):
    the session must hold a token (a page of this site was loaded), and a browser's Origin, when sent,
    must be this site. A form from elsewhere, or a script without a session, is refused unread."""
    session = await get_session(request)
    origin = request.headers.get("Origin")
    netloc = urlsplit(origin).netloc if origin and origin != "null" else None
    own = {None, request.host, urlsplit(request.app[PUBLIC_URL]).netloc}
    if not session.get("csrf") or origin == "null" or netloc not in own:
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")


async def _session_user(request: web.Request, conn: asyncpg.Connection, session: Session) -> User | None:
    """The session's user, unless it has been idle or alive too long (the cookie's own lifetime is the
    browser's business; these limits are checked here), or ended by a logout or a disabled account."""
    idle_s, absolute_s = request.app[SESSION_LIMITS]
    now = time.time()
    at = float(session.get("at", 0))
    seen = float(session.get("seen", at))
    if now - at > absolute_s or now - seen > idle_s:
        session.invalidate()
        return None
    user = await user_by_session(conn, int(session["uid"]), at)
    if user is not None and now - seen > min(60.0, idle_s / 4):
        session["seen"] = now  # a new cookie at most once a minute, not on every request
    return user


def _token_holds(token: str) -> Callable[[asyncpg.Connection], Awaitable[bool]]:
    async def holds(conn: asyncpg.Connection) -> bool:
        return await user_by_token(conn, token) is not None  # not revoked, not expired, user not disabled

    return holds


def _session_holds(request: web.Request, uid: int, at: float) -> Callable[[asyncpg.Connection], Awaitable[bool]]:
    absolute_s = request.app[SESSION_LIMITS][1]

    async def holds(conn: asyncpg.Connection) -> bool:
        # within its lifetime, not ended by a logout, its user not disabled (the idle limit does not apply:
        # an open stream is the duty-room wall in use)
        return time.time() - at <= absolute_s and await user_by_session(conn, uid, at) is not None

    return holds


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    # Everything the pages load is served here; no inline script or style; never framed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Server": "CareWatch",  # not aiohttp's version banner
}


def _same_origin(request: web.Request) -> None:
    """A write through the API with a session cookie must come from this site's own pages: an
    Origin header naming this host (browsers send it on every cross-site POST). Token clients are
    not affected; the pages' own forms carry a CSRF token instead."""
    origin = request.headers.get("Origin")
    if origin is None or urlsplit(origin).netloc != request.host:
        raise Forbidden("a write with a session cookie must come from this site (Origin); API clients use a token")


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _user(request: web.Request) -> User:
    """The signed-in user of a page (the middleware sent everyone else to /login)."""
    user = request.get(USER)
    if user is None:
        raise web.HTTPFound("/login")
    return user


def lang_of(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in TEXT else "zh"


def _demo_clock(request: web.Request, lang: str) -> str | None:
    """The demo's time on the city's clock and its speed, when the app runs on an accelerated clock."""
    clock = request.app[CLOCK]
    if clock.speed == 1.0:
        return None
    local = now_of(request).astimezone(ZoneInfo(DEFAULT_TZ))
    return TEXT[lang]["demo_clock"].format(f"{local:%m-%d %H:%M}", f"{clock.speed:g}")


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
        "township_name": township_name,
        "scope_name": lambda scope: scope_name(scope, lang),
        "path": request.path_qs,
        # codes and times for people (web/i18n.py): L('rule', a.rule), when(a.opened_at[, tz])
        "L": lambda kind, code: label(kind, code, lang),
        "when": lambda value, tz=DEFAULT_TZ, clock=False: when(value, lang, tz, now_of(request), clock=clock),
        "details": lambda value: details(value, lang, now_of(request)),
        "labels": labels_for(lang),
        # an accelerated demo's clock (contract.clock): its time and speed in the header
        "demo_clock": _demo_clock(request, lang),
        # data intake stopped or behind: every page says so, and as of when states are known
        "intake": await request.app[INTAKE].get(request.app[POOL], now_of(request)) if request.get(USER) else None,
    }
    resp = aiohttp_jinja2.render_template(template, request, {**base, **ctx})
    if "lang" in request.query:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    return resp


async def check_csrf(request: web.Request, form: Any) -> None:
    session = await get_session(request)
    if not session.get("csrf") or form.get("csrf") != session["csrf"]:
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")


@page_routes.get("/intake-banner")
async def intake_banner(request: web.Request) -> web.Response:
    """The data-intake banner alone (empty while intake keeps up): open pages fetch it (live.js), so a
    page left open says so when the platform stops hearing, and stops saying so when it hears again."""
    return await render(request, "intake_banner.html", {})


@page_routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return await render(request, "login.html", {"error": None})


@page_routes.post("/login")
async def login(request: web.Request) -> web.Response:
    """The password is checked only once the attempt is reserved (web/throttle.py): refused tries cost no
    hash; a hash runs in a worker thread with no database connection held, at most HASH_SLOTS at once."""
    form = await request.post()
    await check_csrf(request, form)
    username, address = str(form.get("username", ""))[:200], client_address(request)
    limits, slots, pool = request.app[LOGIN_LIMITS], request.app[HASH_SLOTS], request.app[POOL]
    if not slots.take():  # this process is hashing all it can: at once, rather than queue the flood
        return await _login_refused(request, 503, "logins_busy", 1)
    try:
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            attempt, wait = await logins.reserve(
                conn, username, address, now, limits.window, limits.known_for, limits.retry_after
            )
            record = await password_record(conn, username) if attempt is not None else None
        if attempt is None:  # refused without checking the password: guessing gains nothing, costs nothing
            return await _login_refused(request, 429, "too_many_logins", wait)
        user = await verify_password(record, str(form.get("password", "")))
    finally:
        slots.give()
    async with pool.acquire() as conn:
        await logins.finish(conn, attempt, user is not None, now, limits.window, limits.known_for)
        if user is None:
            await audit(conn, username or "-", "login.failed", address, {})
    if user is None:
        return await render(request, "login.html", {"error": TEXT[lang_of(request)]["bad_login"]})
    session = await new_session(request)
    session["uid"] = user.id
    session["at"] = time.time()  # a logout ends every session issued before it (storage.users.end_sessions)
    session["csrf"] = secrets.token_urlsafe(24)
    raise web.HTTPFound("/")


async def _login_refused(request: web.Request, status: int, text: str, wait: float) -> web.Response:
    resp = await render(request, "login.html", {"error": TEXT[lang_of(request)][text]})
    resp.set_status(status)
    resp.headers["Retry-After"] = str(int(wait) + 1)
    return resp


@page_routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await check_csrf(request, await request.post())
    user = request.get(USER)
    if user is not None:
        async with request.app[POOL].acquire() as conn:
            await end_sessions(conn, user.id)  # a copy of the cookie is worthless from now on
    (await get_session(request)).invalidate()
    raise web.HTTPFound("/login")


@page_routes.get("/")
async def overview(request: web.Request) -> web.Response:
    user = _user(request)
    if user.role == "operator" and user.scope.facility:
        raise web.HTTPFound(f"/facilities/{user.scope.facility}")  # an operator's overview is their facility
    raw_county = request.query.get("county", "")
    county = raw_county if re.fullmatch(r"[0-9]{6}", raw_county) else None
    timing = request[TIMING]
    with timing("gateways"):
        gateways = await request.app[GATEWAYS].get(request.app[POOL], request.app[RULES], now_of(request))
    async with request.app[POOL].acquire() as conn:
        with timing("facilities"):
            facs = await queries.facilities(
                conn, user.scope, county=county, rules=request.app[RULES], now=now_of(request), gateways=gateways
            )
        with timing("sql"):
            summary = await queries.summary(conn, user.scope, county)
            # by their latest evidence, as the wall: a reopened alarm comes back to the top
            open_alerts = await queries.alerts(
                conn, user.scope, status="open", limit=20, county=county, order="last_seen_at"
            )
    by_township = user.scope.below_city or county is not None
    # A city-wide view lists the facilities that need attention (red, amber, grey), worst first; the green
    # ones are on the map and one click away in their county's list (city → county → township).
    listed = facs if by_township else [f for f in facs if f["state"] != "green"]
    listed = sorted(listed, key=lambda f: (STATE_RANK[f["state"]], -f["open_alerts"], f["name"]))
    # [id, name, lon, lat, state, county] a facility, as compact JSON made once (a province's 5,000
    # facilities: jinja's tojson of dicts was a quarter of the page's time, bench province)
    points = map_points_json([f for f in facs if f["location"]])
    with timing("render"):
        return await render(
            request,
            "overview.html",
            {
                "listed": listed[:OVERVIEW_LIST],
                "listed_more": max(0, len(listed) - OVERVIEW_LIST),
                "facilities": facs,
                "map_points": points,
                "summary": summary,
                "areas": queries.areas(facs, by_township),
                "by_township": by_township,
                "county": county,
                "alerts": open_alerts,
                "scope": facs[0]["name"]
                if user.role == "operator" and facs
                else scope_name(user.scope, lang_of(request)),
                "understaffed": [f for f in facs if f["staffing_alerts"]],
                # below the city, the map shows the user's own county (an operator's: their facility's)
                "map_county": county
                or user.scope.county
                or (facs[0]["county"] if user.role == "operator" and facs else ""),
            },
        )


_HTML_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))


def map_points_json(facs: list[dict[str, Any]]) -> Markup:
    """The map's facilities for a `<script type="application/json">`: escaped as jinja's tojson does
    (no `<`, `>`, `&` or `'` survives), without its sorted keys and ASCII escapes."""
    rows = [[f["id"], f["name"], f["location"]["lon"], f["location"]["lat"], f["state"], f["county"]] for f in facs]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _HTML_SAFE:  # str.replace, not str.translate: 10x quicker on 500 kB
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704


@page_routes.get("/geo/counties.json")
async def county_boundaries(_: web.Request) -> web.Response:
    """Xinzhou's county boundaries for the overview's map (contract/places.py names the data's source)."""
    return web.Response(
        text=boundaries_geojson(), content_type="application/json", headers={"Cache-Control": "max-age=86400"}
    )


OVERVIEW_LIST = 300  # facilities listed on the overview (the rest: a county's drill-down, the map)
WALL_ALERTS = 8  # newest critical and major alerts on the duty-room wall
WALL_FACILITIES = 12  # facilities needing attention on it
STATE_RANK = {"red": 0, "amber": 1, "grey": 2, "green": 3}


@page_routes.get("/wall")
async def wall(request: web.Request) -> web.Response:
    """The duty-room wall (值班大屏): read-only, full screen at 1920 × 1080 without scrolling, live.
    `?fragment=1` answers its changing part only, which the page fetches on every change."""
    user = _user(request)
    gateways = await request.app[GATEWAYS].get(request.app[POOL], request.app[RULES], now_of(request))
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facilities(
            conn, user.scope, rules=request.app[RULES], now=now_of(request), gateways=gateways
        )
        newest = [
            a
            for sev in ("critical", "major")
            for a in await queries.alerts(
                conn, user.scope, status="open", severity=sev, limit=WALL_ALERTS, order="last_seen_at"
            )
        ]
    # newest by their latest evidence: a panic button pressed again after it was released reopens its
    # old alert (latching, docs/contract.md), and must come to the top, not stay where it first opened
    newest.sort(key=lambda a: a["last_seen_at"], reverse=True)
    counts = {s: sum(1 for f in facs if f["state"] == s) for s in STATE_RANK}
    attention = sorted((f for f in facs if f["state"] != "green"), key=lambda f: (STATE_RANK[f["state"]], f["name"]))
    ctx = {
        "counts": counts,
        "newest": newest[:WALL_ALERTS],
        "attention": attention[:WALL_FACILITIES],
        "attention_more": max(0, len(attention) - WALL_FACILITIES),
        "scope": scope_name(user.scope, lang_of(request)),
        "fragment": request.query.get("fragment") == "1",
    }
    return await render(request, "wall.html", ctx)


@page_routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    user = _user(request)
    # the page's form sends empty fields; they mean "not set" here
    period, start, end, county, township = report_params(request, {k: v for k, v in request.query.items() if v})
    async with request.app[POOL].acquire() as conn:
        rows = await reports.facility_report(conn, user.scope, start, end, county, township, now=now_of(request))
    return await render(request, "reports.html", {"rows": rows, "period": period, "day": start.date().isoformat()})


async def _facility_ctx(
    conn: asyncpg.Connection, user: User, f: asyncpg.Record, rules: Mapping[str, RuleConfig], now: datetime
) -> dict[str, Any]:
    status = await queries.facility_status(conn, f, rules=rules, now=now)
    latest = await queries.latest_readings(conn, f["id"], now)
    for d in status["device_list"]:
        d["latest"] = latest.get(d["id"], {})
    return {
        "f": f,
        "status": status,
        "alerts": await queries.alerts(conn, user.scope, facility_id=f["id"], status="open"),
        "timeline": await queries.timeline(conn, f["id"], queries.local_midnight(f, now), limit=100),
        "metrics": await queries.metrics_of(conn, f["id"], now),
        "staff": await queries.staff(conn, f["id"], now),
        "windows": await maintenance_store.windows(conn, f["id"], now),
        "can_maintain": may_set_maintenance(user),
        "error": None,
        "kept": {},  # the maintenance form's values, kept when it comes back with an error
        "facility_orders": await rectification_store.orders(conn, user.scope, now, facility_id=f["id"], limit=20),
        "may_issue": order_rules.level_of(user.scope) is not None,
        "facility_inspections": await inspection_store.inspections(conn, user.scope, facility_id=f["id"], limit=20),
        "order_kept": {},
        "order_error": False,
    }


@page_routes.get("/facilities/{facility_id}")
async def facility_page(request: web.Request) -> web.Response:
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise web.HTTPNotFound(text="not found")
        ctx = await _facility_ctx(conn, user, f, request.app[RULES], now_of(request))
    return await render(request, "facility.html", ctx)


async def _form_refused(request: web.Request, template: str, ctx: dict[str, Any], exc: Refused) -> web.Response:
    """A form the shared action refused: the page again, with the reason and its status."""
    resp = await render(request, template, ctx | {"error": exc.text(lang_of(request))})
    resp.set_status(exc.status)
    return resp


async def _facility_form(request: web.Request) -> tuple[User, Any, asyncpg.Record]:
    """A form posted to a facility's path: the user, the checked form (CSRF) and the facility in scope
    (404 otherwise)."""
    user = _user(request)
    form = await request.post()
    await check_csrf(request, form)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
    if f is None:
        raise web.HTTPNotFound(text="not found")
    return user, form, f


@page_routes.post("/facilities/{facility_id}/maintenance")
async def maintenance_form(request: web.Request) -> web.Response:
    """The facility page's form: local date-times in the facility's time zone."""
    user, form, f = await _facility_form(request)
    tz = ZoneInfo(f["timezone"])

    def when(name: str) -> str:
        v = str(form.get(name, "")).strip()
        try:
            return datetime.fromisoformat(v).replace(tzinfo=tz).isoformat() if v else ""
        except ValueError:
            return v  # set_maintenance answers with the reason

    body = {
        "starts_at": when("starts_at"),
        "ends_at": when("ends_at"),
        "reason": str(form.get("reason", "")),
        "device_id": str(form.get("device_id", "")) or None,
    }
    try:
        await set_maintenance(request.app[POOL], user, f["id"], body, now=now_of(request))
    except (Invalid, Forbidden) as exc:
        async with request.app[POOL].acquire() as conn:
            ctx = await _facility_ctx(conn, user, f, request.app[RULES], now_of(request))
        kept = {k: str(form.get(k, "")) for k in ("device_id", "starts_at", "ends_at", "reason")}
        return await _form_refused(request, "facility.html", ctx | {"kept": kept}, exc)
    raise web.HTTPFound(f"/facilities/{f['id']}#maintenance")


@page_routes.get("/alerts/{alert_id}")
async def alert_page(request: web.Request) -> web.Response:
    user = _user(request)
    alert_id = path_id(request.match_info["alert_id"])
    async with request.app[POOL].acquire() as conn:
        a = await queries.alert_detail(conn, user.scope, alert_id)
    if a is None:
        raise web.HTTPNotFound(text="not found")
    may_issue = order_rules.level_of(user.scope) is not None
    return await render(request, "alert.html", {"a": a, "alerts": [a], "may_issue": may_issue})


async def _registry_rows(request: web.Request, user: User) -> list[asyncpg.Record]:
    async with request.app[POOL].acquire() as conn:
        return await registry_store.overview(conn, user.scope, now_of(request))


@page_routes.get("/registry")
async def registry_page(request: web.Request) -> web.Response:
    """Facilities in scope from the registry; admins load a registry file here."""
    user = _user(request)
    loaded = request.query.get("loaded", "")
    return await render(
        request,
        "registry.html",
        {
            "rows": await _registry_rows(request, user),
            "loaded": loaded if as_id(loaded) is not None else None,
            "error": None,
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


@page_routes.post("/registry")
async def registry_upload(request: web.Request) -> web.Response:
    user = _user(request)
    form = await request.post()
    await check_csrf(request, form)
    upload = form.get("file")
    try:
        text, name = _uploaded_text(upload)
        result = await load_registry_text(request.app[POOL], user, text, name)
    except (Invalid, Forbidden) as exc:
        ctx = {"rows": await _registry_rows(request, user), "loaded": None}
        return await _form_refused(request, "registry.html", ctx, exc)
    raise web.HTTPFound(f"/registry?loaded={result['facilities']}")


@page_routes.get("/dead-letters")
async def dead_letters_page(request: web.Request) -> web.Response:
    """What ingest refused from the facilities in scope, and why: a device sending a wrong format or
    a clock gone wrong shows up here rather than as silence."""
    user = _user(request)
    reason = request.query.get("reason", "")
    reason_ok = reason if DEAD_LETTER_REASON.fullmatch(reason) else None
    async with request.app[POOL].acquire() as conn:
        rows = await queries.dead_letters(conn, user.scope, reason_ok, as_id(request.query.get("before", "")))
    return await render(request, "dead_letters.html", {"rows": rows, "reason": reason_ok or ""})


@page_routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    user = _user(request)
    if user.role != "admin":
        raise web.HTTPNotFound(text="not found")
    async with request.app[POOL].acquire() as conn:
        rows = await queries.audit_log(
            conn,
            request.query.get("actor") or None,
            request.query.get("action") or None,
            as_id(request.query.get("before", "")),
        )
    return await render(request, "audit.html", {"rows": rows})


INBOX_PAGE = 50  # alerts a page of the inbox


@page_routes.get("/alerts")
async def alert_inbox(request: web.Request) -> web.Response:
    """Filter by area, facility, rule, severity and state; a bad filter value is simply ignored."""
    user = _user(request)
    q = request.query
    status = q.get("status") if q.get("status") in {"open", "active", "cleared", "all"} else "open"
    severity = q.get("severity") if q.get("severity") in queries.SEVERITY_RANK else None
    rule = q.get("rule") if q.get("rule") in RuleId.__members__.values() else None
    county = q.get("county") if re.fullmatch(r"[0-9]{6}", q.get("county", "")) else None
    township = q.get("township") if re.fullmatch(r"[0-9]{9}", q.get("township", "")) else None
    facility_id = q.get("facility_id") or None
    sort = q.get("sort", "") if q.get("sort") in queries.ALERT_ORDER else "opened_at"
    descending = q.get("order") != "asc"
    page = int(q["page"]) if re.fullmatch(r"[1-9][0-9]{0,3}", q.get("page", "")) else 1
    async with request.app[POOL].acquire() as conn:
        facs = await queries.facility_names(conn, user.scope)
        alerts = await queries.alerts(
            conn,
            user.scope,
            status=status or "open",
            severity=severity,
            rule=rule,
            county=county,
            township=township,
            facility_id=facility_id,
            order=sort,
            descending=descending,
            limit=INBOX_PAGE + 1,  # one more: is there a next page?
            offset=(page - 1) * INBOX_PAGE,
        )

    def link(**changes: object) -> str:
        """This inbox with the same filters and some parameters changed (sort, order, page)."""
        params = {k: v for k, v in q.items() if k != "lang"} | {k: str(v) for k, v in changes.items()}
        return "/alerts?" + urlencode(params)

    def sort_link(col: str) -> str:
        same = col == sort
        return link(sort=col, order="asc" if same and descending else "desc", page=1)

    return await render(
        request,
        "alerts.html",
        {
            "status": status,
            "severity": severity,
            "rule": rule,
            "rules": sorted(r.value for r in RuleId),
            "severities": SEVERITIES,
            "county": county,
            "township": township,
            "facility_id": facility_id,
            "counties": sorted({f["county"] for f in facs}),
            "townships": sorted({f["township"] for f in facs}),
            "facilities": facs,
            "alerts": alerts[:INBOX_PAGE],
            "sortable": True,
            "sort": sort,
            "descending": descending,
            "sort_link": sort_link,
            "page": page,
            "prev_link": link(page=page - 1) if page > 1 else None,
            "next_link": link(page=page + 1) if len(alerts) > INBOX_PAGE else None,
        },
    )


@page_routes.post("/alerts/{alert_id}/ack")
async def ack_form(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    alert_id = path_id(request.match_info["alert_id"])
    user = _user(request)
    try:
        await acknowledge(request.app[POOL], user, alert_id, str(form.get("note", "")))
    except Invalid as exc:  # the alert's page again, with the reason in the page's language
        async with request.app[POOL].acquire() as conn:
            a = await queries.alert_detail(conn, user.scope, alert_id)
        if a is None:
            raise web.HTTPNotFound(text="not found") from None
        return await _form_refused(request, "alert.html", {"a": a, "alerts": [a], "may_issue": False}, exc)
    raise web.HTTPFound(local_path(str(form.get("back") or ""), "/alerts"))


# -- rectification orders (整改通知): the inbox, one order, and the forms of each side ----------------------
@page_routes.get("/orders")
async def orders_page(request: web.Request) -> web.Response:
    user = _user(request)
    status = request.query.get("status") or "open"
    if status not in {"open", "overdue", "issued", "answered", "returned", "accepted", "all"}:
        raise web.HTTPBadRequest(text="status: open, overdue, issued, answered, returned, accepted or all")
    level = order_rules.level_of(user.scope)
    now = now_of(request)
    async with request.app[POOL].acquire() as conn:
        rows = await rectification_store.orders(conn, user.scope, now, status=None if status == "all" else status)
        supervised = (
            await rectification_store.orders(conn, user.scope, now, status="overdue", supervised_at=level)
            if level and level != "township"
            else []
        )
    return await render(request, "orders.html", {"rows": rows, "status": status, "supervised": supervised})


async def _order_ctx(request: web.Request, user: User, order_id: int) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, user.scope, order_id, now_of(request))
    if o is None:
        raise web.HTTPNotFound(text="not found")
    may_review = order_rules.may_review(user.scope, o["issued_level"])
    return {
        "o": o,
        "may_answer": user.role in {"operator", "admin"},
        "may_review": may_review,
        "return_days": order_rules.RETURN_DUE_MAX.days,
        "error": None,
    }


@page_routes.get("/orders/{order_id}")
async def order_page(request: web.Request) -> web.Response:
    user = _user(request)
    return await render(request, "order.html", await _order_ctx(request, user, path_id(request.match_info["order_id"])))


@page_routes.post("/facilities/{facility_id}/orders")
async def order_issue_form(request: web.Request) -> web.Response:
    """From the facility page or an alert's page: due date as the facility's local date and time."""
    user, form, f = await _facility_form(request)
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
        async with request.app[POOL].acquire() as conn:
            ctx = await _facility_ctx(conn, user, f, request.app[RULES], now_of(request))
        kept = {k: str(form.get(k, "")) for k in ("title", "detail", "due_at", "alert_id")}
        return await _form_refused(request, "facility.html", ctx | {"order_kept": kept, "order_error": True}, exc)
    raise web.HTTPFound(f"/orders/{o['id']}")


def _uploads(form: Any, field: str) -> list[orders.Upload]:
    """The files of a multipart form's field (web/orders.evidence checks them by their bytes)."""
    return [
        orders.Upload(str(getattr(v, "filename", "") or field), v.file.read())
        for v in form.getall(field, [])
        if hasattr(v, "file")
    ]


@page_routes.post("/orders/{order_id}/answer")
async def order_answer_form(request: web.Request) -> web.Response:
    """The operator's answer with evidence: multipart, files checked by their bytes (web/orders.py)."""
    user = _user(request)
    order_id = path_id(request.match_info["order_id"])
    form = await request.post()
    await check_csrf(request, form)
    uploads = _uploads(form, "evidence")
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
        return await _form_refused(request, "order.html", await _order_ctx(request, user, order_id), exc)
    raise web.HTTPFound(f"/orders/{order_id}")


async def _local_due(request: web.Request, order_id: int, raw: str) -> str:
    """A return's new due date from the form: the facility's local date and time, as RFC 3339 ("" when
    missing or not a date: web.orders refuses it with its reason)."""
    if not raw.strip():
        return ""
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, _user(request).scope, order_id, now_of(request))
        f = None if o is None else await queries.facility_row(conn, _user(request).scope, o["facility_id"])
    try:
        zone = ZoneInfo(f["timezone"]) if f is not None else ZoneInfo("Asia/Shanghai")
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=zone).isoformat()
    except ValueError:
        return ""


@page_routes.post("/orders/{order_id}/review")
async def order_review_form(request: web.Request) -> web.Response:
    user = _user(request)
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
        return await _form_refused(request, "order.html", await _order_ctx(request, user, order_id), exc)
    raise web.HTTPFound(f"/orders/{order_id}")


# -- the credit evaluation (诚信评价) -------------------------------------------------------------------------
@page_routes.get("/credit")
async def credit_page(request: web.Request) -> web.Response:
    user = _user(request)
    try:
        month = month_param(request.query.get("month", ""), now_of(request))
    except Refused as exc:
        raise web.HTTPBadRequest(text=exc.text(lang_of(request))) from None
    return await render(request, "credit.html", await _credit_ctx(request, user, month))


async def _credit_ctx(request: web.Request, user: User, month: date) -> dict[str, Any]:
    """The month's records in scope, each with its appeals (web/appeals.py), and who may file or decide."""
    async with request.app[POOL].acquire() as conn:
        rows = await credit_store.month_report(conn, user.scope, month, now_of(request), request.app[CREDIT])
    appeals.attach(rows, await appeals.listed(request.app[POOL], user.scope, month=month))
    rows.sort(key=lambda r: (r["score"], r["name"]))
    grades = {g: sum(1 for r in rows if r["grade"] == g) for g, _ in request.app[CREDIT].grades}
    return {
        "rows": rows,
        "month": month.isoformat()[:7],
        "grades": grades,
        "cfg": request.app[CREDIT],
        "method": METHOD_VERSION,
        "may_file": user.role == "operator",
        "may_decide": appeal_rules.may_decide(user.scope),
        "error": None,
    }


@page_routes.post("/credit/{facility_id}/{month}/appeal")
async def credit_appeal_form(request: web.Request) -> web.Response:
    user = _user(request)
    form = await request.post()
    await check_csrf(request, form)
    month = month_param(request.match_info["month"], now_of(request))
    try:
        await appeals.file(
            request.app[POOL], user, request.match_info["facility_id"], month, form.get("note"), now=now_of(request)
        )
    except NotFoundError:
        raise web.HTTPNotFound(text="not found") from None
    except Refused as exc:
        return await _form_refused(request, "credit.html", await _credit_ctx(request, user, month), exc)
    raise web.HTTPFound(f"/credit?month={month.isoformat()[:7]}")


@page_routes.post("/credit/appeals/{appeal_id}/decide")
async def credit_decide_form(request: web.Request) -> web.Response:
    """Accept with a corrected score, or reject; the month's page again."""
    user = _user(request)
    form = await request.post()
    await check_csrf(request, form)
    accept = str(form.get("decision", "")) == "accept"
    raw = str(form.get("score", "")).strip()
    try:
        score: object = float(raw) if raw else None
    except ValueError:
        score = raw  # not a number: the rules refuse it with their reason
    body = {"accept": accept, "score": score, "reason": str(form.get("reason", ""))}
    month = month_param(str(form.get("month", "")), now_of(request))
    try:
        await appeals.decide(
            request.app[POOL],
            user,
            path_id(request.match_info["appeal_id"]),
            body,
            request.app[CREDIT],
            now=now_of(request),
        )
    except NotFoundError:
        raise web.HTTPNotFound(text="not found") from None
    except Refused as exc:
        return await _form_refused(request, "credit.html", await _credit_ctx(request, user, month), exc)
    raise web.HTTPFound(f"/credit?month={month.isoformat()[:7]}")


@page_routes.get("/assessment")
async def assessment_page(request: web.Request) -> web.Response:
    """The annual assessment (考核评估): a printable page (print CSS) and its CSV."""
    user = _user(request)
    try:
        year, by, county, rows = await assessment_rows(request, user)
    except Refused as exc:
        raise web.HTTPBadRequest(text=exc.text(lang_of(request))) from None
    from storage.assessment import COLUMNS as ASSESSMENT

    ctx = {"rows": rows, "year": year, "by": by, "county": county, "columns": ASSESSMENT}
    return await render(request, "assessment.html", ctx)


# -- inspections (检查记录) ------------------------------------------------------------------------------------
@page_routes.get("/inspections")
async def inspections_page(request: web.Request) -> web.Response:
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        rows = await inspection_store.inspections(conn, user.scope)
    return await render(request, "inspections.html", {"rows": rows})


async def _inspection_ctx(request: web.Request, user: User, inspection_id: int) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        i = await inspection_store.inspection_detail(conn, user.scope, inspection_id)
    if i is None:
        raise web.HTTPNotFound(text="not found")
    return {
        "i": i,
        "checklist": CHECKLIST,
        "areas": INSPECTION_AREAS,
        "may_record": order_rules.level_of(user.scope) is not None and i["status"] == "planned",
        "may_issue": order_rules.level_of(user.scope) is not None,
        "error": None,
    }


@page_routes.get("/inspections/{inspection_id}")
async def inspection_page(request: web.Request) -> web.Response:
    user = _user(request)
    ctx = await _inspection_ctx(request, user, path_id(request.match_info["inspection_id"]))
    return await render(request, "inspection.html", ctx)


@page_routes.post("/facilities/{facility_id}/inspections")
async def inspection_plan_form(request: web.Request) -> web.Response:
    user, form, f = await _facility_form(request)
    body = {"kind": str(form.get("kind", "visit")), "planned_for": str(form.get("planned_for", ""))}
    try:
        i = await inspections.plan(request.app[POOL], user, f["id"], body, now=now_of(request))
    except Refused as exc:
        async with request.app[POOL].acquire() as conn:
            ctx = await _facility_ctx(conn, user, f, request.app[RULES], now_of(request))
        return await _form_refused(request, "facility.html", ctx, exc)
    raise web.HTTPFound(f"/inspections/{i['id']}")


@page_routes.post("/inspections/{inspection_id}/record")
async def inspection_record_form(request: web.Request) -> web.Response:
    """The checklist form: a result and a note per item, notes, photos; 'sign' closes the record."""
    user = _user(request)
    inspection_id = path_id(request.match_info["inspection_id"])
    form = await request.post()
    await check_csrf(request, form)
    findings = {
        item.code: {"result": str(form.get(f"result_{item.code}", "")), "note": str(form.get(f"note_{item.code}", ""))}
        for item in CHECKLIST
    }
    body = {"findings": findings, "notes": str(form.get("notes", "")), "sign": form.get("action") == "sign"}
    uploads = _uploads(form, "photos")
    try:
        await inspections.record(request.app[POOL], user, inspection_id, body, uploads, now=now_of(request))
    except NotFoundError:
        raise web.HTTPNotFound(text="not found") from None
    except Refused as exc:
        ctx = await _inspection_ctx(request, user, inspection_id)
        ctx["i"] = ctx["i"] | {"findings": {k: v for k, v in findings.items() if v["result"] or v["note"]}}
        return await _form_refused(request, "inspection.html", ctx, exc)
    raise web.HTTPFound(f"/inspections/{inspection_id}")


@page_routes.get("/evidence/{file_id}")
async def evidence_download(request: web.Request) -> web.Response:
    """An evidence file of an order in scope, as a download (never rendered as a page of this site)."""
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        row = await rectification_store.evidence_file(conn, user.scope, path_id(request.match_info["file_id"]))
    if row is None:
        raise web.HTTPNotFound(text="not found")
    disposition = "inline" if row["content_type"].startswith("image/") else "attachment"
    return web.Response(
        body=bytes(row["data"]),
        content_type=row["content_type"],
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row['filename'])}",
            "Cache-Control": "private, max-age=3600",
        },
    )


# -- notifications: a user's own channels (WeCom, DingTalk, e-mail) and what was sent -----------------------
async def _subscriptions_ctx(conn: asyncpg.Connection, user: User) -> dict[str, Any]:
    return {
        "subs": await notifications.subscriptions_of(conn, user.id),
        "sent": await notifications.deliveries(conn, user.id, limit=30),
        "masked": subscriptions.masked,
        "kept": {},
        "error": None,
    }


@page_routes.get("/settings/notifications")
async def notifications_page(request: web.Request) -> web.Response:
    user = _user(request)
    async with request.app[POOL].acquire() as conn:
        ctx = await _subscriptions_ctx(conn, user)
    return await render(request, "notifications.html", ctx | {"queued": request.query.get("queued") == "1"})


@page_routes.post("/settings/notifications")
async def notifications_add(request: web.Request) -> web.Response:
    user = _user(request)
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
        await audit(conn, user.username, "notification.subscribe", f"subscription {sid}", detail)
    raise web.HTTPFound("/settings/notifications")


@page_routes.post("/settings/notifications/{sub_id}/{action:delete|test}")
async def notifications_change(request: web.Request) -> web.Response:
    user = _user(request)
    form = await request.post()
    await check_csrf(request, form)
    sub_id = path_id(request.match_info["sub_id"])
    action = request.match_info["action"]
    async with request.app[POOL].acquire() as conn:
        sub = await notifications.own_subscription(conn, user.id, sub_id)
        if sub is None:  # another user's reads the same as none
            raise web.HTTPNotFound(text="not found")
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
        await audit(conn, user.username, f"notification.{action}", f"subscription {sub_id}", {"channel": sub.channel})
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


@page_routes.get("/admin/notifications")
async def notification_log(request: web.Request) -> web.Response:
    """Every delivery attempt's outcome, for admins: a receiver that is down shows here as failures."""
    user = _user(request)
    if user.role != "admin":
        raise web.HTTPNotFound(text="not found")
    status = request.query.get("status") or None
    if status not in {None, "pending", "sent", "failed"}:
        raise web.HTTPBadRequest(text="status: pending, sent or failed")
    async with request.app[POOL].acquire() as conn:
        rows = await notifications.deliveries(conn, None, status, as_id(request.query.get("before", "")), 200)
        counts = await notifications.delivery_counts(conn, now_of(request) - timedelta(days=1))
    return await render(request, "notification_log.html", {"rows": rows, "counts": counts, "status": status or ""})


@page_routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire() as conn:
            await queries.ping(conn)
    except (OSError, asyncpg.PostgresError):
        return web.json_response({"database": False}, status=503)
    return web.json_response({"database": True})


@page_routes.get("/metrics")
async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), content_type="text/plain")


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    # min_size=0: the app starts without the database and answers 503 until it is reachable
    app[POOL] = await asyncpg.create_pool(app[DATABASE_URL], min_size=0, max_size=8)
    yield
    await app[POOL].close()


LISTEN_CHECK_S = 15.0  # how often a quiet LISTEN connection is checked (a dead peer can be silent)


async def _listen_forever(app: web.Application) -> None:
    """One LISTEN connection feeds every open stream; lost (a database restart, a network cut), it is
    made again with capped backoff, and the hub then publishes RESYNC so that each stream sends its
    user the current state of every facility in scope: notifications of the gap are gone for good."""
    hub = app[HUB]
    listener = Listener(app[DATABASE_URL], NOTIFY_CHANNEL, hub.publish)
    backoff, ever = Backoff(0.5, 10.0), False
    try:
        while True:
            if await listener.ensure():
                if ever:
                    logger.info("live stream: LISTEN connection back; resyncing open streams")
                    hub.publish(RESYNC)
                backoff.succeeded()
                ever = True
            if not listener.connected:
                await asyncio.sleep(backoff.failed())
                continue
            for _ in range(int(LISTEN_CHECK_S)):  # a reset is seen within a second
                await asyncio.sleep(1)
                if not listener.connected:
                    break
            else:
                await listener.probe()
    finally:
        await listener.close()


async def _listen_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_listen_forever(app), name="web-listen")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _end_streams(app: web.Application) -> None:
    app[HUB].close()


def create_app(
    database_url: str,
    session_key: bytes,
    rules: Mapping[str, RuleConfig] | None = None,
    *,
    session_limits: tuple[float, float] = (2 * 3600, 12 * 3600),
    credit: CreditConfig | None = None,
    clock: Clock = SYSTEM,
    public_url: str = DEFAULT_PUBLIC_URL,
    secure_cookies: bool | None = None,
    stream_check_s: float = 3.0,
    trusted_proxies: str = "",
    login_limits: LoginLimits | None = None,
    hash_slots: int | None = None,
    api_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen, so one shared default is safe
) -> web.Application:
    """session_key: 32 random bytes (the Fernet key of the session cookies); rules: the rule
    configuration the alert engine runs with (the defaults when None); session_limits: a browser
    session's (idle, absolute) lifetime in seconds; clock: what pages judge time by (contract.clock;
    sessions and tokens keep to real time, so a demo at 60x logs nobody out sooner); public_url: the
    site's address as people reach it (the links in notifications); secure_cookies: the session cookie
    only over HTTPS (None: when public_url is https); stream_check_s: how often an open live stream
    checks that its token or session still holds; trusted_proxies: the addresses or networks
    (comma-separated) of the reverse proxies whose X-Forwarded-For is believed; login_limits,
    hash_slots: the login throttle's (web/throttle.py); api_limit: the requests a token or a session may
    send (web/ratelimit.py; None: no limit)."""
    public_url = check_public_url(public_url)
    app = web.Application(middlewares=[body_limit, server_timing, errors], client_max_size=DEFAULT_BYTES)
    setup_session(
        app,
        EncryptedCookieStorage(
            session_key,  # 32 raw bytes: the storage makes the Fernet key of them
            cookie_name="cw_session",
            httponly=True,
            samesite="Lax",
            max_age=int(session_limits[1]),
            # behind TLS the browser never sends it over plain HTTP, where anyone on the path reads it
            secure=public_url.startswith("https://") if secure_cookies is None else secure_cookies,
        ),
    )
    app.middlewares.append(authenticate)
    app.on_response_prepare.append(_security_headers)
    app[DATABASE_URL] = database_url
    app[CLOCK] = clock
    app[RULES] = rules if rules is not None else load_rules(None)
    i18n.preload()
    watch_pauses(REGISTRY)
    app[HUB] = Hub()
    app[GATEWAYS] = GatewaySnapshot()
    app[INTAKE] = IntakeSnapshot()
    app[LOGIN_LIMITS] = login_limits or LoginLimits()
    app[HASH_SLOTS] = HashSlots(hash_slots) if hash_slots else HashSlots()
    app[RATE_BUCKETS] = Buckets(api_limit) if api_limit is not None else None
    app[TRUSTED_PROXIES] = proxy_networks(trusted_proxies)
    app[SESSION_LIMITS] = session_limits
    app[PUBLIC_URL] = public_url
    app[STREAM_CHECK_S] = stream_check_s
    app[CREDIT] = credit or CreditConfig()
    app.cleanup_ctx.extend([_pool_ctx, _listen_ctx])
    app.on_shutdown.append(_end_streams)
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}  # Chinese stays readable
    app.router.add_routes(api_routes)
    app.router.add_routes(page_routes)
    app.router.add_static("/static/", HERE / "static")
    return app
