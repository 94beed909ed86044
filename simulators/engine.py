"""The simulation engine: facilities, devices and people producing contract messages in time order.

Deterministic: every random choice comes from a generator seeded by (seed, facility, day) or
(seed, facility, device), never from wall time, so the same seed gives byte-identical streams.
Timestamps on the wire are simulated time.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from contract.registry import LIFE_SAFETY_TYPES, Device, DeviceType, Facility, Registry, StaffRole

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
    skip_collect: set[str] = field(default_factory=set)
    patrol_paused_until: datetime | None = None


class CitySim:
    """All facilities of a registry on one simulated clock."""

    def __init__(self, registry: Registry, seed: int, start: datetime, *, gateway_share: float = 0.3) -> None:
        self.seed = seed
        self.start = start
        self.now = start
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._out: list[SimEvent] = []
        self.facilities: dict[str, FacilityState] = {}
        for i, f in enumerate(registry.facilities):
            frng = random.Random(f"{seed}:{f.id}")
            devices = {
                d.id: DeviceState(d, random.Random(f"{seed}:{f.id}:{d.id}"), battery=frng.uniform(60, 100))
                for d in f.devices
            }
            has_gw = any(d.type is DeviceType.GATEWAY for d in f.devices)
            fs = FacilityState(f, i, ZoneInfo(f.timezone), devices, has_gw and frng.random() < gateway_share)
            self.facilities[f.id] = fs
            for ds in devices.values():
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
        if fs.uplink_down_until is not None and self.now < fs.uplink_down_until:
            return  # the uplink is down: nothing reaches the broker (store-and-forward is the gateway's job)
        if fs.gateway_mode and device_id != "gw-1":
            fs.pending_batch.append({"device_id": device_id, "channel": channel, "payload": body})
            if len(fs.pending_batch) >= 100:
                self._flush_batch(fs)
            return
        self._out.append(SimMessage(self.now, fs.facility.id, device_id, channel, encode(body), retain))

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
            fs.pending_batch.clear()
            fs.uplink_down_until = until
        else:
            fs.uplink_down_until = None
        self._out.append(Uplink(self.now, fs.facility.id, up))
        if up:  # the gateway announces itself again
            self.emit(fs, "gw-1", "status", {"ts": wire_ts(self.now), "online": True, "heartbeat_s": 30}, retain=True)

    # -- devices ---------------------------------------------------------------------------------
    def _alive(self, ds: DeviceState) -> bool:
        return ds.silent_until is None or self.now >= ds.silent_until

    def _heartbeat_fn(self, fs: FacilityState, ds: DeviceState) -> Callable[[], None]:
        d = ds.device

        def fn() -> None:
            hours = d.heartbeat_s / 3600
            ds.battery = max(0.0, ds.battery - ds.battery_drain_per_h * hours)
            if self._alive(ds) and not (ds.offline_until and self.now < ds.offline_until):
                body: dict[str, object] = {"ts": wire_ts(self.now), "online": True, "heartbeat_s": d.heartbeat_s}
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
                        {"msg_id": ds.next_id("t"), "ts": wire_ts(self.now), "readings": readings},
                    )
            self._at(self.now + timedelta(seconds=every), fn)

        return fn

    def _readings(self, fs: FacilityState, ds: DeviceState) -> dict[str, float]:
        d, rng = ds.device, ds.rng
        local = self.now.astimezone(fs.tz)
        hour = local.hour + local.minute / 60
        if d.type is DeviceType.ENV_SENSOR:
            present = self._children_in_room(fs, d.location, hour)
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

    def _children_in_room(self, fs: FacilityState, location: str, hour: float) -> int:
        """Children of the room's class on site; nap rooms fill 12:00–14:30, classrooms otherwise."""
        cls = location.rsplit("(", 1)[-1].rstrip(")") if "(" in location else None
        if cls is None:
            return 0
        napping = 12 <= hour < 14.5
        if ("nap room" in location) != napping:
            return 0
        return sum(1 for c in fs.on_site_children.values() if c == cls)

    # -- people ----------------------------------------------------------------------------------
    def _plan_days_from(self, fs: FacilityState, start: datetime) -> None:
        first = start.astimezone(fs.tz).date()
        self._plan_day(fs, first)

    def _plan_day(self, fs: FacilityState, day: date) -> None:
        f = fs.facility
        tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time(), fs.tz)
        self._at(max(self.now, tomorrow.astimezone(UTC)), lambda: self._plan_day(fs, day + timedelta(days=1)))
        if not f.opening_hours.opens_on(day):
            return
        rng = random.Random(f"{self.seed}:{f.id}:{day.isoformat()}")
        opens = datetime.combine(day, f.opening_hours.open, fs.tz)
        closes = datetime.combine(day, f.opening_hours.close, fs.tz)

        def at(t: datetime, fn: Callable[[], None]) -> None:
            # Started mid-day: what should already have happened happens at the start, in order
            # (an arrival and its departure both past: in, then out), so the day is consistent.
            self._at(max(t.astimezone(UTC), self.now), fn)

        regular = [s for s in f.staff if not s.banned and s.id < "s-9000"]
        for s in regular:
            if s.role is StaffRole.GUARD:
                arrive = opens - timedelta(minutes=rng.uniform(20, 40))
                leave = closes + timedelta(minutes=rng.uniform(20, 40))
            else:
                arrive = opens + timedelta(seconds=rng.uniform(0, 600))
                leave = closes + timedelta(seconds=rng.uniform(60, 1200))
            at(arrive, self._access_fn(fs, "staff_in", s.id))
            at(leave, self._access_fn(fs, "staff_out", s.id))
        for g in (s for s in regular if s.role is StaffRole.GUARD):
            t = opens + timedelta(minutes=rng.uniform(5, 30))
            while t < closes:
                at(
                    t,
                    self._patrol_fn(
                        fs,
                        g.id,
                        rng.choice([d for d in fs.devices if fs.devices[d].device.type is DeviceType.PATROL_POINT]),
                    ),
                )
                t += timedelta(minutes=rng.uniform(60, 100))
        for c in f.children:
            if rng.random() < 0.06:
                continue  # absent today
            arrive = opens + timedelta(seconds=rng.uniform(10 * 60, 90 * 60))
            leave = closes - timedelta(seconds=rng.uniform(5 * 60, 90 * 60))
            guardian = rng.choice(c.guardians) if c.guardians else None
            at(arrive, self._child_fn(fs, "child_in", c.id, c.class_, guardian))
            at(leave, self._child_fn(fs, "child_out", c.id, c.class_, rng.choice(c.guardians) if c.guardians else None))
        for v in range(rng.choice([0, 0, 1, 1, 2])):
            vin = opens + timedelta(seconds=rng.uniform(2 * 3600, 7 * 3600))
            vid = f"v-{day.strftime('%m%d')}-{v + 1}"
            at(vin, self._access_fn(fs, "visitor_in", vid))
            at(vin + timedelta(minutes=rng.uniform(10, 45)), self._access_fn(fs, "visitor_out", vid))

    def access(
        self, fs: FacilityState, kind: str, person: str | None, device: str = "door-main", **extra: object
    ) -> None:
        body: dict[str, object] = {"msg_id": fs.devices[device].next_id("a"), "ts": wire_ts(self.now), "type": kind}
        if person is not None:
            body["person_id"] = person
        body.update(extra)
        self.emit(fs, device, "access", body)

    def _access_fn(self, fs: FacilityState, kind: str, person: str) -> Callable[[], None]:
        return lambda: self.access(fs, kind, person)

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
            extra = {"guardian_id": guardian} if guardian else {}
            self.access(fs, kind, child, **extra)

        return fn
