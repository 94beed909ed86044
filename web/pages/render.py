"""What every page handler shares: the signed-in user, the page's language, rendering a template with
the catalogue and the clock, the CSRF check of a form, a refused form shown again with its reason, and
the error page."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import asyncpg
from aiohttp import web
from aiohttp_session import get_session
from markupsafe import Markup

from contract.names import name
from contract.rules import LATCHING, rule_department
from storage import complaints as complaint_store
from storage import filing as filing_store
from storage import inspections as inspection_store
from storage import queries
from storage import rectification as rectification_store
from storage.users import User
from supervision import complaints as complaint_rules
from supervision import orders as order_rules
from web import orders
from web.errors import NotFound, Refused
from web.i18n import (
    DEFAULT_TZ,
    TEXT,
    audit_detail,
    county_name,
    details,
    history_detail,
    label,
    labels_for,
    level_area,
    occurred,
    on_day,
    scope_name,
    township_name,
    when,
)
from web.keys import CLOCK, INTAKE, NAMES, POOL, SIMULATOR_BEHIND, USER, USER_NAMES, now_of
from web.names import name_alerts, subject_of
from web.params import local_path


def awaiting_ack(alert: dict[str, Any]) -> bool:
    """Whether an alert (as storage.queries.alert_json gives it) is cleared and still open: latched (critical,
    major) and not yet acknowledged (docs/contract.md §5), the rows tagged 已恢复待确认 among 未结 ones."""
    return alert["status"] == "cleared" and not alert["acknowledged"] and alert["severity"] in LATCHING


def page_user(request: web.Request) -> User:
    """The signed-in user of a page (the middleware sent everyone else to /login)."""
    user = request.get(USER)
    if user is None:
        raise web.HTTPFound("/login")
    return user


def lang_of(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in TEXT else "zh"


# the platform's own acts (the alert engine, the order ticker's 督办) are the system's, not a login's
SYSTEM_ACTORS = frozenset({"engine", "system"})


def _name_of(names: dict[str, str], lang: str) -> Callable[[str | None], str]:
    """`name_of(login)`: the person's name as plain text (a choice in a list, a sentence), or the login."""

    def name_of(login: str | None) -> str:
        if login in SYSTEM_ACTORS:
            return TEXT[lang]["actor_engine"]
        return names.get(login or "") or (login or "")

    return name_of


def _who(names: dict[str, str], lang: str) -> Callable[[str | None], Markup | str]:
    """`who(login)`: the person's name with the login as its tooltip, or the login when no name is known."""

    def who(login: str | None) -> Markup | str:
        if login in SYSTEM_ACTORS:
            return TEXT[lang]["actor_engine"]
        name = names.get(login or "")
        return Markup('<span title="{}">{}</span>').format(login, name) if name else (login or "")

    return who


_ISO = {
    "date": ("[0-9]{4}-[0-9]{2}-[0-9]{2}", "date_hint", ""),
    "datetime-local": ("[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}", "datetime_hint", " 17:00"),
}


