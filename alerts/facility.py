"""What the rules know about one facility, and the rule families that read it (CONTRACT §4).

No I/O here. `FacilityRuntime.apply()` folds one accepted message into the state at the message's
own time (event time); `conditions(now)` asks each rule family — alarms, readings, devices, people —
which alert conditions hold. `alerts.tracker.Tracker` turns conditions into open/clear decisions.
The families see a facility through alerts.view (read-only, and what each may change), never this
module; the device and people records they read are in alerts.state.

Event time. What happened is judged by the message's `ts`: a badge-out replayed from a gateway's
spool two hours late still happened before closing. The rules that judge a span of time ("no guard
for ten minutes", "still here after closing", the ratio, patrols, attendance) read the facility's
*clock*: the time up to which its data is complete. A live facility's clock is now - LATE_WAIT_S.
While its uplink is dark (the gateway, or every door controller, silent) the clock stops at the last
contact; after the uplink returns, or while late messages are still arriving, it waits LATE_WAIT_S
of quiet before it moves on. Device liveness is judged by arrival (CLOCK_SKEW_S); alarms and
one-off events count at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts import alarms, counting, devices, people, readings, workforce
from alerts.state import DeviceRt, Register, Workforce
from contract.payloads import Access, Event, Payload, Status, Telemetry
from contract.pickup import Delegate
from contract.registry import Child, ClassInfo, DeviceType, Facility, Staff
from contract.rules import (
    CLOCK_SKEW_S,
    LATE_WAIT_S,
    SKEW_TOL_S,
    Condition,
    Key,
    RuleConfig,
    offline_after_s,
)

# A late scan waits in the backlog (FacilityRuntime.backlog) at most this many to a facility; beyond, it is
# folded in at once, as before. The replay judges the span rules every REPLAY_STEP_S between scans.
BACKLOG_MAX = 20_000
REPLAY_STEP_S = 60.0
# the badges that wait behind a backlog even on time (FacilityRuntime._fold): who staffs the span replayed
STAFF_PRESENCE = frozenset({"staff_in", "staff_out"})


@dataclass(slots=True)
class FacilityRuntime:
    """What the rules know about one facility."""

    facility: Facility
    rules: dict[str, RuleConfig]
    started: datetime
    late_wait_s: float = LATE_WAIT_S  # the watermark's wait (CONTRACT §4); tests shrink it
    skew_tol_s: float = SKEW_TOL_S  # a slow clock's run of late messages (contract.rules.skew_tolerance_s)
    tz: ZoneInfo = field(init=False)
    devices: dict[str, DeviceRt] = field(init=False)
    active_events: set[tuple[str, str]] = field(default_factory=set)  # (device, type)
    event_last: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (device, type) -> latest ts
    # one-off alerts: key -> (active until, condition, reported at least once)
    pulses: dict[Key, tuple[datetime, Condition, bool]] = field(default_factory=dict)
    staff_on_site: dict[str, Staff | None] = field(default_factory=dict)
    children_present: dict[str, str] = field(default_factory=dict)  # child -> class
    # children still badged in at a day's end (child -> that midnight): on site until badged out or their
    # whereabouts recorded by the operator (issue #42 item 3), whatever day it is now
    children_overnight: dict[str, datetime] = field(default_factory=dict)
    raised: list[Key] = field(default_factory=list)  # active alerts whose severity their condition raised
    unknown_children: set[str] = field(default_factory=set)  # badged in, not in the registry (on `day`)
    # a 责令停业整改 in force since then (storage.suspensions.in_force_since; None: not suspended)
    suspended_since: datetime | None = None
    # pick-up delegates per child (storage.pickup; set by AlertEngine.set_delegates, kept across a
    # registry reload) and the first valid pick-up of each one-off this engine has seen
    delegates: dict[str, tuple[Delegate, ...]] = field(default_factory=dict)
    delegate_used: dict[int, datetime] = field(default_factory=dict)
    person_last: dict[str, datetime] = field(default_factory=dict)  # latest access event applied, per person
    day: date | None = None  # the local day the people state is of
    child_scans: int = 0  # child_in/child_out scans on `day`
    patrols: list[tuple[datetime, str]] = field(default_factory=list)  # (time, checkpoint) on `day`
    patrols_judged: date | None = None
    clock: datetime = field(init=False)  # data complete up to here (event time)
    settle_until: datetime | None = None  # the clock waits for late data until then
    windows: dict[Key, Condition] = field(default_factory=dict)  # the window rules' last decision
    was_dark: bool = False
    settled_now: bool = True  # the last evaluation had complete data (conditions)
    last_patrol: datetime | None = None
    denied: dict[str, deque[datetime]] = field(default_factory=dict)
    latched_readings: set[tuple[str, str]] = field(default_factory=set)
    retriggered: list[Key] = field(default_factory=list)  # conditions that happened again while active
    clocks_changed: set[str] = field(default_factory=set)  # devices whose clock was learnt or forgotten
    # device alerts unknown at the last evaluation (behind a silent gateway): neither raised nor cleared
    unknown: set[Key] = field(default_factory=set)
    # Why evidence came late (contract.occurred): the gateway's recent offline spans (its last sign of life
    # before, its return), since when it is offline now, and the engine's own deaf spans (AlertEngine.resume)
    uplink_gaps: deque[tuple[datetime, datetime]] = field(default_factory=lambda: deque(maxlen=16))
    uplink_down: datetime | None = None
    deaf_gaps: deque[tuple[datetime, datetime]] = field(default_factory=lambda: deque(maxlen=16))
    # the message being folded in (apply): when the engine heard it, and why it was late (None: on time)
    heard: datetime | None = None
    heard_cause: str | None = None
    # when each active condition event began by event time, and why it was late: (device, type) -> (at, cause)
    event_began: dict[tuple[str, str], tuple[datetime, str | None]] = field(default_factory=dict)
    # Presence and patrol scans that came late and happened after the clock (a gateway's spool replayed while
    # the clock waits): folded in at their own times as the clock passes them, the span rules judged in
    # between (`_replay`), so that a guard away while the gateway was held offline is a lapse when the spool
    # arrives (issue #42; before, the scans were folded at once and the rules saw only the state after them).
    # (happened, arrival order, device, scan, when heard, why late)
    backlog: list[tuple[datetime, int, str, Access, datetime | None, str | None]] = field(default_factory=list)
    # what the span rules found in a replayed backlog: (key, condition, began, ended or None: still holds)
    replayed: list[tuple[Key, Condition, datetime, datetime | None]] = field(default_factory=list)
    # condition events whose end came late (alerts.alarms._ended_late): (key, condition, began, ended)
    ended_events: list[tuple[Key, Condition, datetime, datetime]] = field(default_factory=list)
    backlog_seq: int = 0
    # the register of people and where its people are badged in, shared by the engine's facilities
    register: Register = field(default_factory=Register)
    workforce: Workforce = field(default_factory=Workforce)
    register_day: date | None = field(default=None, init=False)  # what register_out was judged for
    register_out: dict[Key, Condition] = field(default_factory=dict, init=False)
    staff: dict[str, Staff] = field(init=False)
    children: dict[str, Child] = field(init=False)
    classes: dict[str, ClassInfo] = field(init=False)
    gateway: str | None = field(init=False)
    doors: list[str] = field(init=False)
    patrol_points: set[str] = field(init=False)
    child_rooms: dict[str, list[str]] = field(init=False)  # a child area (camera location) -> its cameras
    missing_equipment: tuple[str, ...] = field(init=False)  # the registry's gaps (Facility is frozen)
    # offline_after_s per (device type, heartbeat) under the rules' current device_offline config: asked
    # of every device at every sweep, it was an eighth of the engine's time (contract.rules.offline_params)
    _offline_cfg: RuleConfig | None = field(default=None, init=False, repr=False)
    _offline_s: dict[tuple[DeviceType, int], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.facility.timezone)
        self.devices = {
            d.id: DeviceRt(d.type, d.heartbeat_s, d.covers_child_area, self.started, counts=d.counts_adults)
            for d in self.facility.devices
        }
        self.child_rooms = {}
        for d in self.facility.devices:
            if d.type is DeviceType.CAMERA and d.covers_child_area:
                self.child_rooms.setdefault(d.location or d.id, []).append(d.id)
        self.staff = {s.id: s for s in self.facility.staff}
        self.children = {c.id: c for c in self.facility.children}
        self.classes = {c.id: c for c in self.facility.classes}
        self.gateway = next((d.id for d in self.facility.devices if d.type is DeviceType.GATEWAY), None)
        self.doors = [d.id for d in self.facility.devices if d.type is DeviceType.ACCESS_CONTROLLER]
        self.patrol_points = {d.id for d in self.facility.devices if d.type is DeviceType.PATROL_POINT}
        self.missing_equipment = tuple(self.facility.missing_equipment())
        if not hasattr(self, "clock"):
            # just started: nothing is known yet; the first minute's data (retained statuses, a
            # simulator's backfill, a gateway's spool) arrives before anything is judged
            self.clock = self.started - timedelta(seconds=self.late_wait_s)
            self.settle(self.started)

    # -- time ------------------------------------------------------------------------------------
    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def is_open(self, t: datetime) -> bool:
        return self.facility.opening_hours.is_open_at(self.local(t))

    def hours_of(self, day: date) -> tuple[datetime, datetime] | None:
        """Opening and closing time on a local day (calendar, holidays and exceptions applied)."""
        h = self.facility.opening_hours.hours_on(day)
        if h is None:
            return None
        return datetime.combine(day, h[0], self.tz), datetime.combine(day, h[1], self.tz)

    # -- the facility's clock (event time) ---------------------------------------------------------
    def silent(self, d: DeviceRt, now: datetime) -> bool:
        """Offline: it said so (a Last Will, a status), or it missed the rule's number of heartbeats."""
        return not d.online or self.missed(d, now)

    def missed(self, d: DeviceRt, now: datetime) -> bool:
        """It has been silent longer than its type allows (contract.rules.offline_after_s)."""
        return (now - d.last_seen).total_seconds() > self.offline_s(d.type, d.heartbeat_s)

    def offline_s(self, device_type: DeviceType, heartbeat_s: int) -> float:
        """contract.rules.offline_after_s, kept per type and heartbeat while the rule's config is the same."""
        cfg = self.rules["device_offline"]
        if cfg is not self._offline_cfg:
            self._offline_cfg, self._offline_s = cfg, {}
        key = (device_type, heartbeat_s)
        s = self._offline_s.get(key)
        if s is None:
            s = self._offline_s[key] = offline_after_s(self.rules, device_type, heartbeat_s)
        return s

    def dark(self, now: datetime) -> bool:
        """Whether the facility's people data may be missing: its gateway or every door controller is silent."""
        gw = self.devices.get(self.gateway) if self.gateway else None
        if gw is not None and self.silent(gw, now):
            return True
        doors = [self.devices[d] for d in self.doors]
        return bool(doors) and all(self.silent(d, now) for d in doors)

    def advance(self, now: datetime) -> bool:
        """Move the clock as far as the data is complete; whether it is complete (settled) now."""
        dark = self.dark(now)
        if self.was_dark and not dark:  # the uplink is back: its spool replays first
            self.settle(now)
        self.was_dark = dark
        settled = not dark and (self.settle_until is None or now >= self.settle_until)
        if settled:
            self.clock = max(self.clock, now - timedelta(seconds=self.late_wait_s))
        return settled

    def settle(self, arrival: datetime) -> None:
        until = arrival + timedelta(seconds=self.late_wait_s)
        self.settle_until = until if self.settle_until is None else max(self.settle_until, until)

    # -- folding messages in -----------------------------------------------------------------------
    def apply(
        self,
        device_id: str,
        payload: Payload,
        at: datetime,
        received: datetime | None = None,
        judged: datetime | None = None,
    ) -> None:
        """Fold in a message that happened at `at` (its own ts), read by the engine at `received` (default
        `at`) while its input is complete up to `judged` (default `received`; `alerts.engine.InputClock`).
        The broker had the message by `received` and, give or take the input clock's slack, not before
        `judged`; within those bounds, when it is read from a backlog, it arrived when its own time says
        (corrected by its clock's learnt error). Lateness and life are told from that arrival: an engine
        behind its input must neither make messages late nor make a device silent. Keeping up, `judged`
        is `received` and so is the arrival."""
        d = self.devices.get(device_id)
        if d is None:
            return
        received = received or at
        judged = judged or received
        earliest = judged if judged < received else None  # read from a backlog (CONTRACT §4, the engine's own clock)
        skew = d.skew_s
        late = d.lateness(at, received, earliest, self.skew_tol_s) > CLOCK_SKEW_S
        if d.skew_s != skew:
            self.clocks_changed.add(device_id)
        arrived = received
        if earliest is not None:
            arrived = min(received, max(earliest, at + timedelta(seconds=d.skew_s)))
        # when it happened: its own time corrected by its clock's learnt error, never after it was read (a
        # door controller set up in UTC wall time stamps every scan 8 hours behind: its 07:00 badge-ins
        # were the day before's, 19 after-hours entries a morning)
        happened = min(received, at + timedelta(seconds=d.skew_s)) if d.skew_s else at
        seen_before = d.last_seen
        d.last_seen = max(d.last_seen, happened if late else arrived)
        if device_id == self.gateway and not late:
            self._uplink(d, payload, seen_before, received)
        if late:
            self.settle(judged)
        if isinstance(payload, Status):
            if late:
                return  # an old status says nothing about the device now
            if device_id == self.gateway and payload.online and not d.online:
                # the uplink is back: give the devices behind it a fresh grace period to report
                for other in self.devices.values():
                    other.last_seen = max(other.last_seen, received)
            d.say_online(payload.online, received)
            if payload.battery_pct is not None:
                d.battery = payload.battery_pct
            if payload.heartbeat_s:
                d.heartbeat_s = payload.heartbeat_s
            return
        if not late:
            d.say_online(True, received)
        if isinstance(payload, Telemetry):
            for ts, readings in payload.iter_samples():
                d.readings.update(readings)
                if d.counts and "adults_count" in readings:
                    counting.sample(d.adults, min(received, ts + timedelta(seconds=d.skew_s)), readings["adults_count"])
            if "battery_pct" in d.readings:
                d.battery = d.readings["battery_pct"]
        elif isinstance(payload, Event | Access):
            cause = self.delay_cause(happened, late, earliest is not None)
            self._fold(device_id, payload, happened, received, late, cause)

    def _fold(
        self,
        device_id: str,
        payload: Event | Access,
        happened: datetime,
        received: datetime,
        late: bool,
        cause: str | None,
    ) -> None:
        """An event or a scan, at `happened`; a late scan after the clock waits in the backlog (`_replay`), and
        so does a staff member's on-time badge while a backlog waits: applied at once, a guard's badge-out at
        18:30 just after a 2-hour spool was read emptied the post before the spool's span was judged, and the
        replay found the guard gone from 16:30 (`bench truth`'s spool_over_pickup: a false guard_absent). A
        child's on-time scan is applied at once still: a pick-up's alert is never held for a sweep."""
        if (
            (late or (self.backlog and payload.type.value in STAFF_PRESENCE))
            and isinstance(payload, Access)
            and payload.type.value in people.REPLAYED
            and happened > self.clock
            and len(self.backlog) < BACKLOG_MAX
        ):
            self.backlog_seq += 1
            self.backlog.append((happened, self.backlog_seq, device_id, payload, received, cause))
            return
        self.heard, self.heard_cause = received, cause
        try:
            if isinstance(payload, Event):
                alarms.on_event(self, device_id, payload, happened)
            else:
                people.on_access(self, device_id, payload, happened)
        finally:
            self.heard, self.heard_cause = None, None

    def _uplink(self, gw: DeviceRt, payload: Payload, seen_before: datetime, received: datetime) -> None:
        """The gateway's offline spans, from its live messages: a Last Will (or an offline status) starts
        one at its last sign of life before; its return, or a message after it missed its heartbeats, ends
        it. Only to tell why evidence came late (`delay_cause`); liveness is judged as before."""
        if isinstance(payload, Status) and not payload.online:
            if self.uplink_down is None:
                self.uplink_down = seen_before
            return
        missed = (received - seen_before).total_seconds() > self.offline_s(gw.type, gw.heartbeat_s)
        if self.uplink_down is not None or not gw.online or missed:
            start = self.uplink_down if self.uplink_down is not None else seen_before
            self.uplink_gaps.append((start, received))
            self.uplink_down = None

    def delay_cause(self, happened: datetime, late: bool, from_backlog: bool) -> str | None:
        """Why a message that happened at `happened` reached the engine late (contract.occurred.CAUSES);
        None when it did not, or when nothing shows why (before this engine started, say)."""
        if not late:
            return "platform" if from_backlog else None  # the broker had it in time; this engine read it late
        if any(a <= happened <= b for a, b in self.deaf_gaps):
            return "platform"
        if self.uplink_down is not None and happened >= self.uplink_down:
            return "uplink"
        if any(a <= happened <= b for a, b in self.uplink_gaps):
            return "uplink"
        return "device" if happened >= self.started else None

    def pulse(self, key: Key, at: datetime, zh: str, en: str) -> None:
        """A one-off event's alert: active for the rule's `hold` from the event's own time, and reported
        at least once even when it arrives later than that; again while active is a re-trigger."""
        cfg = self.rules[key.rule]
        # Held from when it was known when that is later (a message spooled while the uplink was down): a
        # panic replayed an hour late is active, and climbs the escalation ladder, as long as a live one;
        # held from its own time, it cleared at the next evaluation and no one above the facility heard.
        known = max(at, self.heard) if self.heard is not None else at
        until, reported = known + timedelta(seconds=cfg.hold_s), False
        began, cause = at, self.heard_cause
        if key in self.pulses and at < self.pulses[key][0]:
            self.retriggered.append(key)
            old = self.pulses[key][1]
            until, reported = max(until, self.pulses[key][0]), self.pulses[key][2]
            if old.at is not None and old.at <= at:
                began, cause = old.at, old.cause
        self.pulses[key] = (until, Condition(cfg.severity, zh, en, at=began, cause=cause), reported)

    # -- conditions --------------------------------------------------------------------------------
    def conditions(self, now: datetime) -> dict[Key, Condition]:
        before = self.clock
        settled = self.advance(now)
        self.settled_now = settled  # unsettled: what is missing is unknown, not ended (Tracker.step's hold)
        clock = self.clock
        if self.backlog and clock > before:
            self._replay(before, clock)
        people.roll_day(self, clock)
        out: dict[Key, Condition] = {}
        self.unknown = set()
        for key, (until, cond, reported) in list(self.pulses.items()):
            if now < until or not reported:
                out[key] = cond
                self.pulses[key] = (until, cond, True)
            else:
                del self.pulses[key]
        alarms.conditions(self, out, now)
        readings.conditions(self, out)
        devices.conditions(self, out, now)
        people.conditions(self, out, clock)
        today = self.local(clock).date()
        if self.register_day != today:
            self.register_day, self.register_out = today, workforce.register_conditions(self, today)
        out.update(self.register_out)
        if settled:
            self.windows = people.window_conditions(self, clock)
        out.update(self.windows)  # unsettled: what was decided on complete data stands, nothing new starts
        devices.equipment_conditions(self, out)
        return out

    def _replay(self, start: datetime, end: datetime) -> None:
        """Fold in the backlog's scans up to `end` at their own times, judging the span rules at each scan and
        every minute between, as a live facility's sweeps would have; a span condition that began in between
        is reported in `replayed` with when it began and, if it ended before `end`, when it ended (the engine
        turns them into decisions: alerts.engine._step). Conditions already decided at `start` are the
        tracker's, as before."""
        due = sorted(b for b in self.backlog if b[0] <= end)
        self.backlog = [b for b in self.backlog if b[0] > end]
        began: dict[Key, tuple[datetime, Condition]] = {}
        known = set(self.windows)
        step = timedelta(seconds=REPLAY_STEP_S)

        def judge(t: datetime) -> None:
            people.roll_day(self, t)
            now_holds = people.window_conditions(self, t)
            for key, cond in now_holds.items():
                if key not in known and key not in began:
                    began[key] = (t, cond)
            for key in [k for k in began if k not in now_holds]:
                at, cond = began.pop(key)
                self.replayed.append((key, cond, at, t))

        t, i = start, 0
        while t < end:
            t = min(t + step, end, due[i][0]) if i < len(due) else min(t + step, end)
            while i < len(due) and due[i][0] <= t:
                happened, _n, dev, scan, heard, cause = due[i]
                self.heard, self.heard_cause = heard, cause
                try:
                    people.on_access(self, dev, scan, happened)
                finally:
                    self.heard, self.heard_cause = None, None
                i += 1
            judge(t)
        self.replayed += [(key, cond, at, None) for key, (at, cond) in began.items()]

    def cond(
        self,
        rule: str,
        zh: str,
        en: str,
        severity: str | None = None,
        for_s: float | None = None,
        began: tuple[datetime, str | None] | None = None,
    ) -> Condition:
        """`began`: when it began by event time and why that reached the engine late (Condition.at, .cause)."""
        cfg = self.rules[rule]
        at, cause = began if began is not None else (None, None)
        return Condition(severity or cfg.severity, zh, en, cfg.for_s if for_s is None else for_s, at=at, cause=cause)

    def unknown_now(self, keys: Iterable[Key]) -> None:
        """Alerts whose condition is unknown at this evaluation (behind a silent gateway): neither raised
        nor cleared (Tracker.step)."""
        self.unknown.update(keys)

    def hyst(self, key: tuple[str, str], bad: bool, recovered: bool) -> bool:
        """A reading condition holds from `bad` until `recovered` (hysteresis against hovering)."""
        if bad:
            self.latched_readings.add(key)
        elif recovered:
            self.latched_readings.discard(key)
        return key in self.latched_readings
