"""The state records the engine keeps, below the rule families (issue #36 item 4): a device's life and
clock (`DeviceRt`, one per device of a facility), the register of people the engine is given (`Register`),
and where each person of the register is badged in over the engine's facilities (`Workforce`). No I/O,
no rules: alerts.facility keeps them per facility, the rule families read them through alerts.view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contract.people import Person
from contract.registry import DeviceType
from contract.rules import CLOCK_SKEW_S, OFFLINE_WINDOW_S, SKEW_SPAN_S, SKEW_STEADY_N, SKEW_TOL_S


@dataclass(slots=True)
class DeviceRt:
    type: DeviceType
    heartbeat_s: int
    child_area: bool
    last_seen: datetime
    online: bool = True
    battery: float | None = None
    readings: dict[str, float] = field(default_factory=dict)
    # late messages in a row, each about as late as the first of them: its lateness (s), its arrival,
    # how many (contract.rules SKEW_*: then the device's clock is wrong, the messages are not late)
    late_by: float | None = None
    late_since: datetime | None = None
    late_run: int = 0
    skew_s: float = 0.0  # the clock's error so learnt (s its messages arrive after their ts); 0 once on time
    # when it said it was offline (a Last Will, an offline status) and came back, within the last
    # OFFLINE_WINDOW_S: the reconnect grace is spent over all of them (flapping is no way to stay dark)
    said_offline: list[tuple[datetime, datetime]] = field(default_factory=list)
    offline_since: datetime | None = None  # said offline since then (the current episode), None: not so
    # a camera that counts the adults in its view (the registry's counts_adults): its samples, (time, count),
    # in time order, the last COUNT_KEEP of them by time (alerts.counting)
    counts: bool = False
    adults: list[tuple[datetime, float]] = field(default_factory=list)

    def say_online(self, online: bool, at: datetime) -> None:
        """The device said it is (or, by sending, showed it is) online or offline at arrival `at`."""
        if not online and self.online:
            self.offline_since = at
        elif online and not self.online and self.offline_since is not None:
            self.said_offline.append((self.offline_since, max(at, self.offline_since)))
            self.offline_since = None
        self.online = online

    def back_within(self, now: datetime, seconds: float) -> bool:
        """It said it was offline and came back less than `seconds` ago."""
        return bool(self.said_offline) and (now - self.said_offline[-1][1]).total_seconds() < seconds

    def offline_before_s(self, now: datetime) -> float:
        """Seconds it said it was offline, in earlier episodes, within the last OFFLINE_WINDOW_S."""
        if not self.said_offline:  # most devices, most of the time: asked of each device at every sweep
            return 0.0
        start = now - timedelta(seconds=OFFLINE_WINDOW_S)
        self.said_offline = [(a, b) for a, b in self.said_offline if b > start]
        return sum((b - max(a, start)).total_seconds() for a, b in self.said_offline)

    def learnt(self, skew_s: float, since: datetime) -> None:
        """A clock learnt before (an engine's restart): its run of late messages, SKEW_STEADY_N long."""
        self.skew_s = self.late_by = skew_s
        self.late_since, self.late_run = since, SKEW_STEADY_N

    def heard_late(self, late_by: float, received: datetime) -> None:
        """Its last status before this engine started arrived at `received`, `late_by` s after its own
        time (ingest's device_state): a run of one late message, which the next ones may continue."""
        if self.late_run == 0 and late_by > CLOCK_SKEW_S:
            self.late_by, self.late_since, self.late_run = late_by, received, 1

    def lateness(
        self, at: datetime, received: datetime, earliest: datetime | None = None, tol_s: float = SKEW_TOL_S
    ) -> float:
        """How late a message is, beyond a steady error of the device's clock (then 0).

        Read from a backlog, a message reached the broker by `received` and, if it was queued after the last
        probe the engine counted, after `earliest` (CONTRACT §4, the engine's own clock): its lateness is a
        range. It continues a run of late messages when the run's lateness lies in that range (within `tol_s`:
        SKEW_TOL_S, wider on a fast clock), and is late (at the range's low end) otherwise; the run's span is
        told to its reading (its probes stand still while a backlog is read). A range neither starts a run nor
        breaks one: it is no measure of a clock's error (a spool replayed into the backlog, its messages late by
        different amounts, would fit a wide one), and a message queued before the engine started arrived before
        `earliest`. Keeping up, the range is a point and this is the rule as it always was."""
        hi = (received - at).total_seconds()
        lo = hi if earliest is None else min(hi, (earliest - at).total_seconds())
        if hi <= CLOCK_SKEW_S:  # on time whenever it reached the broker
            self.late_by, self.late_since, self.late_run, self.skew_s = None, None, 0, 0.0
            return lo
        if self.late_by is not None and lo - tol_s <= self.late_by <= hi + tol_s:
            self.late_run += 1
        elif lo <= CLOCK_SKEW_S:  # it may have been on time, and no run of late ones says otherwise
            self.late_by, self.late_since, self.late_run, self.skew_s = None, None, 0, 0.0
            return lo
        elif earliest is None:
            self.late_by, self.late_since, self.late_run = hi, received, 1
        else:  # late, and a range that misses the run: no measure of the clock, the run stands
            return lo
        if (
            self.late_by is not None
            and self.late_since is not None
            and self.late_run >= SKEW_STEADY_N
            and (received - self.late_since).total_seconds() >= SKEW_SPAN_S
        ):
            self.skew_s = self.late_by
            return 0.0  # as late as ever, message after message, for a while: the clock, not the delivery
        return lo


@dataclass(frozen=True, slots=True)
class Register:
    """The register of people as the engine is given it (storage.people.fetch_register)."""

    people: Mapping[str, Person] = field(default_factory=dict)

    def get(self, key: str | None) -> Person | None:
        return self.people.get(key) if key is not None else None


@dataclass(frozen=True, slots=True)
class Presence:
    """One person badged in at one facility, since `since` (event time)."""

    facility_id: str
    facility_name: str
    staff_id: str
    since: datetime


class Workforce:
    """Where each person of the register is badged in now, over the engine's facilities."""

    def __init__(self) -> None:
        self.at: dict[str, dict[str, Presence]] = {}

    def arrive(self, key: str, p: Presence) -> None:
        self.at.setdefault(key, {})[p.facility_id] = p

    def leave(self, key: str, facility_id: str) -> None:
        places = self.at.get(key)
        if places is not None:
            places.pop(facility_id, None)
            if not places:
                del self.at[key]

    def places(self, key: str) -> list[Presence]:
        return list(self.at.get(key, {}).values())
