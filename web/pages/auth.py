"""Signing in and out (the login throttle is web/throttle.py; sessions are checked in web/middleware.py)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from aiohttp import web
from aiohttp_session import get_session, new_session

from storage import logins
from storage.users import audit, end_sessions, password_record, verify_password
from web.i18n import TEXT
from web.keys import HASH_SLOTS, LOGIN_LIMITS, POOL, USER, now_of
from web.pages.render import check_csrf, lang_of, render
from web.params import client_address

routes = web.RouteTableDef()


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return await render(request, "login.html", {"error": None})


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    """The password is checked only once the attempt is reserved (web/throttle.py): refused tries cost no
    hash; a hash runs in one of the slots' threads (at the lowest CPU priority) with no database connection
    held, at most HASH_SLOTS at once."""
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
        user = await verify_password(record, str(form.get("password", "")), slots.executor)
    finally:
        slots.give()
    async with pool.acquire() as conn:
        await logins.finish(conn, attempt, user is not None, now, limits.window, limits.known_for)
        if user is None:
            await audit(conn, username or "-", "login.failed", address, {}, at=now_of(request))
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


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await check_csrf(request, await request.post())
    user = request.get(USER)
    if user is not None:
        async with request.app[POOL].acquire() as conn:
            await end_sessions(conn, user.id)  # a copy of the cookie is worthless from now on
    (await get_session(request)).invalidate()
    raise web.HTTPFound("/login")
