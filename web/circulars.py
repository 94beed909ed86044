"""通报 (circulars, issue #40 item 1) for the pages: drafted, edited and issued by a county or city inspector
(or an admin) for their department (supervision/circulars.py), read by whoever it concerns
(storage/circulars.py), printed (web/pages/documents.py) and, when public, listed on the public pages.
Scope first (404), then who (403), then the input (400) and the circular's state (409); each step is audited
(`circular.draft|edit|issue`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from storage import circulars as store
from storage import queries
from storage.errors import RETRYABLE
from storage.users import User, audit
from supervision import circulars as rules
from supervision import notices
from supervision.circulars import CircularRefused
from web.errors import Invalid, NotFound, from_rule
from web.i18n import COUNTIES, TEXT, county_name, label, township_name

ZONE = ZoneInfo("Asia/Shanghai")


@contextlib.contextmanager
def _as_web() -> Iterator[None]:
    """A rule's refusal (supervision.circulars) as the web's: 400, 403 or 409 with its reason."""
    try:
        yield
    except CircularRefused as err:
        raise from_rule(err) from None


def writer_department(user: User) -> str:
    """The department `user` drafts circulars for (403 for a township inspector or an operator)."""
    department = rules.department_of(user.scope)
    if department is None:
        raise from_rule(
            CircularRefused("only a county or city inspector drafts a circular", "err_circular_who", "forbidden")
        )
    return department


def area_name(area: str, lang: str) -> str:
    """A lower department as it is named: 忻府区, or 忻府区 秀容街道."""
    if len(area) == 6:
        return county_name(area, lang)
    return f"{county_name(area[:6], lang)} {township_name(area, lang)}"


def _str(form: dict[str, Any], name: str) -> str:
    v = form.get(name, "")
    if not isinstance(v, str) or "\x00" in v:
        raise Invalid(f"{name} must be text", "err_circular_text")
    return v.replace("\r\n", "\n")


def fields(form: dict[str, Any]) -> tuple[str, str, str, bool]:
    """kind, title, body and whether it is public, as given (their limits are the rules')."""
    return _str(form, "kind"), _str(form, "title").strip(), _str(form, "body").strip(), form.get("public") == "1"


async def subjects(
    conn: asyncpg.Connection,
    user: User,
    department: str,
    pairs: list[tuple[str, str]],
    lang: str,
    now: datetime,
) -> list[store.Subject]:
    """The subjects of a form (each `facility:<id>` or `area:<code>` with its statement; blank rows
    skipped), each checked within the user's scope and the department's lower departments. A subject
    added without a statement gets one drafted from the facts (`statement`), for the drafter to edit."""
    out = []
    for raw, statement in pairs:
        if not raw.strip():
            continue
        with _as_web():
            kind, ident = rules.parse_subject(raw)
            if kind == "area":
                rules.check_area(department, ident, COUNTIES)
        if kind == "facility" and await queries.facility_row(conn, user.scope, ident) is None:
            raise Invalid(f"no such facility in scope: {ident}", "err_circular_facility", id=ident[:64])
        said = statement.strip() or await facts(conn, kind, ident, lang, now)
        out.append(store.Subject(ident if kind == "facility" else None, ident if kind == "area" else None, said))
    return out


async def draft(
    pool: asyncpg.Pool, user: User, form: dict[str, Any], pairs: list[tuple[str, str]], lang: str, *, now: datetime
) -> int:
    department = writer_department(user)
    kind, title, body, public = fields(form)
    async with pool.acquire() as conn:
        subs = await subjects(conn, user, department, pairs, lang, now)
        with _as_web():
            rules.check_fields(kind, title, body, subs)
        cid = await store.create(conn, department, kind, title, body, public, subs, user.username, now)
        await audit(conn, user.username, "circular.draft", f"circular {cid}", {"subjects": len(subs)}, at=now)
    return cid


async def visible(conn: asyncpg.Connection, user: User, cid: int) -> dict[str, Any]:
    c = await store.detail(conn, user.scope, cid)
    if c is None:
        raise NotFound("no such circular")
    return c


async def edit(
    pool: asyncpg.Pool,
    user: User,
    cid: int,
    form: dict[str, Any],
    pairs: list[tuple[str, str]],
    lang: str,
    *,
    now: datetime,
) -> None:
    kind, title, body, public = fields(form)
    async with pool.acquire() as conn:
        c = await visible(conn, user, cid)
        with _as_web():
            rules.check_draft(c, user.scope)  # refused before the input is judged: 403, 409
        subs = await subjects(conn, user, c["department"], pairs, lang, now)
        with _as_web():
            rules.check_fields(kind, title, body, subs)
        async with conn.transaction():
            with _as_web():
                rules.check_draft(await store.locked(conn, cid), user.scope)
            await store.update(conn, cid, kind, title, body, public, subs, user.username, now)
        await audit(conn, user.username, "circular.edit", f"circular {cid}", {"subjects": len(subs)}, at=now)


async def issue(pool: asyncpg.Pool, user: User, cid: int, *, now: datetime, public_url: str) -> str:
    """Issue the draft; the facilities and departments it names are told (supervision.notices; a failure to
    queue the messages never undoes the issue). `public_url`: the links' site."""
    from web.pages.documents import issuer_name  # the documents' name of a department; pages import this module

    async with pool.acquire() as conn:
        await visible(conn, user, cid)
        with _as_web():
            number = await rules.issue(conn, user.scope, cid, user.username, now)
        await audit(conn, user.username, "circular.issue", f"circular {cid}", {"number": number}, at=now)
        with contextlib.suppress(*RETRYABLE):
            await notices.tell_circular(conn, await visible(conn, user, cid), issuer_name, public_url, now)
    return number


async def facts(conn: asyncpg.Connection, kind: str, ident: str, lang: str, now: datetime) -> str:
    """What a subject's statement is drafted from, for the drafter to edit: a facility's late orders (since
    when, whose delay), or an area's facilities and late orders (the facilities' and the reviewers')."""
    t = TEXT[lang]
    rows = await store.open_orders(conn, ident if kind == "facility" else None, ident if kind == "area" else None)
    late = rules.late_orders(rows, now)
    today = now.astimezone(ZONE).date().isoformat()
    if kind == "facility":
        unanswered = [(r, since) for r, since, whose in late if whose == "answer"]
        items = t["circular_list_sep"].join(
            t["circular_fact_item"].format(title=r["title"], since=since.astimezone(ZONE).date().isoformat())
            for r, since in unanswered
        )
        said = (
            t["circular_fact_facility"].format(date=today, n=len(unanswered), items=items)
            if unanswered
            else t["circular_fact_none"].format(date=today)
        )
        hours = rules.lapse_hours(await store.lapses(conn, ident, now - rules.LAPSE_WINDOW, now))
        if hours:
            by_rule = t["circular_list_sep"].join(f"{label('rule', r, lang)} {h:g}" for r, h in hours.items())
            said += t["circular_fact_lapses"].format(
                days=rules.LAPSE_WINDOW.days, hours=f"{sum(hours.values()):g}", rules=by_rule
            )
        # what happened there too, not only what is late: a facility with today's fire alarm and no late order
        # was drafted as "no overdue order" alone, a favourable sentence in a 通报批评
        opened = await store.alerts_opened(conn, ident, now - rules.LAPSE_WINDOW, now)
        if opened:
            by_rule = t["circular_list_sep"].join(f"{label('rule', r, lang)} {n}" for r, n in opened.items())
            n = sum(opened.values())
            said += t["circular_fact_alerts"].format(days=rules.LAPSE_WINDOW.days, n=n, rules=by_rule)
        return said
    n_answer = sum(1 for _, _, whose in late if whose == "answer")
    n_review = len(late) - n_answer
    facilities = await store.facility_count(conn, ident)
    return t["circular_fact_area"].format(date=today, facilities=facilities, answer=n_answer, review=n_review)
