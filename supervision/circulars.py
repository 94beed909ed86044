"""通报 (circulars, issue #40 item 1): who drafts and issues them, what they may name, and what a public one
may not say. Storage keeps the rows (storage/circulars.py); migration 039's triggers hold the same rules
in the database.

- A county or city inspector (or an admin, the city's level) drafts a circular for their department: a
  title, its kind (表扬 commend, 批评 criticise, 情况 report), the text, and its subjects: facilities in the
  department's scope and lower departments (the city: its counties and townships; a county: its
  townships), each with what is said of it. Operators and township inspectors never write one.
- Any writer of the department edits a draft and issues it; issued, it is numbered (忻卫托通〔2026〕3号,
  supervision/documents.py) and never changes again.
- A public circular (公开通报) is listed on the public pages. It must name no person: issuing it is
  refused while its text holds an identity number, a mobile number or the name of a person the registers
  know (people, pick-up delegates, users); the public page shows the department, never who wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contract.places import townships_of
from storage import circulars as store
from storage import documents
from storage.users import Scope
from supervision import documents as document_rules
from supervision import orders as order_rules
from supervision.requests import RequestRefused

KINDS = ("commend", "criticise", "report")
TITLE_MIN, TITLE_MAX = 2, 200
BODY_MAX = 8000
STATEMENT_MAX = 1000
SUBJECTS_MAX = 30
_ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


class CircularRefused(RequestRefused):
    """A circular, or a step on it, refused: `kind` invalid (400), forbidden (403) or conflict (409)."""


def department_of(scope: Scope) -> str | None:
    """The department a user writes circulars for: a county inspector's county, the city for a city
    inspector or an admin; None for a township inspector or an operator."""
    level = order_rules.level_of(scope)
    if level == "county":
        return scope.county
    if level == "city":
        return "city"
    return None


def may_write(scope: Scope, department: str | None = None) -> bool:
    """Whether `scope` drafts circulars (for `department`, when given: edits and issues its drafts)."""
    own = department_of(scope)
    return own is not None and (department is None or department == own)


def parse_subject(raw: str) -> tuple[str, str]:
    """`facility:<id>` or `area:<code>` (the links from the assessment and the 督办 list) as (kind, id)."""
    kind, _, ident = raw.strip().partition(":")
    if kind not in {"facility", "area"} or not ident or len(ident) > 64:
        raise CircularRefused(f"not a subject: {raw[:80]!r} (facility:<id> or area:<code>)", "err_circular_subject")
    return kind, ident


def lower_departments(department: str, counties: Iterable[str]) -> list[str]:
    """The departments below `department` a circular may name: the city its counties and their townships,
    a county its townships."""
    if department == "city":
        return [a for c in counties for a in (c, *townships_of(c))]
    return townships_of(department)


def check_area(department: str, area: str, counties: Iterable[str]) -> None:
    if area not in lower_departments(department, counties):
        raise CircularRefused(
            f"{area} is not a department below the issuer's", "err_circular_area", "forbidden", area=area[:20]
        )


def check_fields(kind: str, title: str, body: str, subjects: Sequence[store.Subject]) -> None:
    if kind not in KINDS:
        raise CircularRefused("kind: commend, criticise or report", "err_circular_kind")
    if not TITLE_MIN <= len(title.strip()) <= TITLE_MAX:
        raise CircularRefused(f"a title of {TITLE_MIN} to {TITLE_MAX} characters", "err_circular_title", max=TITLE_MAX)
    if len(body) > BODY_MAX:
        raise CircularRefused(f"the text is at most {BODY_MAX} characters", "err_circular_body", max=BODY_MAX)
    if len(subjects) > SUBJECTS_MAX:
        raise CircularRefused(f"at most {SUBJECTS_MAX} subjects", "err_circular_subjects_many", max=SUBJECTS_MAX)
    if any(len(s.statement) > STATEMENT_MAX for s in subjects):
        raise CircularRefused(
            f"what is said of a subject is at most {STATEMENT_MAX} characters",
            "err_circular_statement",
            max=STATEMENT_MAX,
        )
    keys = [(s.facility_id, s.area) for s in subjects]
    if len(set(keys)) != len(keys):
        raise CircularRefused("a subject is named once", "err_circular_subject_twice")


def personal_data(texts: Iterable[str], known_names: Callable[[str], Sequence[str]] | Sequence[str]) -> list[str]:
    """What in `texts` is personal data a public circular must not carry: identity numbers, mobile numbers
    and the names of people the registers know (`known_names`: those found in the text)."""
    text = "\n".join(texts)
    found = [m.group(0) for m in _ID_NUMBER.finditer(text)] + [m.group(0) for m in _MOBILE.finditer(text)]
    names = known_names(text) if callable(known_names) else [n for n in known_names if n and n in text]
    return sorted(set(found) | set(names))


def texts_of(c: dict[str, object]) -> list[str]:
    """Everything a circular says, as the public page would show it."""
    subjects = c.get("subjects") or []
    assert isinstance(subjects, list)  # noqa: S101 - storage.circulars.detail's
    return [str(c["title"]), str(c["body"]), *(str(s["statement"]) for s in subjects)]


def check_draft(c: Mapping[str, Any] | None, scope: Scope) -> Mapping[str, Any]:
    """The locked row of a draft `scope` may write (the caller has checked it reads it)."""
    if c is None:
        raise CircularRefused("no such circular", "err_circular_missing", "conflict")
    if not may_write(scope, c["department"]):
        raise CircularRefused(
            "only a county or city inspector of the department writes its circulars", "err_circular_who", "forbidden"
        )
    if c["status"] != "draft":
        raise CircularRefused("the circular is issued: it never changes", "err_circular_issued", "conflict")
    return c


async def issue(conn: asyncpg.Connection, scope: Scope, cid: int, actor: str, now: datetime) -> str:
    """Issue a draft: numbered in the department's sequence of the year, in the transaction that issues it;
    a public one only when it names no person (personal_data). Returns its number as it reads."""
    async with conn.transaction():
        c = check_draft(await store.locked(conn, cid), scope)
        d = await store.detail(conn, scope, cid)
        assert d is not None  # noqa: S101 - locked above, and the caller read it
        if not d["subjects"]:
            raise CircularRefused("name the circular's subjects first", "err_circular_no_subjects", "conflict")
        if c["public"]:
            text = "\n".join(texts_of(d))
            found = personal_data([text], await store.personal_names(conn, text))
            if found:
                raise CircularRefused(
                    "a public circular names no person: " + ", ".join(found),
                    "err_circular_personal",
                    "invalid",
                    found="、".join(found),
                )
        await store.mark_issued(conn, cid, actor, now)
        year = document_rules.year_of(now)
        n = await documents.allocate(conn, c["department"], "circular", year, now, of=cid)
    return document_rules.number_text(n.department, n.kind, n.year, n.seq)


LAPSE_WINDOW = timedelta(days=30)  # the lapses a facility's statement counts: the last 30 days


def lapse_hours(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Hours of monitoring lapse per rule (storage.circulars.lapses, already cut to the window), rounded to a
    tenth, the longest first; none under six minutes."""
    hours: dict[str, float] = {}
    for r in rows:
        hours[r["rule"]] = hours.get(r["rule"], 0.0) + (r["ended_at"] - r["started_at"]).total_seconds() / 3600
    return {k: round(v, 1) for k, v in sorted(hours.items(), key=lambda kv: -kv[1]) if round(v, 1) > 0}


def late_orders(rows: Sequence[asyncpg.Record], now: datetime) -> list[tuple[asyncpg.Record, datetime, str]]:
    """Of open orders (storage.circulars.open_orders), those late at `now`, with since when and whose delay
    (answer: the facility's; review: the issuing level's), as 督办 judges them (supervision.orders)."""
    out = []
    for r in rows:
        since = order_rules.late_since(r["status"], r["due_at"], r["answered_at"])
        if since is not None and since <= now:
            out.append((r, since, "review" if r["status"] == "answered" else "answer"))
    return out
