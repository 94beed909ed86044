"""How long a facility may be given to put something right: the one place for the due-date policy of
rectification orders (issue #40 item 2). Issuing, sending back, extending and a 复查's date all ask here.

- An ordinary finding: a due date after `now` and at most ORDINARY (30 days) after it — what 托育机构管理规范
  and the local inspection practice give for most rectifications; a month, not a year.
- A life-safety finding (生命安全: fire, gas, blocked exits, a child handed to the wrong adult …): at once, at
  most LIFE_SAFETY (1 day). An order is life-safety when its issuer marks it so, and always when it comes
  from a critical alert (contract/rules.py severities); the facility never sets it.
- A 复查 (re-inspection) is planned within RECHECK_WITHIN (30 days) of the acceptance that asks for it, so
  an order cannot wait open for a re-inspection nobody means to make.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from contract.errors import DomainError

ORDINARY = timedelta(days=30)
LIFE_SAFETY = timedelta(days=1)
RECHECK_WITHIN = timedelta(days=30)


class DueDateError(DomainError):
    """A due date outside the policy (missing, not after now, or too far)."""

    kind = "invalid"

    def __init__(self, reason: str, days: int) -> None:
        super().__init__(reason)
        self.days = days


def is_life_safety(marked: bool, alert_severity: str | None) -> bool:
    """Marked so by the issuer, or from a critical alert."""
    return marked or alert_severity == "critical"


def longest(life_safety: bool) -> timedelta:
    return LIFE_SAFETY if life_safety else ORDINARY


def check_due(due: datetime | None, now: datetime, life_safety: bool) -> datetime:
    """`due` if it is after `now` and within the policy's longest time for the finding; DueDateError else."""
    limit = longest(life_safety)
    days = max(1, limit.days)
    if due is None:
        raise DueDateError("a due date is required", days)
    if not now < due <= now + limit:
        what = "a life-safety finding is put right at once: within 1 day" if life_safety else f"within {days} days"
        raise DueDateError(f"the due date must be after now and {what}", days)
    return due


def check_recheck_day(day: date | None, today: date) -> date:
    """A 复查's planned day: from today to RECHECK_WITHIN ahead."""
    if day is None or not today <= day <= today + RECHECK_WITHIN:
        raise DueDateError(f"the 复查 is planned from today to {RECHECK_WITHIN.days} days ahead", RECHECK_WITHIN.days)
    return day
