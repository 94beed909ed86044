"""The simulation engine: facilities, devices and people producing contract messages in time order.

Deterministic: every random choice comes from a generator seeded by (seed, facility, day) or
(seed, facility, device), never from wall time, so the same seed gives byte-identical streams.
Timestamps on the wire are simulated time, and only ever the time a thing happened: started in the
middle of a day, the day so far is backfilled with its own times (events before `start` come out
first, in time order), never restamped with the start time.

Realistic days (issue #13): each facility's own opening hours and China's holidays; staff arriving
5–30 minutes before opening (cooks earlier, guards first); drop-off and pick-up peaks, some late
pick-ups inside the grace period, pick-up by either registered guardian, absences; patrol rounds
over every checkpoint. And the background faults of every real fleet (`faults=True`): missed
heartbeats, duplicated messages, device clocks a few seconds off, staff who forget to badge out,
and short uplink outages of gateway facilities whose spool is replayed on reconnect. What a fault
legitimately raises is recorded in `truth` (rule, facility, device/subject, time), so that a
benchmark can tell true alerts from false ones.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from contract.pickup import Delegate
from contract.registry import LIFE_SAFETY_TYPES, Device, DeviceType, Facility, Registry, RoomType, Staff, StaffRole

BATTERY_TYPES = LIFE_SAFETY_TYPES - {DeviceType.ACCESS_CONTROLLER, DeviceType.EXIT_DOOR} | {
    DeviceType.PATROL_POINT,
    DeviceType.ENV_SENSOR,
}
TELEMETRY_EVERY = {
    DeviceType.ENV_SENSOR: 60,
    DeviceType.EXTINGUISHER_GAUGE: 300,
    DeviceType.WATER_PRESSURE: 300,
    DeviceType.GAS_DETECTOR: 120,
    DeviceType.CO_DETECTOR: 120,
}
BATCH_FLUSH_S = 10
# A counting camera (the registry's counts_adults) reports the adults in its view this often, with the
# counting's noise: an occlusion of seconds caught in a sample (a carer behind a shelf, a child in the
# way) one or two short, and a sample one off either way (a carer half out of the zone, a tall child).
COUNT_EVERY = 30
COUNT_OCCLUDED_P = 0.02
COUNT_OFF_BY_ONE_P = 0.03
URGENT_CHANNELS = frozenset({"event", "access"})


def wire_ts(t: datetime) -> str:
    """`2026-11-30T08:01:02.345Z` (isoformat is 1.6x quicker than strftime; every message has one)."""
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    return t.isoformat(timespec="milliseconds")[:-6] + "Z"


def encode(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT publication: device topic, payload bytes, retained flag, simulated time."""

    at: datetime
    facility_id: str
    device_id: str
    channel: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Uplink:
    """The facility's broker connection goes down (its Last Will fires) or comes back."""

    at: datetime
    facility_id: str
    up: bool


SimEvent = SimMessage | Uplink


@dataclass(frozen=True, slots=True)
class Truth:
    """An alert the simulated world deserves, caused by a background fault (not a scenario)."""

    at: datetime
    facility_id: str
    rule: str
    device_id: str | None = None
    subject: str | None = None


# Background faults, per day or per message (issue #13: what every real fleet has)
MISSED_HEARTBEAT_P = 0.002  # one heartbeat in 500 lost
DUPLICATE_P = 0.003
FORGET_BADGE_OUT_P = 0.02
OUTAGE_P_PER_DAY = 0.15  # a gateway facility's uplink drops for a few minutes
LATE_PICKUP_P = 0.04
CLOCK_SKEW_S = 3.0
# A device in 100 keeps a clock minutes slow (no NTP; a real-time clock drifting for months): every
# message it sends is minutes "old" on arrival. A third of the wrong door controllers were set up in UTC
# wall time instead (8 hours slow: this morning's badges stamped under yesterday). Gateways keep time
# (Linux with NTP).
WRONG_CLOCK_P = 0.01
UTC_WALL_TIME = timedelta(hours=8)  # China Standard Time is UTC+8 all year
WRONG_CLOCK_TYPES = frozenset(
    {
        DeviceType.SMOKE_DETECTOR,
        DeviceType.HEAT_DETECTOR,
        DeviceType.GAS_DETECTOR,
        DeviceType.CO_DETECTOR,
        DeviceType.EXTINGUISHER_GAUGE,
        DeviceType.WATER_PRESSURE,
        DeviceType.EMERGENCY_LIGHT,
        DeviceType.ENV_SENSOR,
        DeviceType.ACCESS_CONTROLLER,
        DeviceType.PATROL_POINT,
    }
)


