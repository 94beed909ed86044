"""The alert engine's pure core over many facilities: messages and ticks in, decisions out."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from alerts import memory as rule_memory
from alerts import people
from alerts.facility import FacilityRuntime
from alerts.state import Register, Workforce
from alerts.tracker import Decision, Tracker
from contract.payloads import Access, Event, Payload, Status, Telemetry
from contract.pickup import Delegate
from contract.registry import Facility
from contract.rules import INPUT_SLACK_S, LATE_WAIT_S, SILENCE_RULES, SKEW_TOL_S, Key, RuleConfig, RuleId

URGENT_METRICS = frozenset({"gas_lel_pct", "co_ppm"})
SEEN_MAX = 200_000  # msg_ids remembered to drop redelivered and duplicated copies
# How often a tick evaluates a facility that heard no alarm: heartbeats and slow readings, and what
# only the clock changes (a device falling silent, a guard's absence growing), have thresholds of
# minutes. An alarm (an urgent message) is evaluated at once, and a facility on the tick its earliest
# `for` timer is due, so that a timer fires on its second. Measured at 5,000 facilities (bench
# province): evaluating every facility every second was 43 % of the alert process, and so was
# evaluating every facility with a timer running (most of them, at 10:00 on a weekday).
SWEEP_S = 5.0
SWEEP_SLOTS = 10  # facilities' first sweeps spread over SWEEP_S in this many steps


def event_time(payload: Payload, received: datetime) -> datetime:
    """When it happened, by the device's clock: its `ts` (the last sample's for a bundle of samples);
    the arrival time only for what carries none (a Last Will)."""
    if isinstance(payload, Telemetry) and payload.ts is None:
        return max(t for t, _ in payload.iter_samples())
    ts = getattr(payload, "ts", None)
    return ts if isinstance(ts, datetime) else received


def urgent(payload: Payload) -> bool:
    """Whether a message must be evaluated at once rather than on the next tick: events, access,
    a Last Will, gas and CO readings. Heartbeats and slow readings wait for the tick."""
    if isinstance(payload, Status):
        return not payload.online
    if isinstance(payload, Telemetry):
        return any(URGENT_METRICS.intersection(r) for _, r in payload.iter_samples())
    return True


class InputClock:
    """How far an engine has judged its input, by probes it sends itself through the broker
    (CONTRACT §4, contract.rules INPUT_SLACK_S). A probe that comes back shows the link works both
    ways. It shows the input judged up to its sending only if nothing was queued for the engine at
    the broker: Mosquitto 2.0 sends a new message at once while the engine's in-flight window has
    room, ahead of what it queued while the engine was away (measured: a probe sent after a
    reconnection came back before 0 to 370 of 100,000 queued messages). A backlog keeps that window
    full, so a probe counts (`confirm`) only once the window has stayed below half full from its
    return for CONFIRM_S; a probe that came back while it filled is dropped. `now()` is the time the
    engine may judge silence at."""

    CONFIRM_S = 0.5  # loopback or a LAN: a broker refills the window within milliseconds of an ack

    def __init__(self, started: datetime, slack_s: float = INPUT_SLACK_S) -> None:
        self.heard = started  # nothing is known to be judged beyond the engine's start
        self.slack = timedelta(seconds=slack_s)
        # The broker's reason when it refuses the probes (an ACL from before them): then the wall clock
        # judges, as before probes: never judging silence at all would miss every dead device.
        self.refused: str | None = None
        self._back: deque[tuple[datetime, float]] = deque(maxlen=64)  # probes back: (sent, returned, monotonic)

    def returned(self, sent: datetime, at: float) -> None:
        """A probe sent at `sent` came back and was judged at monotonic time `at`."""
        self._back.append((sent, at))
        self.refused = None

    def confirm(self, now: float, full_at: float) -> None:
        """Count the probes that came back once the in-flight window (full last at monotonic `full_at`)
        has stayed below half full from their return for CONFIRM_S; drop those back before it filled."""
        while self._back:
            sent, at = self._back[0]
            if full_at >= at:
                self._back.popleft()  # a backlog was flowing: it may have overtaken it
            elif now - at >= self.CONFIRM_S:
                self.heard = max(self.heard, sent)
                self._back.popleft()
            else:
                return

    def now(self, wall: datetime) -> datetime:
        return wall if self.refused is not None else min(wall, self.heard + self.slack)

    def behind_s(self, wall: datetime) -> float:
        """How long ago the newest judged probe was sent: about one tick when the engine keeps up."""
        return max(0.0, (wall - self.heard).total_seconds())


class AlertEngine:
    def __init__(
        self,
        facilities: Iterable[Facility],
        rules: dict[str, RuleConfig],
        started: datetime,
        pending: dict[str, dict[Key, datetime]] | None = None,
        firing: dict[str, set[Key]] | None = None,
        *,
        late_wait_s: float = LATE_WAIT_S,
        skew_tol_s: float = SKEW_TOL_S,
        lapse_rules: frozenset[str] = frozenset(),
        register: Register | None = None,
        watched: Mapping[str, datetime] | None = None,
    ) -> None:
        """`watched`: per facility, the time up to which an engine before this one judged it, when that
        was just before `started` (a restart: alerts.memory.RESUME_GAP_S); only the time between is
        nobody's, not all of it before the start."""
        self.rules = rules
        # the register of people (alerts.workforce), given like the registry; one Workforce over all the
        # engine's facilities, so that the same person badged in at two of them is seen (double_shift)
        self.register = register or Register()
        self.workforce = Workforce()
        self.late_wait_s = late_wait_s
        self.skew_tol_s = skew_tol_s  # contract.rules.skew_tolerance_s of the clock's speed
        self.lapse_rules = lapse_rules  # conditions recorded as lapses even when too short to alert
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._sweep_at: dict[str, datetime] = {}  # next evaluation on a tick, whatever it hears
        # device clocks learnt (seconds slow, since when) or forgotten (0 s) since the service last saved them
        self.clocks_changed: dict[tuple[str, str], tuple[float, datetime]] = {}
        self.runtimes: dict[str, FacilityRuntime] = {}
        self.trackers: dict[str, Tracker] = {}
        self.watched = dict(watched or {})
        for f in facilities:
            self.add_facility(f, started, (pending or {}).get(f.id), (firing or {}).get(f.id))

    def add_facility(
        self, f: Facility, started: datetime, pending: dict[Key, datetime] | None = None, firing: set[Key] | None = None
    ) -> None:
        self.runtimes[f.id] = FacilityRuntime(
            f,
            self.rules,
            started,
            self.late_wait_s,
            self.skew_tol_s,
            register=self.register,
            workforce=self.workforce,
        )
        if pending:
            # A device that said it was offline before this engine started gets its reconnect grace from
            # the start: its reconnection (a retained online status) may be what arrives first now.
            # Just after an engine that judged the facility until `watched` (a restart), only that gap.
            offline = RuleId.DEVICE_OFFLINE.value
            w = self.watched.get(f.id)
            pending = {
                k: (max(since, started) if w is None else since + max(started - max(w, since), timedelta(0)))
                if k.rule == offline
                else since
                for k, since in pending.items()
            }
        self.trackers[f.id] = Tracker(pending, firing, self.lapse_rules)
        slot = len(self._sweep_at) % SWEEP_SLOTS
        self._sweep_at[f.id] = started + timedelta(seconds=SWEEP_S * slot / SWEEP_SLOTS)

    def seed_device(
        self, facility_id: str, device_id: str, last_seen: datetime, online: bool, battery: float | None, now: datetime
    ) -> None:
        """What ingest stored of a device, at this engine's start. Its silence counts from no earlier
        than one heartbeat before the start (the whole platform may have been down: a silence that is
        ours, not the device's), unless its offline alert was already raised: that alert was decided on
        real silence, and forgetting it cleared, say, a dead smoke detector's alert at every restart of
        the engine and raised it again hours later."""
        rt = self.runtimes.get(facility_id)
        d = rt.devices.get(device_id) if rt else None
        if d is None:
            return
        alerted = self._silence_alerted(facility_id, device_id)
        fresh = max(last_seen, now - timedelta(seconds=d.heartbeat_s))
        w = self.watched.get(facility_id)
        if w is not None and not alerted:
            # an engine judged this facility until `w`, just before: the silence it saw is real, and only
            # the gap since is nobody's (as after a lost broker connection: `resume`)
            fresh = min(last_seen + max(now - max(w, last_seen), timedelta(0)), fresh)
        d.last_seen = last_seen if alerted else fresh
        d.online, d.battery = online, battery

    def resume(self, deaf_from: datetime, at: datetime) -> None:
        """The engine's link to the broker came back at `at`, after it had judged its input up to
        `deaf_from`. What was sent meanwhile may never have reached a broker (the broker itself was
        down): that time is nobody's silence. A device's silence goes on from where it stood when the
        link dropped (its last sign of life moved by the gap), or, after a gap longer than a heartbeat,
        from one heartbeat before `at`, as at a start (whichever is earlier: a device that died just
        before a long outage is not given the whole outage again). A device whose offline alert was
        raised keeps it. The people rules wait for what gateways replay from their spools, as after a
        start. The web counts the intake's gaps alike (storage.intake.heard_sql)."""
        if at <= deaf_from:
            return
        for fid, rt in self.runtimes.items():
            for device_id, d in rt.devices.items():
                if d.last_seen < at and not self._silence_alerted(fid, device_id):
                    shifted = d.last_seen + (at - max(deaf_from, d.last_seen))
                    d.last_seen = min(shifted, max(d.last_seen, at - timedelta(seconds=d.heartbeat_s)))
            rt.settle(at)
            rt.deaf_gaps.append((deaf_from, at))  # evidence from then that comes late is our delay (contract.occurred)

    def _silence_alerted(self, facility_id: str, device_id: str) -> bool:
        """Whether the device's offline or blind-spot alert is raised (decided on real silence)."""
        firing = self.trackers[facility_id].firing
        return any(Key(rule, device_id) in firing for rule in SILENCE_RULES)

    def seed_lateness(self, facility_id: str, device_id: str, received: datetime, status_at: datetime | None) -> None:
        """How late the device's last status was (ingest's device_state: `received` its arrival, at
        least as ingest saw the device last, and `status_at` its own time), when no clock was saved:
        a smoke detector whose clock is slow, heard once before a first start, is learnt from its next
        late message instead of the second one (every 2 minutes: after the 6 minutes of silence that
        make it offline, when the first one came while the engine read its backlog)."""
        rt = self.runtimes.get(facility_id)
        d = rt.devices.get(device_id) if rt else None
        if d is not None and status_at is not None:
            d.heard_late((received - status_at).total_seconds(), received)

    def seed_clock(self, facility_id: str, device_id: str, skew_s: float, since: datetime) -> None:
        """A device clock learnt before this engine started (storage.alerts.load_clocks): its messages,
        the backlog's first, continue the run of late ones that showed it (CONTRACT §4)."""
        rt = self.runtimes.get(facility_id)
        d = rt.devices.get(device_id) if rt else None
        if d is not None:
            d.learnt(skew_s, since)

    def replay(self, facility_id: str, device_id: str, payload: Payload, at: datetime, now: datetime) -> None:
        """A stored event (of the last day) or access event (of the facility's day) before this engine's
        start at `now` (alerts.service), at its own time: it rebuilds who is on site and which alarms
        are active. A one-off event's alert is not raised again: a stopped engine decided it, and
        `recall` gives back those still held."""
        rt = self.runtimes.get(facility_id)
        if rt is None or not isinstance(payload, Access | Event):
            return
        # the facility's day is its clock's (now - the late wait): just after midnight, still the day before
        day = rt.local(now - timedelta(seconds=rt.late_wait_s)).date()
        if isinstance(payload, Access) and rt.local(at).date() != day:
            return
        if isinstance(payload, Event) and payload.state is None:
            return  # a panic, a forced door: its alert is in the memory (`recall`), not in the event
        rt.apply(device_id, payload, at)
        rt.pulses.clear()
        rt.retriggered.clear()

    def memory(self, facility_id: str, now: datetime) -> dict[str, object]:
        """What the facility's rules remember that no stored message gives back (alerts.memory)."""
        return rule_memory.snapshot(self.runtimes[facility_id], now)

    def recall(self, facility_id: str, saved: Mapping[str, Any], saved_at: datetime, now: datetime) -> None:
        """A memory saved at `saved_at` by an engine before this one, after the start's replay."""
        rt = self.runtimes.get(facility_id)
        if rt is not None:
            rule_memory.restore(rt, saved, saved_at, now)

    def update_registry(self, facilities: Iterable[Facility], now: datetime) -> int:
        """A registry reload: a new facility starts fresh; a changed one gets its new devices, staff,
        children and hours but keeps what the rules have learnt (device state, people on site, active
        events, `for` timers) for what still exists. Returns how many facilities changed."""
        changed = 0
        for f in facilities:
            old = self.runtimes.get(f.id)
            if old is None:
                self.add_facility(f, now)
                changed += 1
                continue
            if old.facility == f:
                continue
            # replace() re-runs __post_init__, which rebuilds everything derived from the registry
            # (devices, staff, children, classes, time zone); every other field, all that the rules
            # have learnt, is carried over as it is.
            rt = replace(old, facility=f)
            rt.clock = old.clock  # not an init field: the watermark carries over too
            for dev_id, fresh in rt.devices.items():
                prev = old.devices.get(dev_id)
                if prev is not None:
                    rt.devices[dev_id] = replace(
                        prev,
                        type=fresh.type,
                        heartbeat_s=fresh.heartbeat_s,
                        child_area=fresh.child_area,
                        counts=fresh.counts,
                    )
            self.runtimes[f.id] = rt
            changed += 1
        return changed

    def set_delegates(self, delegates: Iterable[Delegate], facilities: Iterable[str] | None = None) -> None:
        """The pick-up delegates as stored now (storage.pickup.current), for `facilities` (default: every
        facility this engine has): each facility's list is replaced. Judging only what comes after, it
        changes no alert already raised. A one-off's first use stored (its `first_used_at`) and one this
        engine saw both count."""
        by: dict[str, dict[str, list[Delegate]]] = {}
        for d in delegates:
            by.setdefault(d.facility_id, {}).setdefault(d.child_id, []).append(d)
        for fid in self.runtimes if facilities is None else facilities:
            rt = self.runtimes.get(fid)
            if rt is not None:
                rt.delegates = {c: tuple(ds) for c, ds in by.get(fid, {}).items()}

    def set_suspensions(self, since: Mapping[str, datetime], facilities: Iterable[str] | None = None) -> None:
        """The 责令停业整改 in force as stored now (storage.suspensions.in_force_since: facility -> since when),
        for `facilities` (default: every facility this engine has). Nothing is excused by one: it only adds
        `children_during_suspension` while children are on site."""
        for fid in self.runtimes if facilities is None else facilities:
            rt = self.runtimes.get(fid)
            if rt is not None:
                rt.suspended_since = since.get(fid)

    def record_whereabouts(self, facility_id: str, child_id: str, at: datetime) -> bool:
        """The operator recorded, with a note, where a child left on site overnight is (web.actions,
        storage.whereabouts): the child's alert clears at the next evaluation, as a badge-out would clear
        it. Whether the child was one this engine holds on site."""
        rt = self.runtimes.get(facility_id)
        return rt is not None and people.whereabouts_recorded(rt, child_id, at)

    def update_register(self, register: Register) -> None:
        """A new register of people (a registry file loaded with people in it): every facility reads it
        from its next evaluation."""
        self.register = register
        for rt in self.runtimes.values():
            rt.register, rt.register_day = register, None

    def on_message(
        self, facility_id: str, device_id: str, payload: Payload, received: datetime, judged: datetime | None = None
    ) -> list[Decision]:
        """A message that this process read at `received`, judged when the engine's input is complete up
        to `judged` (`InputClock.now`, no later than `received`; default `received`). The rules judge it at
        its own time (`event_time`). A copy already seen (same msg_id from the same device: a QoS 1
        redelivery, a replayed spool) is dropped."""
        rt = self.runtimes.get(facility_id)
        if rt is None:
            return []
        # a status has no msg_id: asked of a pydantic model, the missing attribute costs an exception
        msg_id = None if isinstance(payload, Status) else getattr(payload, "msg_id", None)
        if msg_id is not None:
            key = (facility_id, device_id, msg_id)
            if key in self._seen:
                return []
            self._seen[key] = None
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
        judged = received if judged is None else judged
        at = event_time(payload, judged)
        rt.apply(device_id, payload, at, received, judged)
        if rt.clocks_changed:
            for dev in rt.clocks_changed:
                d = rt.devices[dev]
                self.clocks_changed[(facility_id, dev)] = (d.skew_s, d.late_since or received)
            rt.clocks_changed.clear()
        if not urgent(payload):
            return []  # the facility's next sweep (SWEEP_S at most) evaluates it; keeps the hot path cheap
        decisions = self._step(facility_id, rt, judged)
        # Judged at `judged`, which an engine behind its input holds back, but never dated before the
        # message it was decided on: an alarm read from a backlog is not "opened" before it was raised.
        floor = min(at, received)
        return [replace(d, at=floor) if d.at < floor else d for d in decisions]

    def on_tick(self, now: datetime, facilities: Iterable[str] | None = None) -> list[tuple[str, Decision]]:
        """Evaluate the facilities due their sweep (SWEEP_S apart, spread over the ticks) and those whose
        earliest `for` timer is due; of `facilities` only, if given (the service yields between parts).

        Each facility keeps its own place in the sweep, also after a tick came late (a slow start, a
        stalled host): moved to `now`, the whole province had been swept in one tick every SWEEP_S
        from then on (0.8 s of a 2-core machine's loop at 5,000 facilities, measured), and an alarm
        arriving meanwhile waited for it."""
        out: list[tuple[str, Decision]] = []
        sweep = timedelta(seconds=SWEEP_S)
        for fid in self.runtimes if facilities is None else facilities:
            rt = self.runtimes.get(fid)
            if rt is None:
                continue
            due = self._sweep_at.get(fid, now)
            timer = self.trackers[fid].next_due()
            if now >= due or (timer is not None and now >= timer):
                if now >= due:
                    self._sweep_at[fid] = due + sweep * ((now - due) // sweep + 1)
                out += [(fid, d) for d in self._step(fid, rt, now)]
        return out

    @staticmethod
    def _replayed(rt: FacilityRuntime, tracker: Tracker, now: datetime) -> list[Decision]:
        """The span conditions a replayed backlog showed (FacilityRuntime._replay), decided now as the tracker
        would have decided them live: one that held for its rule's `for` opens, dated by when it began and
        why that came late, and, if it has ended, clears with when it ended (the lapse's end); one shorter
        than its window is a lapse of the credit's classes; one that still holds starts its timer from when it
        began, so its window is not counted again from now."""
        out: list[Decision] = []
        replayed, rt.replayed = rt.replayed, []
        for key, held, began, ended in replayed:
            if key in tracker.firing:
                continue
            cond = replace(held, at=began, cause=held.cause or rt.delay_cause(began, True, False))
            if ended is None:
                since = tracker.pending.get(key)
                tracker.pending[key] = began if since is None else min(since, began)
                tracker.due.pop(key, None)
                continue
            if (ended - began).total_seconds() >= cond.for_s:
                out += [Decision("open", key, cond, now, began), Decision("clear", key, None, now, ended)]
            elif key.rule in tracker.lapse_rules:
                out.append(Decision("lapse", key, None, ended, began))
        return out

    @staticmethod
    def _ended(rt: FacilityRuntime, tracker: Tracker, now: datetime) -> list[Decision]:
        """Condition events whose end came late (alerts.alarms._ended_late), decided as live: one already an
        alert clears with when it ended; one whose timer runs, or that no evaluation saw (its start and end in
        the same spool), opens and clears if it lasted its rule's `for`, else is a lapse of the credit's classes."""
        out: list[Decision] = []
        ended, rt.ended_events = rt.ended_events, []
        for key, held, began, end in ended:
            if key in tracker.firing:
                tracker.firing.discard(key)
                out.append(Decision("clear", key, None, now, end))
                continue
            tracker.pending.pop(key, None)
            tracker.due.pop(key, None)
            cond = replace(held, at=began, cause=held.cause or rt.delay_cause(began, True, False))
            if (end - began).total_seconds() >= cond.for_s:
                out += [Decision("open", key, cond, now, began), Decision("clear", key, None, now, end)]
            elif key.rule in tracker.lapse_rules and end > began:
                out.append(Decision("lapse", key, None, end, began))
        return out

    def _step(self, facility_id: str, rt: FacilityRuntime, now: datetime) -> list[Decision]:
        retriggered, rt.retriggered = rt.retriggered, []
        conds = rt.conditions(now)
        hold = frozenset() if rt.settled_now else people.WINDOW_RULES
        tracker = self.trackers[facility_id]
        out = self._replayed(rt, tracker, now) if rt.replayed else []
        out += self._ended(rt, tracker, now) if rt.ended_events else []
        out += tracker.step(conds, now, retriggered, hold=hold, unknown=rt.unknown)
        raised, rt.raised = rt.raised, []
        # an active alert whose condition became more severe (a child left overnight): raised, not reopened
        out += [
            Decision("raise", k, conds[k], now) for k in dict.fromkeys(raised) if k in tracker.firing and k in conds
        ]
        return out
