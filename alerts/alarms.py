"""Alarms and doors (CONTRACT §4): fire, gas and CO alarms, device faults, exits locked or held open,
panic buttons and forced doors, as conditions while active or pulses after a one-off event."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from contract.labels import label
from contract.names import ref
from contract.payloads import Event
from contract.registry import DeviceType
from contract.rules import CLOCK_SKEW_S, Condition, Key

if TYPE_CHECKING:
    from alerts.view import FacilityState, FacilityView

CONDITION_EVENTS = {
    "fire_alarm",
    "gas_alarm",
    "co_alarm",
    "fault",
    "tamper",
    "power_fail",
    "door_held_open",
    "exit_locked",
    "exit_blocked",
    "water_leak",
    "battery_low",
}
EVENT_RULE = {
    "fire_alarm": "fire_alarm",
    "gas_alarm": "gas_alarm",
    "co_alarm": "gas_alarm",
    "fault": "device_fault",
    "tamper": "device_fault",
    "power_fail": "device_fault",
}


def on_event(rt: FacilityState, dev: str, e: Event, at: datetime) -> None:
    t = e.type.value
    if t in CONDITION_EVENTS:
        last = rt.event_last.get((dev, t))
        if last is not None and at < last:
            return  # a state change older than one already applied (a late replay): history, not now
        rt.event_last[(dev, t)] = at
        if e.state == "active":
            if (dev, t) in rt.active_events and t in EVENT_RULE:
                rt.retriggered.append(Key(EVENT_RULE[t], dev))
            elif (dev, t) not in rt.active_events:
                rt.event_began[(dev, t)] = (at, rt.heard_cause)  # its alert's occurred_at (contract.occurred)
            rt.active_events.add((dev, t))
        else:
            if (dev, t) in rt.active_events and rt.heard is not None and (rt.heard - at).total_seconds() > CLOCK_SKEW_S:
                _ended_late(rt, dev, t, at)
            rt.active_events.discard((dev, t))
            rt.event_began.pop((dev, t), None)
    elif t == "panic":
        rt.pulse(
            Key("panic_button", dev),
            at,
            f"一键报警被按下（{ref('device', dev)}）",
            f"panic button pressed ({ref('device', dev)})",
        )
    elif t == "door_forced":
        rt.pulse(
            Key("door_forced", dev),
            at,
            f"门被强行打开（{ref('device', dev)}）",
            f"door forced open ({ref('device', dev)})",
        )


def conditions(rt: FacilityView, out: dict[Key, Condition], now: datetime) -> None:
    open_now = rt.is_open(now)
    for dev, t in rt.active_events:
        # when it began by its own time (an exit found locked before opening began to matter at opening:
        # that alert has no time of its own but the engine's)
        found = _condition(rt, dev, t, rt.event_began.get((dev, t)), open_now)
        if found is not None:
            out[found[0]] = found[1]


def _condition(
    rt: FacilityView, dev: str, t: str, began: tuple[datetime, str | None] | None, open_now: bool
) -> tuple[Key, Condition] | None:
    """The alert an active condition event of `dev` stands for, if any (`open_now`: the facility is open)."""
    if t == "fire_alarm":
        return Key("fire_alarm", dev), rt.cond(
            "fire_alarm", f"火灾报警（{ref('device', dev)}）", f"fire alarm ({ref('device', dev)})", began=began
        )
    if t in {"gas_alarm", "co_alarm"}:
        return Key("gas_alarm", dev), rt.cond(
            "gas_alarm",
            f"燃气/一氧化碳报警（{ref('device', dev)}）",
            f"gas/CO alarm ({ref('device', dev)})",
            began=began,
        )
    if t == "water_leak":
        return Key("environment_out_of_range", dev), rt.cond(
            "environment_out_of_range",
            f"漏水（{ref('device', dev)}）",
            f"water leak ({ref('device', dev)})",
            for_s=0,
            began=began,
        )
    if t == "battery_low":
        return Key("low_battery", dev), rt.cond(
            "low_battery", f"电量低（{ref('device', dev)}）", f"battery low ({ref('device', dev)})", began=began
        )
    if t in {"fault", "tamper", "power_fail"}:
        return Key("device_fault", dev), rt.cond(
            "device_fault",
            f"设备故障：{label('event', t, 'zh')}（{ref('device', dev)}）",
            f"device {label('event', t, 'en').lower()} ({ref('device', dev)})",
            began=began,
        )
    if t in {"exit_locked", "exit_blocked"} and open_now:
        return Key("exit_obstructed", dev), rt.cond(
            "exit_obstructed",
            f"开放时间安全出口受阻（{ref('device', dev)}）",
            f"fire exit obstructed during opening hours ({ref('device', dev)})",
        )
    if t == "door_held_open" and rt.devices.get(dev) and rt.devices[dev].type is DeviceType.EXIT_DOOR:
        held = rt.rules["exit_obstructed"].thresholds["held_open_s"]
        return Key("exit_obstructed", dev), rt.cond(
            "exit_obstructed",
            f"安全出口长时间未关（{ref('device', dev)}）",
            f"fire exit held open ({ref('device', dev)})",
            for_s=held,
            began=began,
        )
    return None


def _ended_late(rt: FacilityState, dev: str, t: str, ended: datetime) -> None:
    """A condition event's end that came late (a gateway's spool): the episode, with when it began and when it
    ended, goes to the engine (`ended_events`: alerts.engine AlertEngine._ended), which decides it as it would
    have been decided live. Its start and end may both have come in the same spool, before any evaluation saw
    it active: judged only by the state at the next evaluation, a fire exit held open for 15 minutes while the
    uplink was down raised nothing, and a fire alarm's alert lasted the second between the two messages."""
    began = rt.event_began.get((dev, t))
    if began is None:
        return
    open_then = rt.is_open(began[0]) or rt.is_open(ended)
    found = _condition(rt, dev, t, began, open_then)
    if found is not None:
        rt.ended_events.append((found[0], found[1], began[0], ended))