def wrong_clock(seed: object, facility_id: str, device: Device) -> timedelta | None:
    """How far a device's clock runs slow when it is one of the wrong ones (3 to 20 minutes, or a door
    controller's 8 hours), else None.
    Its own draw, apart from the device's random stream, so the rest of the simulation is unchanged."""
    if device.type not in WRONG_CLOCK_TYPES:
        return None
    r = random.Random(f"{seed}:{facility_id}:{device.id}:clock")
    if r.random() >= WRONG_CLOCK_P:
        return None
    if device.type is DeviceType.ACCESS_CONTROLLER and r.random() < 1 / 3:
        return UTC_WALL_TIME
    return timedelta(minutes=r.uniform(3, 20))


@dataclass(slots=True)
class DeviceState:
    device: Device
    rng: random.Random
    battery: float
    seq: int = 0
    silent_until: datetime | None = None
    offline_until: datetime | None = None
    battery_drain_per_h: float = 0.004
    pressure: float = 1.2
    leak_per_min: float = 0.0
    gas_until: datetime | None = None
    temp_offset: float = 0.0
    skew: timedelta = timedelta(0)  # its clock's error

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}-{self.seq}"


@dataclass(slots=True)
class FacilityState:
    facility: Facility
    index: int
    tz: ZoneInfo
    devices: dict[str, DeviceState]
    gateway_mode: bool
    on_site_children: dict[str, str] = field(default_factory=dict)  # child -> class
    pending_batch: list[dict[str, object]] = field(default_factory=list)
    batch_seq: int = 0
    uplink_down_until: datetime | None = None
    spool: list[dict[str, object]] = field(default_factory=list)  # what a gateway keeps while its uplink is down
    skip_collect: set[str] = field(default_factory=set)
    patrol_paused_until: datetime | None = None
    scanner_off_until: datetime | None = None  # the children's attendance scanner is not used
    no_badge_out: set[str] = field(default_factory=set)  # staff who leave without badging out
    # Where the staff really are, apart from their badges (the counting cameras see this, not the badges):
    # on site, and on site but away from the children (a carer out of the rooms, badged in or not)
    here: set[str] = field(default_factory=set)
    away: set[str] = field(default_factory=set)
    # parents in a class's room at drop-off or pick-up until then (class -> times): counted as adults
    parents: dict[str, list[datetime]] = field(default_factory=dict)
    carer_class: dict[str, str] | None = None  # each carer's class (CitySim._carer_class)
    # days the world keeps the facility closed whatever its registry says (bench truth's calendar scenarios:
    # a county's 停课, a holiday block's Saturday), so the engine's calendar is judged against the world's
    closed_days: frozenset[date] = frozenset()
    # staff who are people of another facility's staff too (`_shifts`): "am" | "pm" (half days), "lent"
    shifts: dict[str, str] = field(default_factory=dict)
    collectors: dict[str, str] = field(default_factory=dict)  # child -> the delegate who collects it


