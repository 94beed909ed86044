"""The publisher of `carewatch bench province`: a province's traffic, pre-generated, then sent in real time.

Runs as its own process (`python -m bench.provinceload ...`) so that its work is not the services'.
The simulator (simulators.engine.CitySim, faults on: missed heartbeats, duplicates, skewed clocks,
gateway spools replayed after uplink cuts) produces `--minutes` of traffic for the registry that
`simulators.registry_gen.generate_registry(facilities, seed)` makes, starting one week before now
(same weekday, about the same local hour) after a warm-up that is thrown away. Every `--inject-every`
simulated seconds a life-safety scenario (smoke alarm, gas leak, panic button, in turn) is injected
at another facility. Building all of it takes minutes at 5,000 facilities, so it is done before the
first message goes out; the messages are then published at their own times shifted to now (every
timestamp in a payload moves by the same shift), so ingest and the alert engine see today's clock.

The warm-up's messages are the day so far: the morning's badges (who is on site), the first statuses.
They are sent apart, before the run (`morning`), as a real province's engine would know them from its
database: writes `--report` (JSON) when the messages are ready, waits for the file `<report>.morning`
(the harness has started ingest alone), sends the day so far at once and says so in the report
(`morning_sent`); the harness lets ingest store it, starts the alert engine and the web, which start
from what is stored, and takes its baseline. It then touches `<report>.go`; at the end the report is
rewritten with `published`, `seconds`, its own `cpu_s`, `by_channel` and `injected` ([facility, rule,
wall time of the injected message]).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

from contract.topics import Channel, Topic
from simulators.engine import CitySim, SimMessage
from simulators.registry_gen import generate_registry
from simulators.scenarios import builtin_scenarios, inject_at

SCENARIOS = (("smoke_alarm", "fire_alarm"), ("gas_leak", "gas_alarm"), ("panic_button", "panic_button"))
TS = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?)Z"')
WARM_UP = timedelta(minutes=1)  # flushes the backfill of the day so far (simulators.engine): the morning
Message = tuple[float, str, bytes, bool]  # offset from the start in seconds, topic, payload, retain


def generate(
    facilities: int, seed: int, minutes: float, inject_every_s: float, start: datetime, root: str
) -> tuple[list[Message], list[tuple[str, str, float]], list[Message]]:
    """The run's messages in time order, the injections, and the day before the start (the morning)."""
    reg = generate_registry(facilities, seed=seed)
    sim = CitySim(reg, seed, start - WARM_UP)
    morning = [_message(ev, start, root) for ev in sim.run(start) if isinstance(ev, SimMessage)]
    scenarios = builtin_scenarios()
    ids = [f.id for f in reg.facilities]
    injected: list[tuple[str, str, float]] = []
    k, t = 0, inject_every_s
    while t < minutes * 60 - 60:  # the last minute free: its alerts have time to arrive
        name, rule = SCENARIOS[k % len(SCENARIOS)]
        fid = ids[(k * 7919 + 11) % len(ids)]  # spread over the province, never the same twice in a row
        inject_at(sim, scenarios[name].model_copy(update={"facility": fid, "params": {}}), start + timedelta(seconds=t))
        injected.append((fid, rule, t))
        k, t = k + 1, t + inject_every_s
    out = [
        _message(ev, start, root) for ev in sim.run(start + timedelta(minutes=minutes)) if isinstance(ev, SimMessage)
    ]
    return out, injected, morning


def _message(ev: SimMessage, start: datetime, root: str) -> Message:
    topic = Topic(ev.facility_id, ev.device_id, Channel(ev.channel)).render(root)
    return (ev.at - start).total_seconds(), topic, ev.payload, ev.retain


def write_report(path: Path, report: dict[str, object]) -> None:
    """Whole or not at all: the harness reads the report while this process runs."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report))
    os.replace(tmp, path)


def shift_payload(payload: bytes, shift: timedelta, cache: dict[bytes, bytes]) -> bytes:
    def sub(m: re.Match[bytes]) -> bytes:
        old = m.group(1)
        new = cache.get(old)
        if new is None:
            t = datetime.fromisoformat(old.decode()) + shift
            new = t.isoformat(timespec="milliseconds").encode()
            if len(cache) > 100_000:
                cache.clear()
            cache[old] = new
        return b'"' + new + b'Z"'

    return TS.sub(sub, payload)


LATE: list[float] = []  # how far behind its schedule the publisher was (every 100th message)


def publish(host: str, port: int, msgs: list[Message], t0_wall: float, shift: timedelta) -> tuple[int, float]:
    """Send each message at its offset from t0_wall (monotonic), its timestamps moved by `shift`
    (one QoS 1 connection, a window of 5,000 in flight)."""
    window = threading.Semaphore(5000)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-province-load", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    c.on_publish = lambda *_a: window.release()
    c.connect(host, port, keepalive=60)
    c.loop_start()
    cache: dict[bytes, bytes] = {}
    n = 0
    try:
        for offset, topic, payload, retain in msgs:
            delay = t0_wall + offset - time.monotonic()
            if n % 100 == 0:
                LATE.append(max(0.0, -delay))
            if delay > 0.002:
                time.sleep(delay)
            window.acquire()
            c.publish(topic, shift_payload(payload, shift, cache), qos=1, retain=retain)
            n += 1
        for _ in range(5000):  # every message acknowledged by the broker
            if not window.acquire(timeout=120):
                raise TimeoutError("the broker did not acknowledge every message")
    finally:
        c.disconnect()
        c.loop_stop()
    return n, time.monotonic() - t0_wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", default="cw/v1")
    ap.add_argument("--facilities", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--inject-every", type=float, default=20.0)
    ap.add_argument("--report", type=Path, required=True)
    a = ap.parse_args()
    # one week ago: the same weekday and about the same local hour as the run itself
    start = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)
    msgs, injected, morning = generate(a.facilities, a.seed, a.minutes, a.inject_every, start, a.root)
    by_channel = Counter(topic.rsplit("/", 1)[1] for _, topic, _, _ in msgs)
    ready: dict[str, object] = {"ready": True, "messages": len(msgs), "morning": len(morning)}
    write_report(a.report, ready)
    go, early = a.report.with_suffix(".go"), a.report.with_suffix(".morning")
    while not go.exists() and not early.exists():
        time.sleep(0.05)
    if early.exists():  # the day so far, at once, its times moved to today's (a few seconds before the run's)
        sent, _ = publish("127.0.0.1", a.port, morning, time.monotonic(), datetime.now(UTC) - start)
        LATE.clear()  # hours "late" by design: not the publisher's lag
        write_report(a.report, {**ready, "morning_sent": sent})
    while not go.exists():  # the harness takes its baseline first
        time.sleep(0.05)
    t0_mono, wall0 = time.monotonic() + 0.2, time.time() + 0.2
    shift = datetime.fromtimestamp(wall0, UTC) - start
    cpu0 = time.process_time()
    n, seconds = publish("127.0.0.1", a.port, msgs, t0_mono, shift)
    write_report(
        a.report,
        {
            **ready,
            "started": wall0,
            "published": n,
            "seconds": seconds,
            "cpu_s": time.process_time() - cpu0,
            "late_p99_s": sorted(LATE)[int(0.99 * (len(LATE) - 1))] if LATE else 0.0,
            "by_channel": dict(by_channel),
            "injected": [(f, r, wall0 + off) for f, r, off in injected],
        },
    )


if __name__ == "__main__":
    main()