def _date_input(lang: str, today: str) -> Callable[..., Markup]:
    """`date_input(name, value, required=…, kind="date"|"datetime-local")`: the browser's own field on English
    pages; on Chinese ones a text field in ISO order (年-月-日 [时:分]), with an example of today. A browser's
    date field is in the order of the browser's locale, not the page's: Chromium in English (a headless
    one, whatever its --lang) shows mm/dd/yyyy on a Chinese page. The server reads both (fromisoformat)."""

    def date_input(name: str, value: object = "", *, required: bool = False, kind: str = "date") -> Markup:
        shown = "" if value is None else str(value)
        req = Markup(" required") if required else Markup("")
        if lang != "zh":
            return Markup('<input type="{}" name="{}" value="{}"{}>').format(kind, name, shown, req)
        pattern, hint, hour = _ISO[kind]
        example = today + hour
        return Markup(
            '<input type="text" name="{}" value="{}" pattern="{}" placeholder="{}" title="{}" size="16"'
            ' maxlength="16" autocomplete="off" data-iso-date="{}"{}>'
        ).format(name, shown.replace("T", " "), pattern, example, TEXT[lang][hint].format(example), kind, req)

    return date_input


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
    # people by name (web.keys.UserNames): `who` in text with the login as tooltip, `name_of` plain
    names = await request.app[USER_NAMES].get(request.app[POOL]) if request.get(USER) else {}
    base = {
        "t": TEXT[lang],
        "lang": lang,
        "user": request.get(USER),
        "csrf": session["csrf"],
        "county_name": county_name,
        "township_name": lambda code: township_name(code, lang),
        "scope_name": lambda scope: scope_name(scope, lang),
        # an issuer's level by the area's name for an order's facility: 忻府区, not 县（市、区）
        "level_area": lambda level, county, township: level_area(level, county, township, lang),
        "issuer_area": lambda o: level_area(
            o.get("issued_level"), o.get("facility_county"), o.get("facility_township"), lang
        ),
        "path": request.path_qs,
        # the other language, on the same page with the same query (a county's view stays that county's)
        "switch_href": "?" + urlencode({**request.query, "lang": "en" if lang == "zh" else "zh"}),
        # codes and times for people (web/i18n.py): L('rule', a.rule), when(a.opened_at[, tz])
        "L": lambda kind, code: label(kind, code, lang),
        # the department an alert's rule belongs to (contract/rules.py RULE_DEPARTMENTS), by its name: 消防
        "rule_dept": lambda rule: label("department", rule_department(rule), lang),
        "when": lambda value, tz=DEFAULT_TZ, clock=False: when(value, lang, tz, now_of(request), clock=clock),
        # a document's date, never relative (a 备案's, a 通报's 印发日期)
        "on_day": lambda value, tz=DEFAULT_TZ: on_day(value, lang, tz),
        # an alert known late: when it happened and when it was known, "17:15 按下（18:15 收到，网关离线期间）"
        "occurred": lambda alert, tz=DEFAULT_TZ: occurred(alert, lang, tz),
        "details": lambda value: details(value, lang, now_of(request)),
        "audit_detail": lambda value, facilities=None: audit_detail(value, lang, now_of(request), facilities),
        "history_detail": lambda value: history_detail(value, lang),
        "labels": labels_for(lang),
        # an alert cleared but still open, waiting for its acknowledgement (tagged 已恢复待确认 wherever listed)
        "awaiting": awaiting_ack,
        # an accelerated demo's clock (contract.clock): its time and speed in the header
        "demo_clock": _demo_clock(request, lang),
        # the app's clock for a page's script (the readings chart's "now"): its reading and its speed, so that
        # a browser tells the app's time, not its own machine's (an accelerated demo runs days apart from it)
        "clock_now": now_of(request).astimezone(ZoneInfo(DEFAULT_TZ)).isoformat(),  # in the city's zone, as all
        # a date (or date and time) field: ISO order on Chinese pages whatever the browser's locale
        "date_input": _date_input(lang, now_of(request).astimezone(ZoneInfo(DEFAULT_TZ)).date().isoformat()),
        # a login by the person's name where the registry of users has one (the login as its tooltip)
        "who": _who(names, lang),
        "name_of": _name_of(names, lang),
        "clock_speed": f"{request.app[CLOCK].speed:g}",
        # data intake stopped or behind: every page says so, and as of when states are known
        "intake": await request.app[INTAKE].get(request.app[POOL], now_of(request)) if request.get(USER) else None,
        # `carewatch demo` on a machine too busy for its speed: the simulator's lag behind the demo's clock
        "simulator_behind": simulator_behind_min(request.app[SIMULATOR_BEHIND]),
    }
    base["waiting"], base["complaints_waiting"], base["filing_waiting"], base["countersign_waiting"] = await _waiting(
        request
    )
    # alerts' texts by name (contract.names): the references the engine wrote, resolved in both languages;
    # a facility's page names its devices, staff and children from the same registry
    shown: Any = ctx.get("f")  # a facility's Record, or a dict
    also = [str(shown["id"])] if shown is not None and hasattr(shown, "get") and shown.get("id") else []
    things = await name_alerts(request.app[POOL], request.app[NAMES], ctx, also)
    base["named"] = lambda kind, ident, fid: name(kind, str(ident), things.get(fid), lang) if ident else ""
    base["subject_of"] = lambda alert: subject_of(alert, things, lang)
    resp = aiohttp_jinja2.render_template(template, request, {**base, **ctx})
    if "lang" in request.query:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    return resp


BADGE_WAIT_S = 0.5
SIMULATOR_BEHIND_SAY_S = 60  # simulated seconds: less is a moment's jitter, not worth a banner


