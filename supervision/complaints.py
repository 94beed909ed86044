"""Parents' complaints (投诉, issue #40 item 7): the policy in one place, as pure functions of rows, scopes
and `now`. storage.complaints reads and writes them (migration 034); web/complaints.py calls these first.

- Anyone files a complaint about a facility from the public page: what happened (at most WHAT_MAX
  characters), the day it happened (not in the future, at most FILED_WITHIN back), and optionally a contact.
- It reaches the county inspectors of the facility's county, who must answer within ANSWER_PERIOD of its
  filing. received → handling (受理) → answered (the department's answer, which the complainant reads with
  the follow-up code) → closed. An answer is what the department says publicly about the complaint.
- 督办 as for orders: a complaint not answered by its due date is the city's (`level_at`): it shows in the
  city's list and badge, and the city may take its steps. Read at `now`, so a complaint is late the moment
  it is, without a worker having to pass (nothing to notify outside the pages: no robot message yet).
- The contact is for whoever handles the complaint: the county inspectors of its county, and the city
  once it has reached the city. Never the township, never the facility's operator, never the public page.
- The facility's operator takes no step and sees no complaint: the facility is the party complained about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from storage.users import Scope
from supervision.orders import level_of
from supervision.requests import RequestRefused

Row = Mapping[str, Any]

# 15 days to answer: issue #40's example, a policy choice of this project (not checked against a regulation);
# changed here, it changes the deadline, 督办, the pages' texts and the tests.
ANSWER_PERIOD = timedelta(days=15)
WHAT_MIN = 5  # a complaint says what happened: "不好" says nothing an inspector can check
WHAT_MAX = 2000
CONTACT_MAX = 100
ANSWER_MAX = 2000
FILED_WITHIN = timedelta(days=366)  # what happened more than a year ago is for another channel
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1: read aloud and typed from paper
CODE_LENGTH = 16  # 31**16 ≈ 7e23 (79 bits): not guessable at any rate the public limit lets through
STEPS = {"handle": ("received",), "answer": ("received", "handling"), "close": ("answered",)}
OPEN = ("received", "handling")


class ComplaintRefused(RequestRefused):
    """A complaint or a step refused. `kind`: `invalid` (400), `forbidden` (403) or `conflict` (409); `key`
    and `args` name the page text (web/i18n.py) that says why."""


@dataclass(frozen=True, slots=True)
class Filing:
    what: str
    happened_on: date
    contact: str | None


def check_filing(what: str, happened_on: str, contact: str, today: date) -> Filing:
    """A complaint as filed, or ComplaintRefused saying what is wrong with it. `today`: the facility's day."""
    what = what.strip()
    if not WHAT_MIN <= len(what) <= WHAT_MAX:
        raise ComplaintRefused(
            f"say what happened in {WHAT_MIN} to {WHAT_MAX} characters", "err_complaint_what", lo=WHAT_MIN, hi=WHAT_MAX
        )
    try:
        day = date.fromisoformat(happened_on.strip())
    except ValueError:
        raise ComplaintRefused("give the day it happened (YYYY-MM-DD)", "err_complaint_day") from None
    if day > today or today - day > FILED_WITHIN:
        raise ComplaintRefused(
            f"the day it happened is today or within {FILED_WITHIN.days} days before", "err_complaint_day_range"
        )
    contact = contact.strip()
    if len(contact) > CONTACT_MAX:
        raise ComplaintRefused(f"a contact is at most {CONTACT_MAX} characters", "err_complaint_contact", n=CONTACT_MAX)
    for text in (what, contact):
        if "\x00" in text:
            raise ComplaintRefused("text cannot hold a NUL character", "err_complaint_what", lo=WHAT_MIN, hi=WHAT_MAX)
    return Filing(what, day, contact or None)


def due_at(filed_at: datetime) -> datetime:
    return filed_at + ANSWER_PERIOD


def overdue(row: Row, now: datetime) -> bool:
    """Not answered by its due date."""
    return row["status"] in OPEN and now >= row["due_at"]


def level_at(row: Row, now: datetime) -> str:
    """Whose it is at `now`: the county's, or the city's once it is overdue (督办)."""
    return "city" if overdue(row, now) else "county"


def may_see(scope: Scope) -> bool:
    """County and city inspectors and admins (the city's level) see the complaints in their scope;
    township inspectors and operators none."""
    return level_of(scope) in {"county", "city"}


def may_see_contact(scope: Scope, row: Row, now: datetime) -> bool:
    """The contact is for who handles it: the county (in scope: its own county), the city once it is the
    city's. Never anyone else."""
    level = level_of(scope)
    return level == "county" or (level == "city" and level_at(row, now) == "city")


def check_step(scope: Scope, row: Row, step: str, now: datetime) -> None:
    """Whether `scope` (already known to hold the complaint in scope) may take `step` on `row` at `now`."""
    if not may_see(scope):
        raise ComplaintRefused(
            "complaints are handled by the county and the city inspectors", "err_complaint_who", "forbidden"
        )
    if step not in STEPS:
        raise ComplaintRefused("the step is one of handle, answer, close", "err_complaint_step")
    if row["status"] not in STEPS[step]:
        reason = f"the complaint is {row['status']}: it cannot take {step}"
        raise ComplaintRefused(reason, "err_complaint_state", "conflict")


def check_note(text: str) -> str:
    """A note on taking a complaint in hand or closing it: optional, at most ANSWER_MAX characters."""
    text = text.strip()
    if len(text) > ANSWER_MAX or "\x00" in text:
        raise ComplaintRefused(f"a note is at most {ANSWER_MAX} characters", "err_complaint_answer", n=ANSWER_MAX)
    return text


def check_answer(text: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= ANSWER_MAX or "\x00" in text:
        raise ComplaintRefused(f"an answer is 1 to {ANSWER_MAX} characters", "err_complaint_answer", n=ANSWER_MAX)
    return text


def waiting_kind(scope: Scope) -> str | None:
    """What the navigation's badge counts for `scope`: the county every open complaint of its county (each is
    its to answer, late or not), the city the overdue ones (督办), nobody else anything."""
    return {"county": "open", "city": "overdue"}.get(level_of(scope) or "")
