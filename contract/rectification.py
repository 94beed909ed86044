"""When a rectification order (整改通知) counts as late in the credit evaluation (issue #37 item 4): a
pure function of the order's history, used by storage/credit.py (the month's facts) and
supervision/assessment.py (orders answered on time), and shown by the README and docs/contract.md.

It lives in the contract, beside the credit method, because the storage package that gathers the facts
sits below supervision/ (the order workflow's rules: who acts, state transitions, the due date a return
sets). Before this, an order answered by its due date counted as on time even when its answer was sent
back, so one line before every due date was never late.

The rule:
- An order counts in the month in which its **original** due date falls, once (a new due date set by a
  return moves the 督办, never the month the order counts in).
- It is **on time** when an answer was accepted, by the time the month is judged, and that answer was
  given no later than the original due date and no later than the due date in force when it was given
  (a reviewer may set an earlier one). A returned answer is never the one that counts: an answer sent
  back, then a good one after the original due date, is late.
- It is **late** when it is not on time and its original due date has passed by the time the month is
  judged (the end of a closed month; `now` in the month in progress). An answer still awaiting review then
  is not an accepted one: the record of the month says what was accepted by its end, and a facility whose
  timely answer was accepted only later appeals (supervision/credit.py).
- An order not yet due and not accepted is neither (the month in progress).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class OrderStep:
    """One row of an order's history: when, what (issued | answered | returned | accepted | escalated),
    and the due date it set (issued: the original; returned: the new one; else None)."""

    at: datetime
    action: str
    due_at: datetime | None = None


def is_late(first_due: datetime, steps: Iterable[OrderStep], as_of: datetime) -> bool:
    """Whether the order counts late in the month judged at `as_of` (see the module's rule). `steps` in
    the order they happened; those after `as_of` are not known yet."""
    in_force = first_due
    answer_in_time = False
    for s in steps:
        if s.at > as_of:
            break
        if s.action == "answered":
            answer_in_time = s.at <= min(first_due, in_force)
        elif s.action == "returned":
            answer_in_time = False
            in_force = s.due_at or in_force
        elif s.action == "accepted":
            return not answer_in_time
    return first_due <= as_of


# -- 整改通知 签收: the facility's acknowledgement of receipt (issue #40 item 3) -------------------------------
# An order is served on the facility; its operator acknowledges receipt on their account (the time is the
# server's, never one they give). One not acknowledged this long after it was issued is flagged to its issuer
# (the order page and the lists say 逾期未签收): nobody assumes silently that it arrived. A day: the notice is
# delivered on the spot or by the platform, and a life-safety order is due within a day anyway.
RECEIPT_WITHIN = timedelta(days=1)


def receipt_overdue(status: str, issued_at: datetime, received_at: datetime | None, now: datetime) -> bool:
    """Whether an open order still unacknowledged by the facility is past the time to acknowledge it."""
    return received_at is None and status != "accepted" and now - issued_at > RECEIPT_WITHIN
