"""From conditions to decisions: a condition opens an alert once it has held for its rule's `for`
duration, clears when it ends, and a re-triggered active condition bumps its count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract.rules import Condition, Key


@dataclass(frozen=True, slots=True)
class Decision:
    # "open" | "clear" | "bump" (re-triggered while active: count + 1) | "lapse" (see below) | "raise" (an
    # active alert's condition is now of a higher severity: alerts.engine)
    action: str
    key: Key
    condition: Condition | None
    at: datetime
    # open, lapse: when the condition began (before its `for` window); clear: when it ended, if that was
    # before `at` (a span known from a replayed spool: alerts.engine AlertEngine._replayed), else None
    since: datetime | None = None


class Tracker:
    """Turns conditions into decisions after each condition's `for` duration.

    `pending` (key → since) is the timer state; the service persists it so that a window
    half-elapsed before a restart fires on time after it.
    """

    def __init__(
        self,
        pending: dict[Key, datetime] | None = None,
        firing: set[Key] | None = None,
        lapse_rules: frozenset[str] = frozenset(),
    ) -> None:
        self.pending: dict[Key, datetime] = dict(pending or {})
        # when each pending timer fires (since + its condition's for_s); a timer reloaded from the
        # database has none until the next step sees its condition
        self.due: dict[Key, datetime] = {}
        self.firing: set[Key] = set(firing or ())
        # the credit evaluation's lapse classes (contract/credit.py): a condition of these rules that ends
        # before its window still happened, and is reported as a "lapse" decision with its span
        self.lapse_rules = lapse_rules

    def step(
        self,
        conds: dict[Key, Condition],
        now: datetime,
        retriggered: list[Key] | None = None,
        hold: frozenset[str] = frozenset(),
        unknown: set[Key] | frozenset[Key] = frozenset(),
    ) -> list[Decision]:
        """`hold`: rules judged only on complete data, while the facility's data is not complete (just
        started, or its uplink replaying a spool): their conditions missing from `conds` are unknown, not
        ended, so their timers are not dropped and their alerts not cleared (before, a restart dropped a
        half-elapsed guard timer and cleared, then re-notified, an active guard alert). `unknown`: single
        conditions whose alerts, if raised, stay as they are (a device behind a silent gateway); their
        timers are dropped as before, to start afresh once the device can be heard."""
        out = [Decision("bump", k, conds.get(k), now) for k in dict.fromkeys(retriggered or ()) if k in self.firing]
        for key, cond in conds.items():
            if key in self.firing:
                continue
            since = self.pending.setdefault(key, now)
            if (now - since).total_seconds() >= cond.for_s:
                self.firing.add(key)
                del self.pending[key]
                self.due.pop(key, None)
                out.append(Decision("open", key, cond, now, since))
            else:
                self.due[key] = since + timedelta(seconds=cond.for_s)
        for key in [k for k in self.pending if k not in conds and k.rule not in hold]:
            since = self.pending.pop(key)  # the condition ended before its window: no alert...
            self.due.pop(key, None)
            if key.rule in self.lapse_rules and now > since:
                out.append(Decision("lapse", key, None, now, since))  # ...but a lapse all the same
        for key in [k for k in self.firing if k not in conds and k.rule not in hold and k not in unknown]:
            self.firing.discard(key)
            out.append(Decision("clear", key, None, now))
        return out

    def next_due(self) -> datetime | None:
        """When the earliest pending timer fires (None: no timer; datetime.min: one not yet timed)."""
        if not self.pending:
            return None
        if len(self.due) < len(self.pending):
            return datetime.min.replace(tzinfo=UTC)
        return min(self.due.values())
