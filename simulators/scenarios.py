"""Scenarios: at simulated time T in facility F, inject fault X; these alerts must follow.

A scenario file (YAML) looks like:

    name: smoke_alarm
    description: 午睡室烟感报警 / smoke alarm in nap room 1
    facility: 0              # index into the registry, or a facility id
    at: "10:00"              # local time on the first opening day of the run
    fault: smoke_alarm
    params: {device: smoke-nap1, minutes: 5}
    expect:
      - {rule: fire_alarm, device: smoke-nap1}

The expectations are checked by the alert engine's scenario tests; the simulator only injects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contract.registry import Child, DeviceType, Registry, StaffRole
from simulators.engine import CitySim, FacilityState, wire_ts


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str
    device: str | None = None
    subject: str | None = None
    # the alert must stay open at least this long after it opened (a child left overnight: issue #42)
    held_h: float | None = None


class RegistryPatch(BaseModel):
    """Changes to the facility's registry before the run (for rules about the registry itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    remove_devices: list[str] = Field(default_factory=list)
    add_children: dict[str, int] = Field(default_factory=dict)  # class id -> extra children


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    facility: int | str = 0
    at: time
    fault: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    registry: RegistryPatch = RegistryPatch()
    expect: list[Expectation] = Field(default_factory=list)


def apply_registry_patch(registry: Registry, scenario: Scenario) -> Registry:
    """The registry as the scenario wants it (unchanged when it has no patch)."""
    patch = scenario.registry
    if not patch.remove_devices and not patch.add_children:
        return registry
    facilities = list(registry.facilities)
    i = scenario.facility if isinstance(scenario.facility, int) else [f.id for f in facilities].index(scenario.facility)
    f = facilities[i]
    children = list(f.children)
    for cls, n in patch.add_children.items():
        children += [Child(id=f"c-extra-{cls}-{k}", class_=cls, guardians=[f"g-extra-{cls}-{k}"]) for k in range(n)]
    facilities[i] = f.model_copy(
        update={"devices": [d for d in f.devices if d.id not in patch.remove_devices], "children": children}
    )
    return Registry(facilities=facilities, people=registry.people)  # the register stays behind the staff


def load_scenario(path: Path) -> Scenario:
    return Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def builtin_scenarios() -> dict[str, Scenario]:
    out = {}
    for entry in resources.files("simulators.scenarios_data").iterdir():
        if entry.name.endswith(".yaml"):
            s = Scenario.model_validate(yaml.safe_load(entry.read_text(encoding="utf-8")))
            out[s.name] = s
    return out


def first_open_day(sim: CitySim, fs: FacilityState) -> date:
    day = sim.start.astimezone(fs.tz).date()
    while not fs.facility.opening_hours.opens_on(day):
        day += timedelta(days=1)
    return day


def facility_state(sim: CitySim, ref: int | str) -> FacilityState:
    if isinstance(ref, int):
        return list(sim.facilities.values())[ref]
    return sim.facilities[ref]


def inject(sim: CitySim, scenario: Scenario) -> tuple[FacilityState, datetime]:
    """Schedule the scenario's fault; return the facility and the injection time (UTC)."""
    fs = facility_state(sim, scenario.facility)
    day = first_open_day(sim, fs)
    t = datetime.combine(day, scenario.at, fs.tz).astimezone(sim.start.tzinfo)
    if scenario.fault is None:
        return fs, t
    fault = FAULTS.get(scenario.fault)
    if fault is None:
        raise ValueError(f"unknown fault {scenario.fault!r} (known: {', '.join(sorted(FAULTS))})")
    sim.schedule(t, lambda: fault(sim, fs, scenario.params))
    return fs, t


def inject_at(sim: CitySim, scenario: Scenario, t: datetime) -> FacilityState:
    """Inject the scenario's fault at time t instead of its `at` (the demo's timed faults)."""
    fs = facility_state(sim, scenario.facility)
    fault = FAULTS.get(scenario.fault or "")
    if fault is None:
        raise ValueError(f"scenario {scenario.name!r} has no fault to inject")
    sim.schedule(t, lambda: fault(sim, fs, scenario.params))
    return fs


