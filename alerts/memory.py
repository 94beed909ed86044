"""What the rules of one facility remember that nothing stored by ingest gives back (issue #42 item 1).

A start rebuilds most of a facility's state from what ingest stored: device state, the day's access
events, alarms still active (alerts.service). It cannot rebuild what the rules decided from events
that are over, or from readings a device will not repeat at once: a one-off alert inside its hold (a
panic, a forced door, an after-hours entry, repeated refusals, an unauthorised pick-up) and its clear
time, the hysteresis of a reading condition (a gas level between its clear and alarm levels, a
battery latched low) with the readings behind it, the refusals counted towards `repeated_access_denied`,
the children still on site since a day's end (the replay covers the facility's day only), and since
when the facility has been watched (the day's patrols and attendance are judged only on a day seen
whole). Forgotten, a restart cleared a panic alert at once and closed the minor one-offs
outright. `snapshot` writes them as plain JSON (the service keeps it in `rule_memory`, migration 030);
`restore` gives them back after the start's replay. A restart at any moment then changes no alert.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from contract.rules import Condition, Key

if TYPE_CHECKING:
    from alerts.facility import FacilityRuntime

# How long before a start the memory was saved for the facility to count as watched since its earlier
# start: a restart, not an outage. Longer, and the day's data may have gaps the previous engine never
# saw filled (the platform down too); the patrol and attendance rules then wait for a day seen whole.
RESUME_GAP_S = 600.0


def snapshot(rt: FacilityRuntime, now: datetime) -> dict[str, Any]:
    """What a start could not rebuild, as JSON-able data ({} when there is nothing to remember but the
    start time)."""
    out: dict[str, Any] = {"watched_from": rt.started.isoformat()}
    if rt.pulses:
        out["pulses"] = [
            [
                k.rule,
                k.device_id,
                k.subject,
                until.isoformat(),
                c.severity,
                c.summary,
                c.summary_en,
                reported,
                c.at.isoformat() if c.at is not None else None,
                c.cause,
            ]
            for k, (until, c, reported) in sorted(rt.pulses.items(), key=lambda kv: _key_order(kv[0]))
        ]
    if rt.latched_readings:
        latched = sorted(rt.latched_readings)
        out["latched"] = [list(k) for k in latched]
        devs = sorted({dev for _, dev in latched})
        out["readings"] = {dev: dict(rt.devices[dev].readings) for dev in devs if dev in rt.devices}
    window = timedelta(seconds=rt.rules["repeated_access_denied"].thresholds["window_s"])
    denied = {dev: [t.isoformat() for t in q if now - t <= window] for dev, q in sorted(rt.denied.items())}
    denied = {dev: ts for dev, ts in denied.items() if ts}
    if denied:
        out["denied"] = denied
    if rt.children_overnight:
        out["overnight"] = {c: t.isoformat() for c, t in sorted(rt.children_overnight.items())}
    return out


def restore(rt: FacilityRuntime, memory: Mapping[str, Any], saved_at: datetime, now: datetime) -> None:
    """Give a facility back what `snapshot` saved at `saved_at`, after the start's replay (which leaves
    no one-off alert behind: theirs are these)."""
    for rule, device, subject, until, severity, summary, summary_en, reported, *more in memory.get("pulses", ()):
        at, cause = [*more, None, None][:2]  # when it happened and why it was late (alerts occurred_at)
        if rule in rt.rules:
            cond = Condition(severity, summary, summary_en, at=datetime.fromisoformat(at) if at else None, cause=cause)
            rt.pulses[Key(rule, device, subject)] = (datetime.fromisoformat(until), cond, bool(reported))
    for rule, dev in memory.get("latched", ()):
        if dev in rt.devices:
            rt.latched_readings.add((rule, dev))
    for dev, readings in memory.get("readings", {}).items():
        d = rt.devices.get(dev)
        if d is not None and not d.readings:  # a reading heard since the start is newer
            d.readings.update({m: float(v) for m, v in readings.items()})
    for dev, times in memory.get("denied", {}).items():
        q = rt.denied.setdefault(dev, deque())
        merged = sorted({*q, *(datetime.fromisoformat(t) for t in times)})
        q.clear()
        q.extend(merged)
    for child, since in memory.get("overnight", {}).items():
        rt.children_overnight.setdefault(child, datetime.fromisoformat(since))
    watched = memory.get("watched_from")
    if watched is not None and (now - saved_at).total_seconds() <= RESUME_GAP_S:
        rt.started = min(rt.started, datetime.fromisoformat(watched))


def _key_order(k: Key) -> tuple[str, str, str]:
    return k.rule, k.device_id or "", k.subject or ""