def simulator_behind_min(path: Path | None) -> int:
    """Whole minutes (of the demo's clock) the demo's simulator says it is behind (0: not behind, not a demo,
    or nothing said yet). A file of a few bytes, written when its state changes (simulators.runner)."""
    if path is None:
        return 0
    try:
        seconds = float(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0
    return max(1, round(seconds / 60)) if seconds >= SIMULATOR_BEHIND_SAY_S else 0


async def _waiting(request: web.Request) -> tuple[int | None, int | None, int | None, int | None]:
    """The navigation's badges: the orders waiting for the signed-in user (storage.rectification.waiting_count),
    the complaints waiting for the user's level (supervision.complaints.waiting_kind) and the filings
    (storage.filing.waiting_count: for a county inspector those awaiting review, for a city inspector those
    past their deadline, for an operator a returned one) and the inspection records 待会签 that name the user as
    their second officer (storage.inspections.awaiting_count), read on one connection.
    Many handlers render while they hold a connection of their own: with every connection of the pool so
    held (300 refused test messages at once), waiting for one more here would wait for ever, so the badges
    wait a moment and are left out rather than hold the page (seen: the suite's flood of test messages
    hung until its five-minute timeout)."""
    user = request.get(USER)
    if user is None:
        return 0, 0, 0, 0
    try:
        async with request.app[POOL].acquire(timeout=BADGE_WAIT_S) as conn:
            level = order_rules.level_of(user.scope)
            orders = await rectification_store.waiting_count(conn, user.scope, level)
            kind = complaint_rules.waiting_kind(user.scope)
            complaints = await complaint_store.waiting_count(conn, user.scope, kind, now_of(request)) if kind else 0
            filings = await filing_store.waiting_count(conn, user.scope, level, now_of(request))
            countersign = (
                await inspection_store.awaiting_count(conn, user.scope, user.username)
                if user.role == "inspector"
                else 0
            )
            return orders, complaints, filings, countersign
    except TimeoutError:
        return None, None, None, None


def local_iso(value: str, tz: str) -> str:
    """A form's local date-time (`datetime-local`, in the facility's zone) as RFC 3339; "" when empty;
    as typed when it is no date, for the action to refuse with its own reason."""
    v = value.strip()
    try:
        return datetime.fromisoformat(v).replace(tzinfo=ZoneInfo(tz)).isoformat() if v else ""
    except ValueError:
        return v


async def check_csrf(request: web.Request, form: Any) -> None:
    session = await get_session(request)
    if not session.get("csrf") or form.get("csrf") != session["csrf"]:
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")


async def form_refused(request: web.Request, template: str, ctx: dict[str, Any], exc: Refused) -> web.Response:
    """A form the shared action refused: the page again, with the reason and its status. Its `path` (where
    its forms send the user back to) stays the page the form came from (the form's `back`), not the address it
    was posted to: sent back there after the corrected form succeeded, the user met "405: Method Not Allowed"."""
    back = local_path(str((await request.post()).get("back") or ""), "")
    resp = await render(
        request, template, ctx | {"error": exc.text(lang_of(request))} | ({"path": back} if back else {})
    )
    resp.set_status(exc.status)
    return resp


async def error_page(request: web.Request, status: int, detail: str | None) -> web.Response:
    """A refusal on a page (web/middleware.py errors): a page of this site with its status as a title in
    the page's language, and the reason when there is one to give in it."""
    lang = lang_of(request)
    title = TEXT[lang].get(f"error_{status}", TEXT[lang]["error_400"])
    resp = await render(request, "error.html", {"title": title, "detail": detail})
    resp.set_status(status)
    return resp


async def facility_form(request: web.Request) -> tuple[User, Any, asyncpg.Record]:
    """A form posted to a facility's path: the user, the checked form (CSRF) and the facility in scope
    (404 otherwise)."""
    user = page_user(request)
    form = await request.post()
    await check_csrf(request, form)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
    if f is None:
        raise NotFound("no such facility")
    return user, form, f


def form_files(form: Any, field: str) -> list[orders.Upload]:
    """The files of a multipart form's field (web/orders.evidence checks them by their bytes)."""
    return [
        orders.Upload(str(getattr(v, "filename", "") or field), v.file.read())
        for v in form.getall(field, [])
        if hasattr(v, "file")
    ]
