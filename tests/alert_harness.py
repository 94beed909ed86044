"""Driving the pure alert engine with the simulators (no broker, no database): fast and exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.engine import AlertEngine
from alerts.tracker import Decision
from contract.payloads import Batch, Payload, Status, TypedBatch, expand_batch, parse_payload
from contract.registry import Registry
from contract.rules import RuleConfig, load_rules
from contract.topics import Channel
from simulators.engine import CitySim, SimMessage, Uplink

MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def payloads(ev: SimMessage) -> Iterator[tuple[str, Payload]]:
    p = parse_payload(Channel(ev.channel), ev.payload)
    if isinstance(p, Batch | TypedBatch):
        for u in expand_batch(p):
            assert u.payload is not None, u.error  # the simulator sends only valid items
            yield u.device_id, u.payload
    else:
        yield ev.device_id, p


def drive_engine(
    sim: CitySim,
    registry: Registry,
    until: datetime,
    *,
    rules: dict[str, RuleConfig] | None = None,
    tick: timedelta = timedelta(seconds=10),
) -> list[tuple[str, Decision]]:
    """Feed every simulated message to the engine as it arrives, ticking the clock. What happened before
    the start (the day so far, backfilled with its own times) arrives at the start."""
    engine = AlertEngine(registry.facilities, rules or load_rules(None), started=sim.now)
    start = sim.now
    out: list[tuple[str, Decision]] = []
    t = sim.now
    while t < until:
        t = min(t + tick, until)
        for ev in sim.run(t):
            if isinstance(ev, Uplink):
                if not ev.up:  # what the broker delivers: the gateway's Last Will
                    gw = next(
                        d.id
                        for f in registry.facilities
                        if f.id == ev.facility_id
                        for d in f.devices
                        if d.type.value == "gateway"
                    )
                    out += [
                        (ev.facility_id, d) for d in engine.on_message(ev.facility_id, gw, Status(online=False), ev.at)
                    ]
                continue
            arrived = max(ev.at, start)
            for dev, p in payloads(ev):
                out += [(ev.facility_id, d) for d in engine.on_message(ev.facility_id, dev, p, arrived)]
        out += engine.on_tick(t)
    return out
