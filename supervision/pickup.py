"""Who may collect a child (issue #39 item 3), as pure functions of rows and `now`: who records and
revokes a pick-up delegate, what a record must carry, and whether a pick-up at a given moment was by
someone allowed. storage.pickup keeps the rows; the web calls these before it writes; the alert engine
(alerts/people.py) calls `judge_pickup` for every `child_out`.

The facility is supervised, so it cannot make its own past look better:

- only the facility's operator records or revokes a delegate (an inspector sees them, read-only): the
  facility answers for who leaves with its children;
- every record carries the parents' consent: one of the child's registered guardians, how (a signed
  form uploaded as evidence, or a note of at least NOTE_MIN characters saying how it was given) and when
  (not in the future, not older than CONSENT_MAX_AGE); the delegate is never a guardian already, never
  the consenting guardian, never one of the facility's own staff (the facility would be authorising
  itself);
- a validity starts at most DELEGATE_START_GRACE before the record, and a delegate counts only from its
  recording (contract.pickup.Delegate.effective_from): a delegate written after a pick-up neither
  clears the alert it raised nor stops a replay of that pick-up from raising it;
- a revocation ends a delegate at once and for good; a revoked or expired one is kept, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contract.pickup import (
    CONSENT_MAX_AGE,
    CONSENT_METHODS,
    DELEGATE_START_GRACE,
    KINDS,
    NOTE_MIN,
    ONE_OFF_MAX,
    RELATIONS,
    STANDING_MAX,
    Delegate,
)
from storage.users import Scope
from supervision.requests import RequestRefused

Row = Mapping[str, Any]


class PickupRefused(RequestRefused):
    """A delegate's record or revocation refused. `kind`: `invalid` (400), `forbidden` (403) or `conflict`
    (409); `key` and `args` name the page text (web/i18n.py) that says why."""


@dataclass(frozen=True, slots=True)
class NewDelegate:
    """What the operator records (the web parses it; `check_new` judges it)."""

    child_id: str
    person_id: str
    name: str
    relation: str
    kind: str
    valid_from: datetime
    valid_until: datetime
    consent_by: str  # the registered guardian who consented
    consent_method: str  # signed_form | note
    consent_at: datetime
    consent_note: str = ""
    consent_file: bool = False  # a signed form was uploaded (and passed the evidence checks)


def may_record(scope: Scope, facility_id: str) -> bool:
    """Only the facility's own operator records or revokes its delegates."""
    return scope.role == "operator" and scope.facility == facility_id


def _forbid(scope: Scope, facility_id: str) -> None:
    if not may_record(scope, facility_id):
        raise PickupRefused(
            "only the facility's operator records or revokes a pick-up delegate", "err_delegate_who", "forbidden"
        )