# -- faults ---------------------------------------------------------------------------------------
Fault = Callable[[CitySim, FacilityState, dict[str, Any]], None]


def _device(fs: FacilityState, params: dict[str, Any], *types: DeviceType) -> str:
    if "device" in params:
        return str(params["device"])
    return next(d for d, s in fs.devices.items() if s.device.type in types)


def _later(sim: CitySim, minutes: float, fn: Callable[[], None]) -> None:
    sim.schedule(sim.now + timedelta(minutes=minutes), fn)


def _condition(sim: CitySim, fs: FacilityState, device: str, kind: str, minutes: float | None) -> None:
    ds = fs.devices[device]
    sim.emit(fs, device, "event", {"msg_id": ds.next_id("e"), "ts": wire_ts(sim.now), "type": kind, "state": "active"})
    if minutes:
        _later(
            sim,
            minutes,
            lambda: sim.emit(
                fs,
                device,
                "event",
                {"msg_id": ds.next_id("e"), "ts": wire_ts(sim.now), "type": kind, "state": "cleared"},
            ),
        )


def smoke_alarm(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    _condition(sim, fs, _device(fs, p, DeviceType.SMOKE_DETECTOR), "fire_alarm", p.get("minutes", 5))


def gas_leak(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    dev = _device(fs, p, DeviceType.GAS_DETECTOR)
    fs.devices[dev].gas_until = sim.now + timedelta(minutes=p.get("minutes", 10))
    _condition(sim, fs, dev, "gas_alarm", p.get("minutes", 10))


def panic(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    dev = _device(fs, p, DeviceType.PANIC_BUTTON)
    sim.emit(fs, dev, "event", {"msg_id": fs.devices[dev].next_id("e"), "ts": wire_ts(sim.now), "type": "panic"})


def one_off(kind: str, *types: DeviceType) -> Fault:
    def fault(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
        dev = _device(fs, p, *types)
        sim.emit(fs, dev, "event", {"msg_id": fs.devices[dev].next_id("e"), "ts": wire_ts(sim.now), "type": kind})

    return fault


def condition(kind: str, *types: DeviceType) -> Fault:
    def fault(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
        _condition(sim, fs, _device(fs, p, *types), kind, p.get("minutes"))

    return fault


def staff_leave(role: StaffRole, keep: int) -> Fault:
    """Staff of a role leave (badge out) and come back after `minutes`; `keep` of them stay."""

    def fault(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
        people = [s.id for s in fs.facility.staff if s.role is role and not s.banned and s.id < "s-9000"]
        leaving = people[p.get("keep", keep) :]
        for s in leaving:
            sim.access(fs, "staff_out", s)
        if p.get("minutes"):

            def back() -> None:
                for s in leaving:
                    sim.access(fs, "staff_in", s)

            _later(sim, p["minutes"], back)

    return fault


def camera_offline(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    dev = (
        next(d for d, s in fs.devices.items() if s.device.type is DeviceType.CAMERA and s.device.covers_child_area)
        if "device" not in p
        else p["device"]
    )
    ds = fs.devices[dev]
    ds.offline_until = sim.now + timedelta(minutes=p.get("minutes", 30))
    sim.emit(fs, dev, "status", {"ts": wire_ts(sim.now), "online": False}, retain=True)


def battery_drain(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    ds = fs.devices[_device(fs, p, DeviceType.SMOKE_DETECTOR)]
    ds.battery = p.get("to", 15.0)


def device_silent(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    ds = fs.devices[_device(fs, p, DeviceType.SMOKE_DETECTOR)]
    ds.silent_until = sim.now + timedelta(hours=p.get("hours", 24))


def extinguisher_leak(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    ds = fs.devices[_device(fs, p, DeviceType.EXTINGUISHER_GAUGE)]
    ds.leak_per_min = p.get("mpa_per_min", 0.03)


def _denied(sim: CitySim, fs: FacilityState, credential: str) -> Callable[[], None]:
    return lambda: sim.access(fs, "denied", None, credential=credential)


def denied_cards(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    for i in range(p.get("count", 3)):
        _later(sim, i * 0.5, _denied(sim, fs, f"card:unknown-{i}"))


def unauthorized_pickup(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    child = p.get("child") or next(iter(fs.on_site_children), fs.facility.children[0].id)
    fs.on_site_children.pop(child, None)
    sim.access(fs, "child_out", child, guardian_id=p.get("guardian", "g-stranger"))


def unknown_child_badge(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    """A child badge the registry does not know is scanned in (a child enrolled but never registered)."""
    sim.access(fs, "child_in", p.get("badge", "c-unknown"))  # not `child`: that names a registered one


def badge_in(person: str) -> Fault:
    """Someone badges in, and out again after `minutes` (30): a visit, not a new day's occupant."""

    def fault(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
        who = p.get("person", person)
        sim.access(fs, "staff_in", who)
        _later(sim, p.get("minutes", 30), lambda: sim.access(fs, "staff_out", who))

    return fault


def child_not_collected(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    child = p.get("child") or next(iter(fs.on_site_children), fs.facility.children[0].id)
    if child not in fs.on_site_children:  # absent today in the plan: make sure the child came
        cls = next(c.class_ for c in fs.facility.children if c.id == child)
        fs.on_site_children[child] = cls
        sim.access(fs, "child_in", child)
    fs.skip_collect.add(child)
    _later(sim, 20 * 60, lambda: fs.skip_collect.discard(child))  # that day only


def gateway_uplink_drop(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    minutes = p.get("minutes", 10)
    sim.uplink(fs, False, until=sim.now + timedelta(minutes=minutes))
    _later(sim, minutes, lambda: sim.uplink(fs, True))


def patrols_stop(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    fs.patrol_paused_until = sim.now + timedelta(hours=p.get("hours", 3))


def heating_failure(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    dev = _device(fs, p, DeviceType.ENV_SENSOR)
    ds = fs.devices[dev]
    ds.temp_offset = -p.get("drop_c", 7.0)
    _later(sim, p.get("minutes", 60), lambda: setattr(ds, "temp_offset", 0.0))


def scanner_off(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    fs.scanner_off_until = sim.now + timedelta(hours=p.get("hours", 12))


def forgot_badge_out(sim: CitySim, fs: FacilityState, p: dict[str, Any]) -> None:
    person = p.get("person", "s-0001")
    fs.no_badge_out.add(person)
    _later(sim, 20 * 60, lambda: fs.no_badge_out.discard(person))  # that day only


FAULTS: dict[str, Fault] = {
    "scanner_off": scanner_off,
    "forgot_badge_out": forgot_badge_out,
    "patrols_stop": patrols_stop,
    "heating_failure": heating_failure,
    "smoke_alarm": smoke_alarm,
    "gas_leak": gas_leak,
    "panic": panic,
    "guard_leaves": staff_leave(StaffRole.GUARD, keep=0),
    "caregiver_leaves": staff_leave(StaffRole.CAREGIVER, keep=1),
    "camera_offline": camera_offline,
    "battery_drain": battery_drain,
    "device_silent": device_silent,
    "extinguisher_leak": extinguisher_leak,
    "exit_locked": condition("exit_locked", DeviceType.EXIT_DOOR),
    "door_forced": one_off("door_forced", DeviceType.EXIT_DOOR),
    "door_held_open": condition("door_held_open", DeviceType.EXIT_DOOR),
    "device_fault": condition("fault", DeviceType.SMOKE_DETECTOR),
    "denied_cards": denied_cards,
    "unauthorized_pickup": unauthorized_pickup,
    "banned_badge": badge_in("s-9001"),
    "expired_cert_badge": badge_in("s-9002"),
    "unknown_badge": badge_in("s-unknown"),
    "unknown_child_badge": unknown_child_badge,
    "child_not_collected": child_not_collected,
    "gateway_uplink_drop": gateway_uplink_drop,
    "after_hours_visitor": lambda sim, fs, p: sim.access(fs, "visitor_in", p.get("person", "v-late")),
}