class CitySim:
    """All facilities of a registry on one simulated clock."""

    def __init__(
        self,
        registry: Registry,
        seed: int,
        start: datetime,
        *,
        gateway_share: float = 0.3,
        faults: bool = True,
        closed: dict[str, frozenset[date]] | None = None,
        spooling: frozenset[str] = frozenset(),
        delegates: Iterable[Delegate] = (),
    ) -> None:
        """`closed`: facility -> days nobody comes (FacilityState.closed_days); `spooling`: facilities whose
        gateway stores and forwards whatever `gateway_share` drew (a scenario's spool needs one);
        `delegates`: who collects which child instead of its guardians (simulators.registry_gen
        .simulated_delegates), every day, whether their delegation is valid or not."""
        self.seed = seed
        self.start = start
        self.now = start
        self.faults = faults
        self.truth: list[Truth] = []
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._out: list[SimEvent] = []
        self.facilities: dict[str, FacilityState] = {}
        shifts = _shifts(registry)
        collectors = {(d.facility_id, d.child_id): d.person_id for d in delegates}
        for i, f in enumerate(registry.facilities):
            frng = random.Random(f"{seed}:{f.id}")
            devices = {
                d.id: DeviceState(d, random.Random(f"{seed}:{f.id}:{d.id}"), battery=frng.uniform(60, 100))
                for d in f.devices
            }
            has_gw = any(d.type is DeviceType.GATEWAY for d in f.devices)
            # the draw is made as before (the other streams unchanged), then a spooling facility forwards anyway
            forwards = (has_gw and frng.random() < gateway_share) or (has_gw and f.id in spooling)
            shut = (closed or {}).get(f.id, frozenset())
            fs = FacilityState(f, i, ZoneInfo(f.timezone), devices, forwards, closed_days=shut)
            self.facilities[f.id] = fs
            fs.shifts = {sid: how for (fid, sid), how in shifts.items() if fid == f.id}
            fs.collectors = {c: who for (fid, c), who in collectors.items() if fid == f.id}
            if faults:
                for ds in devices.values():
                    ds.skew = timedelta(seconds=ds.rng.uniform(-CLOCK_SKEW_S, CLOCK_SKEW_S))
                    if (slow := wrong_clock(seed, f.id, ds.device)) is not None:
                        ds.skew -= slow
            for ds in devices.values():
                if ds.device.counts_adults:  # its own stream: every other device's stays as it was
                    crng = random.Random(f"{seed}:{f.id}:{ds.device.id}:count")
                    self._at(start + timedelta(seconds=crng.uniform(0, COUNT_EVERY)), self._count_fn(fs, ds, crng))
                phase = ds.rng.uniform(0, ds.device.heartbeat_s)
                self._at(start + timedelta(seconds=phase), self._heartbeat_fn(fs, ds))
                every = TELEMETRY_EVERY.get(ds.device.type)
                if every:
                    self._at(start + timedelta(seconds=ds.rng.uniform(0, every)), self._telemetry_fn(fs, ds, every))
            if fs.gateway_mode:
                self._at(start + timedelta(seconds=frng.uniform(0, BATCH_FLUSH_S)), self._flush_fn(fs))
            self._plan_days_from(fs, start)

    # -- scheduling ------------------------------------------------------------------------------
    def _at(self, t: datetime, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn))

    def run(self, until: datetime) -> Iterator[SimEvent]:
        """Events in time order up to `until` (exclusive); can be called again to continue."""
        while self._heap and self._heap[0][0] < until:
            t, _, fn = heapq.heappop(self._heap)
            self.now = t
            fn()
            if self._out:
                yield from self._out
                self._out.clear()
        self.now = until

    def schedule(self, t: datetime, fn: Callable[[], None]) -> None:
        """For scenario faults: run fn at simulated time t."""
        self._at(t, fn)

    # -- emission --------------------------------------------------------------------------------
    def emit(
        self, fs: FacilityState, device_id: str, channel: str, body: dict[str, object], retain: bool = False
    ) -> None:
        down = fs.uplink_down_until is not None and self.now < fs.uplink_down_until
        if down and not fs.gateway_mode:
            return  # the uplink is down: nothing reaches the broker
        if down:  # the gateway stores and forwards: kept in order, replayed on reconnect
            if device_id != "gw-1" or channel != "status":
                fs.spool.append({"device_id": device_id, "channel": channel, "payload": body})
            return
        if fs.gateway_mode and device_id != "gw-1":
            fs.pending_batch.append({"device_id": device_id, "channel": channel, "payload": body})
            # an alarm or a badge goes out at once, with what waited before it (gateway/agent.py forwards
            # its spool as soon as it holds anything; the 10 s flush stands in for telemetry piling up)
            if len(fs.pending_batch) >= 100 or channel in URGENT_CHANNELS:
                self._flush_batch(fs)
            return
        msg = SimMessage(self.now, fs.facility.id, device_id, channel, encode(body), retain)
        self._out.append(msg)
        if self.faults and "msg_id" in body and fs.devices[device_id].rng.random() < DUPLICATE_P:
            self._out.append(msg)  # a QoS 1 redelivery: the same message twice

    def _flush_batch(self, fs: FacilityState) -> None:
        if not fs.pending_batch:
            return
        fs.batch_seq += 1
        body = {"msg_id": f"b-{fs.batch_seq}", "messages": fs.pending_batch}
        fs.pending_batch = []
        self._out.append(SimMessage(self.now, fs.facility.id, "gw-1", "batch", encode(body)))

    def _flush_fn(self, fs: FacilityState) -> Callable[[], None]:
        def fn() -> None:
            self._flush_batch(fs)
            self._at(self.now + timedelta(seconds=BATCH_FLUSH_S), fn)

        return fn

    def uplink(self, fs: FacilityState, up: bool, until: datetime | None = None) -> None:
        if not up:
            if fs.gateway_mode:
                fs.spool.extend(fs.pending_batch)
            fs.pending_batch.clear()
            fs.uplink_down_until = until
        else:
            fs.uplink_down_until = None
        self._out.append(Uplink(self.now, fs.facility.id, up))
        if up:  # the gateway announces itself again, then replays its spool in order
            self.emit(fs, "gw-1", "status", {"ts": wire_ts(self.now), "online": True, "heartbeat_s": 30}, retain=True)
            spool, fs.spool = fs.spool, []
            for i in range(0, len(spool), 100):
                fs.batch_seq += 1
                body = {"msg_id": f"b-{fs.batch_seq}", "messages": spool[i : i + 100]}
                self._out.append(SimMessage(self.now, fs.facility.id, "gw-1", "batch", encode(body)))

    # -- devices ---------------------------------------------------------------------------------
    def _alive(self, ds: DeviceState) -> bool:
        return ds.silent_until is None or self.now >= ds.silent_until

    def _heartbeat_fn(self, fs: FacilityState, ds: DeviceState) -> Callable[[], None]:
        d = ds.device

        def fn() -> None:
            hours = d.heartbeat_s / 3600
            ds.battery = max(0.0, ds.battery - ds.battery_drain_per_h * hours)
            missed = self.faults and ds.rng.random() < MISSED_HEARTBEAT_P
            if self._alive(ds) and not (ds.offline_until and self.now < ds.offline_until) and not missed:
                body: dict[str, object] = {
                    "ts": wire_ts(self.now + ds.skew),
                    "online": True,
                    "heartbeat_s": d.heartbeat_s,
                }
                if d.type in BATTERY_TYPES:
                    body["battery_pct"] = round(ds.battery, 1)
                if d.type is DeviceType.CAMERA:
                    body["firmware"] = "2.3.1"
                self.emit(fs, d.id, "status", body, retain=True)
            self._at(self.now + timedelta(seconds=d.heartbeat_s), fn)

        return fn

    def _telemetry_fn(self, fs: FacilityState, ds: DeviceState, every: int) -> Callable[[], None]:
        def fn() -> None:
            if self._alive(ds):
                readings = self._readings(fs, ds)
                if readings:
                    self.emit(
                        fs,
                        ds.device.id,
                        "telemetry",
                        {"msg_id": ds.next_id("t"), "ts": wire_ts(self.now + ds.skew), "readings": readings},
                    )
            self._at(self.now + timedelta(seconds=every), fn)

        return fn

    def _readings(self, fs: FacilityState, ds: DeviceState) -> dict[str, float]:
        d, rng = ds.device, ds.rng
        local = self.now.astimezone(fs.tz)
        hour = local.hour + local.minute / 60
        if d.type is DeviceType.ENV_SENSOR:
            present = self._children_in_room(fs, d, hour)
            temp = 22.0 + 1.2 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.gauss(0, 0.15) + ds.temp_offset
            co2 = 460 + 22 * present + rng.gauss(0, 12)
            hum = 46 + 4 * math.sin(hour / 24 * 2 * math.pi) + rng.gauss(0, 0.8)
            return {"temperature_c": round(temp, 2), "humidity_pct": round(hum, 1), "co2_ppm": round(min(co2, 950))}
        if d.type is DeviceType.EXTINGUISHER_GAUGE:
            ds.pressure = max(0.0, ds.pressure - ds.leak_per_min * TELEMETRY_EVERY[d.type] / 60)
            return {"extinguisher_pressure_mpa": round(ds.pressure + rng.gauss(0, 0.005), 3)}
        if d.type is DeviceType.WATER_PRESSURE:
            return {"water_pressure_mpa": round(0.35 + rng.gauss(0, 0.01), 3)}
        leaking = ds.gas_until is not None and self.now < ds.gas_until
        if d.type is DeviceType.GAS_DETECTOR:
            return {"gas_lel_pct": round(rng.uniform(18, 25) if leaking else abs(rng.gauss(0.3, 0.2)), 2)}
        if d.type is DeviceType.CO_DETECTOR:
            return {"co_ppm": round(abs(rng.gauss(2, 1)), 1)}
        return {}

    def _count_fn(self, fs: FacilityState, ds: DeviceState, rng: random.Random) -> Callable[[], None]:
        """A counting camera's adults in view every COUNT_EVERY s: the carers truly in its room (wherever
        their badges say they are), parents at drop-off and pick-up, and the counting's own noise."""

        def fn() -> None:
            if self._alive(ds) and not (ds.offline_until and self.now < ds.offline_until):
                n = self._adults_in_room(fs, ds.device)
                if self.faults:
                    r = rng.random()
                    if r < COUNT_OCCLUDED_P:  # an occlusion of seconds: a carer behind a shelf, a child
                        n -= rng.choice((1, 2))
                    elif r < COUNT_OCCLUDED_P + COUNT_OFF_BY_ONE_P:
                        n += rng.choice((-1, 1))
                body: dict[str, object] = {
                    "msg_id": ds.next_id("n"),
                    "ts": wire_ts(self.now + ds.skew),
                    "readings": {"adults_count": max(0, n)},
                }
                self.emit(fs, ds.device.id, "telemetry", body)
            self._at(self.now + timedelta(seconds=COUNT_EVERY), fn)

        return fn

    def _adults_in_room(self, fs: FacilityState, device: Device) -> int:
        """Carers with their class in this room now (classroom, or the nap room at nap time), and parents
        dropping off or collecting there (in the classroom)."""
        cls, nap = _class_room(fs.facility, device)
        if cls is None:
            return 0
        local = self.now.astimezone(fs.tz)
        napping = 12 <= local.hour + local.minute / 60 < 14.5
        if nap != napping:
            return 0
        carers = sum(1 for p, c in self._carer_class(fs).items() if c == cls and p in fs.here and p not in fs.away)
        parents = 0
        if not nap:
            times = fs.parents.get(cls, [])
            times[:] = [t for t in times if t > self.now]
            parents = len(times)
        return carers + parents

    def _carer_class(self, fs: FacilityState) -> dict[str, str]:
        """Each carer's class: the carers in registry order, spread over the classes in order."""
        if fs.carer_class is None:
            f = fs.facility
            carers = [s.id for s in f.staff if s.cares and not s.banned and s.id < "s-9000"]
            n = len(f.classes)
            fs.carer_class = {p: f.classes[i * n // len(carers)].id for i, p in enumerate(carers)} if n else {}
        return fs.carer_class

    def whereabouts(
        self, fs: FacilityState, person: str, *, here: bool | None = None, away: bool | None = None
    ) -> None:
        """Where a person really is (not what their badge says): on site or not, away from the children."""
        if here is not None:
            (fs.here.add if here else fs.here.discard)(person)
        if away is not None:
            (fs.away.add if away else fs.away.discard)(person)

    def _children_in_room(self, fs: FacilityState, device: Device, hour: float) -> int:
        """Children of the room's class on site; nap rooms fill 12:00–14:30, classrooms otherwise."""
        cls, nap = _class_room(fs.facility, device)
        if cls is None:
            return 0
        napping = 12 <= hour < 14.5
        if nap != napping:
            return 0
        return sum(1 for c in fs.on_site_children.values() if c == cls)

    # -- people ----------------------------------------------------------------------------------
    def _plan_days_from(self, fs: FacilityState, start: datetime) -> None:
        first = start.astimezone(fs.tz).date()
        self._plan_day(fs, first)

    def _plan_day(self, fs: FacilityState, day: date) -> None:
        """Everything the facility's people do on one local day. Started in the middle of the day,
        what already happened is scheduled at its own (past) time: `run` hands it out first."""
        f = fs.facility
        tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time(), fs.tz)
        self._at(max(self.now, tomorrow.astimezone(UTC)), lambda: self._plan_day(fs, day + timedelta(days=1)))
        hours = f.opening_hours.hours_on(day)
        if hours is None or day in fs.closed_days:
            return  # weekend, holiday or a dated closure
        rng = random.Random(f"{self.seed}:{f.id}:{day.isoformat()}")
        opens = datetime.combine(day, hours[0], fs.tz)
        closes = datetime.combine(day, hours[1], fs.tz)

        def at(t: datetime, fn: Callable[[], None]) -> None:
            self._at(t.astimezone(UTC), fn)

        def minutes(lo: float, hi: float, mode: float | None = None) -> timedelta:
            return timedelta(minutes=rng.triangular(lo, hi, mode) if mode is not None else rng.uniform(lo, hi))

        regular = [s for s in f.staff if not s.banned and s.id < "s-9000"]
        self._plan_staff(fs, day, regular, (opens, closes, tomorrow), rng, at, minutes)
        points = sorted(d for d in fs.devices if fs.devices[d].device.type is DeviceType.PATROL_POINT)
        for g in (s for s in regular if s.role is StaffRole.GUARD):
            t = opens + minutes(5, 25)
            while t < closes and points:  # rounds over every checkpoint, 70-90 min apart
                for k, point in enumerate(points):
                    at(t + timedelta(minutes=2 * k), self._patrol_fn(fs, g.id, point))
                t += minutes(70, 90)
        span = (closes - opens).total_seconds() / 60
        for c in f.children:
            if rng.random() < 0.06:
                continue  # absent today
            arrive = opens + minutes(0, min(100, span / 3), 25)
            if rng.random() < LATE_PICKUP_P:  # late, but inside the grace period
                leave = closes + minutes(1, 20)
            else:
                leave = closes - minutes(0, min(120, span / 3), 30)
            at(arrive, self._child_fn(fs, "child_in", c.id, c.class_, rng.choice(c.guardians) if c.guardians else None))
            by = rng.choice(c.guardians) if c.guardians else None
            at(leave, self._child_fn(fs, "child_out", c.id, c.class_, fs.collectors.get(c.id, by)))
        for v in range(rng.choice([0, 0, 1, 1, 2])):
            vin = opens + timedelta(seconds=rng.uniform(0.2, 0.7) * span * 60)
            vid = f"v-{day.strftime('%m%d')}-{v + 1}"
            at(vin, self._access_fn(fs, "visitor_in", vid))
            at(vin + minutes(10, 45), self._access_fn(fs, "visitor_out", vid))
        if self.faults and fs.gateway_mode and rng.random() < OUTAGE_P_PER_DAY:
            down = opens + timedelta(seconds=rng.uniform(0, span * 60))
            length = minutes(3, 15)
            # An outage over before the simulation starts is not replayed: its Last Will would reach the
            # broker now, and the alert engine would report a gateway down "just now" that was back
            # hours ago (seen: the demo started at 20:25 local opened two such alerts at once).
            if down + length > self.start:
                at(down, lambda: self._outage(fs, length))

    def _plan_staff(
        self,
        fs: FacilityState,
        day: date,
        regular: list[Staff],
        times: tuple[datetime, datetime, datetime],
        rng: random.Random,
        at: Callable[[datetime, Callable[[], None]], None],
        minutes: Callable[..., timedelta],
    ) -> None:
        """The staff's badges and whereabouts on one open day (`times`: opening, closing, the next midnight)."""
        opens, closes, tomorrow = times
        for s in regular:
            if s.role is StaffRole.GUARD:  # opens the gate, locks up
                arrive, leave = opens - minutes(20, 40), closes + minutes(20, 40)
            elif s.role is StaffRole.COOK:  # breakfast
                arrive, leave = opens - minutes(35, 55), closes - minutes(0, 30)
            else:  # carers, health, manager: 5-30 min before opening, after the last pick-up
                arrive, leave = opens - minutes(5, 30), closes + minutes(5, 40)
            shift = fs.shifts.get(s.id)
            if shift is not None:  # a person of two facilities' staff (registry_gen.plant_cases)
                arrive, leave = self._shift(fs, day, shift, arrive, leave, opens, closes)
                if arrive >= leave:
                    continue  # an afternoon at a facility that closes at noon that day
            at(arrive, self._access_fn(fs, "staff_in", s.id))
            if shift != "lent":  # the lent card is used at the door, its holder is elsewhere
                at(arrive, self._where_fn(fs, s.id, True))
                at(leave, self._where_fn(fs, s.id, False))  # gone, badged out or not
            # a part-timer's badge-out is what the other facility's badge-in is judged by: they do not
            # forget it in this simulation (a forgotten one would be a double_shift the rule cannot tell)
            if self.faults and rng.random() < FORGET_BADGE_OUT_P and shift is None:
                self.truth.append(Truth(tomorrow.astimezone(UTC), fs.facility.id, "badge_out_missing", subject=s.id))
                continue  # walks out behind a colleague without badging
            at(leave, self._access_fn(fs, "staff_out", s.id))

    @staticmethod
    def _shift(
        fs: FacilityState, day: date, shift: str, arrive: datetime, leave: datetime, opens: datetime, closes: datetime
    ) -> tuple[datetime, datetime]:
        """A shared person's hours at this facility: mornings (until 12:00-12:15), afternoons (from
        13:00-13:30) when the facility is open past 14:00, or all day with the lent card first used
        mid-morning (90-120 min after opening, when the card's holder is at their own facility)."""
        r = random.Random(f"{fs.facility.id}:{day.isoformat()}:{shift}")  # its own draw: the rest stays
        noon = datetime.combine(day, datetime.min.time(), fs.tz) + timedelta(hours=12)
        if shift == "am":
            return arrive, min(leave, noon + timedelta(minutes=r.uniform(0, 15)))
        if shift == "pm":
            return noon + timedelta(minutes=r.uniform(60, 90)), leave if closes > noon + timedelta(hours=2) else noon
        return opens + timedelta(minutes=r.uniform(90, 120)), leave

    def _outage(self, fs: FacilityState, length: timedelta) -> None:
        """The uplink drops (the broker publishes the gateway's Last Will); the gateway spools."""
        if fs.uplink_down_until is not None and self.now < fs.uplink_down_until:
            return
        self.truth.append(Truth(self.now, fs.facility.id, "device_offline", device_id="gw-1"))
        self.uplink(fs, False, until=self.now + length)
        self._at(self.now + length, lambda: self.uplink(fs, True))

    def access(
        self, fs: FacilityState, kind: str, person: str | None, device: str = "door-main", **extra: object
    ) -> None:
        ds = fs.devices[device]
        body: dict[str, object] = {"msg_id": ds.next_id("a"), "ts": wire_ts(self.now + ds.skew), "type": kind}
        if person is not None:
            body["person_id"] = person
        body.update(extra)
        self.emit(fs, device, "access", body)

    def _access_fn(self, fs: FacilityState, kind: str, person: str) -> Callable[[], None]:
        def fn() -> None:
            if kind == "staff_out" and person in fs.no_badge_out:
                return
            self.access(fs, kind, person)

        return fn

    def _where_fn(self, fs: FacilityState, person: str, here: bool) -> Callable[[], None]:
        return lambda: self.whereabouts(fs, person, here=here)

    def _patrol_fn(self, fs: FacilityState, guard: str, point: str) -> Callable[[], None]:
        def fn() -> None:
            if fs.patrol_paused_until is None or self.now >= fs.patrol_paused_until:
                self.access(fs, "patrol", guard, device=point)

        return fn

    def _child_fn(self, fs: FacilityState, kind: str, child: str, cls: str, guardian: str | None) -> Callable[[], None]:
        def fn() -> None:
            if kind == "child_in":
                fs.on_site_children[child] = cls
            else:
                if child in fs.skip_collect or child not in fs.on_site_children:
                    return
                del fs.on_site_children[child]
            # the parent comes into the classroom for a minute or three: an adult the cameras count
            stay = timedelta(seconds=random.Random(f"{self.seed}:{child}:{self.now.isoformat()}").uniform(60, 180))
            fs.parents.setdefault(cls, []).append(self.now + stay)
            if fs.scanner_off_until is not None and self.now < fs.scanner_off_until:
                return  # nobody scans the children in or out
            extra = {"guardian_id": guardian} if guardian else {}
            self.access(fs, kind, child, **extra)

        return fn


def _shifts(registry: Registry) -> dict[tuple[str, str], str]:
    """(facility, staff id) -> "am" | "pm" | "lent" for the people on two facilities' staff: a record with an
    id from s-8000 to s-9000 is a person of another facility's staff (simulators.registry_gen.SHARED_FROM).
    A health-care worker works mornings where they are on the staff and afternoons at the other; anyone
    else's card is used at both all day (挂证)."""
    shared = {
        s.person: s
        for f in registry.facilities
        for s in f.staff
        if s.person is not None and "s-8000" <= s.id < "s-9000"
    }
    out: dict[tuple[str, str], str] = {}
    for f in registry.facilities:
        for s in f.staff:
            other = shared.get(s.person) if s.person is not None else None
            if other is None:
                continue
            part_time = other.role is StaffRole.HEALTH
            if other is s:
                out[(f.id, s.id)] = "pm" if part_time else "lent"
            elif part_time:
                out[(f.id, s.id)] = "am"
    return out


_NUMBERED = re.compile(r"-(?:class|nap)([0-9]+)$")


def _class_room(f: Facility, d: Device) -> tuple[str | None, bool]:
    """The class whose room a device is in, and whether it is the class's nap room: (None, False) for any
    other room. A location naming the class in brackets, "nap room 1 (toddler-1)", as registries written in
    English did; otherwise the device's number among the classes (simulators.registry_gen names them
    `…-class{i}`, `…-nap{i}`) in a room the registry types as a classroom or a nap room."""
    if "(" in d.location:
        return d.location.rsplit("(", 1)[-1].rstrip(")"), "nap room" in d.location
    m = _NUMBERED.search(d.id)
    if m is None or d.room not in {RoomType.CLASSROOM, RoomType.NAP_ROOM}:
        return None, False
    i = int(m.group(1)) - 1
    if not 0 <= i < len(f.classes):
        return None, False
    return f.classes[i].id, d.room is RoomType.NAP_ROOM