def check_new(
    scope: Scope, facility_id: str, d: NewDelegate, guardians: Iterable[str] | None, staff: Iterable[str], now: datetime
) -> None:
    """Whether this user may record `d` at `now`, given the child's registered guardians (None: no such
    child in the facility's registry) and the facility's staff ids. Raises PickupRefused with the reason."""
    _forbid(scope, facility_id)
    if guardians is None:
        raise PickupRefused(f"child {d.child_id} is not in the facility's registry", "err_delegate_child")
    guardians = set(guardians)
    if d.kind not in KINDS:
        raise PickupRefused("kind must be one_off or standing", "err_delegate_kind")
    if d.relation not in RELATIONS:
        raise PickupRefused(f"relation must be one of {', '.join(RELATIONS)}", "err_delegate_relation")
    if d.person_id in guardians:
        raise PickupRefused(f"{d.person_id} is a registered guardian already", "err_delegate_guardian")
    if d.person_id in set(staff) or d.person_id == d.child_id:
        raise PickupRefused(
            "a member of the facility's staff cannot be a delegate: the facility would authorise itself",
            "err_delegate_staff",
        )
    if d.valid_until <= d.valid_from:
        raise PickupRefused("valid_until must be after valid_from", "err_delegate_order")
    if d.valid_from < now - DELEGATE_START_GRACE:
        raise PickupRefused(
            "a delegate's validity cannot start in the past: it would cover pick-ups already judged",
            "err_delegate_past",
            minutes=int(DELEGATE_START_GRACE.total_seconds() // 60),
        )
    longest = ONE_OFF_MAX if d.kind == "one_off" else STANDING_MAX
    if d.valid_until - d.valid_from > longest:
        raise PickupRefused(
            f"a {d.kind} delegate is valid for at most {longest.days} days", "err_delegate_long", days=longest.days
        )
    check_consent(d, guardians, now)


def check_consent(d: NewDelegate, guardians: set[str], now: datetime) -> None:
    """The parents' consent, recorded: a registered guardian of the child other than the delegate, a signed
    form or a note saying how it was given, at a time neither in the future nor stale."""
    if d.consent_by not in guardians:
        raise PickupRefused("consent must come from one of the child's registered guardians", "err_consent_by")
    if d.consent_method not in CONSENT_METHODS:
        raise PickupRefused("consent_method must be signed_form or note", "err_consent_method")
    if d.consent_method == "signed_form" and not d.consent_file:
        raise PickupRefused("a signed consent form must be uploaded", "err_consent_file")
    if d.consent_method == "note" and len(d.consent_note.strip()) < NOTE_MIN:
        raise PickupRefused(
            f"a consent note says who gave it and how, in at least {NOTE_MIN} characters",
            "err_consent_note",
            n=NOTE_MIN,
        )
    if d.consent_at > now + DELEGATE_START_GRACE:
        raise PickupRefused("consent cannot be given in the future", "err_consent_future")
    if d.consent_at < now - CONSENT_MAX_AGE:
        raise PickupRefused(
            f"consent older than {CONSENT_MAX_AGE.days} days is not the parents' current will",
            "err_consent_old",
            days=CONSENT_MAX_AGE.days,
        )


def check_revoke(scope: Scope, facility_id: str, row: Row) -> None:
    """Whether this user may revoke `row`: the facility's operator, once."""
    _forbid(scope, facility_id)
    if row["revoked_at"] is not None:
        raise PickupRefused("the delegate is revoked already", "err_delegate_revoked", "conflict")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A pick-up judged: allowed or not, why (a code: guardian, delegate, none, unknown, expired,
    not_yet, revoked, used, unknown_child), and the delegate it was judged by, if any."""

    allowed: bool
    why: str
    delegate: Delegate | None = None


def judge_pickup(
    guardians: Iterable[str] | None,
    delegates: Iterable[Delegate],
    guardian_id: str | None,
    at: datetime,
    used: Mapping[int, datetime] | None = None,
) -> Verdict:
    """Whether a child leaving at `at` with `guardian_id` left with someone allowed: a registered guardian
    (None `guardians`: the child is not in the registry, so nobody is), or one of the child's delegates
    valid at `at` (from its recording, until its end or revocation) that is standing or a one-off not used
    before `at` (`used`: each one-off's first valid pick-up known so far, besides the stored one). Of
    several delegates with the id, a valid one wins; otherwise the reason of the latest recorded."""
    if guardians is None:
        return Verdict(False, "unknown_child")
    if guardian_id is None:
        return Verdict(False, "none")
    if guardian_id in set(guardians):
        return Verdict(True, "guardian")
    mine = sorted((d for d in delegates if d.person_id == guardian_id), key=lambda d: d.created_at)
    if not mine:
        return Verdict(False, "unknown")
    why = "unknown"
    for d in mine:
        if d.revoked_at is not None and d.revoked_at <= at:
            why = "revoked"
        elif at < d.effective_from:
            why = "not_yet"
        elif at >= d.valid_until:
            why = "expired"
        elif d.kind == "one_off" and _used_before(d, at, used):
            why = "used"
        else:
            return Verdict(True, "delegate", d)
    return Verdict(False, why, mine[-1])


def _used_before(d: Delegate, at: datetime, used: Mapping[int, datetime] | None) -> bool:
    first = [t for t in (d.first_used_at, (used or {}).get(d.id)) if t is not None]
    return bool(first) and min(first) < at
