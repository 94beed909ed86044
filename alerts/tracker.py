"""From conditions to decisions: a condition opens an alert once it has held for its rule's `for`
duration, clears when it ends, and a re-triggered active condition bumps its count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contract.rules import Condition, Key


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "open" | "clear" | "bump" (re-triggered while active: count + 1)
    key: Key
    condition: Condition | None
    at: datetime


class Tracker:
    """Turns conditions into decisions after each condition's `for` duration.

    `pending` (key → since) is the timer state; the service persists it so that a window
    half-elapsed before a restart fires on time after it.
    """

    def __init__(self, pending: dict[Key, datetime] | None = None, firing: set[Key] | None = None) -> None:
        self.pending: dict[Key, datetime] = dict(pending or {})
        self.firing: set[Key] = set(firing or ())

    def step(self, conds: dict[Key, Condition], now: datetime, retriggered: list[Key] | None = None) -> list[Decision]:
        out = [Decision("bump", k, conds.get(k), now) for k in dict.fromkeys(retriggered or ()) if k in self.firing]
        for key, cond in conds.items():
            if key in self.firing:
                continue
            since = self.pending.setdefault(key, now)
            if (now - since).total_seconds() >= cond.for_s:
                self.firing.add(key)
                del self.pending[key]
                out.append(Decision("open", key, cond, now))
        for key in [k for k in self.pending if k not in conds]:
            del self.pending[key]  # the condition ended before its window: nothing fires
        for key in [k for k in self.firing if k not in conds]:
            self.firing.discard(key)
            out.append(Decision("clear", key, None, now))
        return out
