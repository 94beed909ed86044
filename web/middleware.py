"""The web's middlewares, in the order the factory installs them: where a request's time went
(`Server-Timing`), errors mapped to HTTP in one place (JSON under /api, a page in the user's language
otherwise), and authentication (token or session, the rate limit, CSRF origin checks); and the security
headers every answer carries."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web
from aiohttp_session import Session, get_session

from contract.errors import DomainError
from storage.errors import RETRYABLE
from storage.users import User, audit, hash_token, user_by_session, user_by_token
from web.errors import Forbidden, NotFound, Refused
from web.keys import (
    COMPLAINT_BUCKETS,
    POOL,
    PUBLIC_BUCKETS,
    PUBLIC_URL,
    RATE_BUCKETS,
    SESSION_LIMITS,
    STILL_VALID,
    TIMING,
    USER,
    Timing,
    now_of,
)
from web.pages.render import error_page, lang_of
from web.params import client_address
from web.ratelimit import retry_after

logger = logging.getLogger(__name__)


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
    """API errors are JSON with a reason; unknown paths under /api answer JSON 404 too; a page's refusal
    is a page in the user's language with the refusal's status; a value the database refuses is the
    client's error (400); the database out of reach is a 503 that says so (with Retry-After), not a 500."""
    try:
        return await handler(request)
    except Refused as exc:  # the domain's refusals, mapped here and nowhere else
        if isinstance(exc, Forbidden):
            await _audit_forbidden(request, exc)
        if request.path.startswith("/api/"):
            return web.json_response({"error": exc.reason}, status=exc.status)
        return await error_page(request, exc.status, _page_detail(exc, lang_of(request)))
    except DomainError as exc:  # a business rule below the web that no handler translated: never a 500
        status = 409 if exc.kind == "conflict" else 400
        if request.path.startswith("/api/"):
            return web.json_response({"error": str(exc)}, status=status)
        return await error_page(request, status, str(exc) if lang_of(request) == "en" else None)
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


def _page_detail(exc: Refused, lang: str) -> str | None:
    """What a page says below the refusal's title: the catalogue's reason in the page's language, or in
    English the API's own; a 404 says nothing more (outside the scope reads the same as not existing)."""
    if isinstance(exc, NotFound):
        return None
    return exc.text(lang) if exc.key or lang == "en" else None


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
                at=now_of(request),
            )


@web.middleware
async def authenticate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    auth = request.headers.get("Authorization", "")
    user: User | None = None
    with request[TIMING]("auth"):
        limited = _public_limited(request) if is_public(request.path) else None
        limited = limited or await _rate_limited(request, auth)
        if limited is not None:
            return limited
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip()
            async with request.app[POOL].acquire() as conn:
                user = await user_by_token(conn, token)
            if user is None:
                return web.json_response({"error": "invalid or revoked token"}, status=401)
            request[STILL_VALID] = _token_holds(token)
        else:
            session = await get_session(request)
            if "uid" in session:  # an anonymous request takes no connection: a flood of them waits on none
                async with request.app[POOL].acquire() as conn:
                    user = await _session_user(request, conn, session)
                if user is not None:
                    request[STILL_VALID] = _session_holds(request, user.id, float(session.get("at", 0)))
            if user is not None and request.method not in SAFE_METHODS and request.path.startswith("/api/"):
                _same_origin(request)  # a cookie rides along with any site's request: check where it came from
    request[USER] = user
    public = request.path in {"/login", "/healthz", "/metrics"} or request.path.startswith("/static/")
    public = public or is_public(request.path)
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


def is_public(path: str) -> bool:
    """The public page (web/pages/public.py): read, and complaints filed and followed, without a login; and
    the public circulars of the API (web/circulars_api.py), limited per address as the page is."""
    return path == "/public" or path.startswith(("/public/", "/api/v1/public/"))


def _public_limited(request: web.Request) -> web.Response | None:
    """A 429 if this client address has spent its bucket of public pages, or (a POST: filing or looking up a
    complaint) its bucket of those (web/ratelimit.py PUBLIC_LIMIT, COMPLAINT_LIMIT); None: go on. Decided
    before anything else, with no database work: a flood of anonymous requests holds no connection."""
    address = client_address(request)
    checks = [(request.app[PUBLIC_BUCKETS], "public pages")]
    if request.method not in SAFE_METHODS:
        checks.append((request.app[COMPLAINT_BUCKETS], "complaints filed or looked up"))
    for buckets, what in checks:
        if buckets is None:
            continue
        wait = buckets.take("a:" + address)
        if wait > 0:
            reason = (
                f"too many {what} from this address: {buckets.limit.describe()}; retry after {retry_after(wait)} s"
                " (请求过于频繁，请稍后再试)"
            )
            return web.Response(text=reason, status=429, headers={"Retry-After": retry_after(wait)})
    return None


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


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
