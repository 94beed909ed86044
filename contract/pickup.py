"""Who may collect a child besides the guardians of the registry (issue #39 item 3): pick-up delegates
(接送委托人), a value the storage, the supervision rules, the alert engine and the web share.

A delegate is a person the facility's operator records for one child with the parents' consent: a
grandparent, a relative, a nanny. The door controller reports the card or face id they present as
`guardian_id` of the `child_out` (CONTRACT §2 access); `person_id` here is that id. A delegate is
`standing` (any number of pick-ups while valid) or `one_off` (one pick-up, then spent).

The rules over it (who records, how far back a validity may start, which pick-up is valid) are
supervision/pickup.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

KINDS = ("one_off", "standing")
RELATIONS = ("parent", "grandparent", "relative", "nanny", "other")
CONSENT_METHODS = ("signed_form", "note")

# A delegate's validity may start at most this far before it is recorded: the time to fill in the form,
# a phone's clock. Whatever it says, a delegate counts only for pick-ups from its recording on
# (Delegate.effective_from): written after a pick-up, it never makes that pick-up authorised.
DELEGATE_START_GRACE = timedelta(minutes=10)
# How long one record may run: a school year for a standing delegate (a grandparent who collects every
# Friday), a week for a one-off (a pick-up announced by the parents for a given day); longer, the
# parents consent again, so an operator cannot keep a delegation alive on an old form.
STANDING_MAX = timedelta(days=366)
ONE_OFF_MAX = timedelta(days=7)
# A consent older than this when the delegate is recorded is not the parents' current will.
CONSENT_MAX_AGE = timedelta(days=90)
NOTE_MIN = 10  # characters of a recorded consent note: who said what, how (a phone call at 14:05 …)


@dataclass(frozen=True, slots=True)
class Delegate:
    """One recorded delegate, as the engine and the pages read it."""

    id: int
    facility_id: str
    child_id: str
    person_id: str  # the id the door reports as guardian_id
    name: str
    relation: str
    kind: str  # one_off | standing
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    revoked_at: datetime | None = None
    first_used_at: datetime | None = None  # one-off: its first valid pick-up, as stored access shows

    @property
    def effective_from(self) -> datetime:
        """When it starts to count: never before it was recorded (an alert already raised stays)."""
        return max(self.valid_from, self.created_at)

    @property
    def effective_until(self) -> datetime:
        """When it stops counting: its end, or its revocation if earlier."""
        return self.valid_until if self.revoked_at is None else min(self.valid_until, self.revoked_at)
