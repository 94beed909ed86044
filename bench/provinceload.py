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

Writes `--report` (JSON) when the messages are ready, then waits for the file `<report>.go` (the
harness takes its baseline meanwhile); at the end it rewrites the report with `published`, `seconds`,
its own `cpu_s`, `by_channel` and `injected` ([facility, rule, wall time of the injected message]).
"""

from __future__ import annotations

import argparse
import json
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
WARM_UP = timedelta(minutes=1)  # flushes the backfill of the day so far (simulators.engine)


def generate(
    facilities: int, seed: int, minutes: float, inject_every_s: float, start: datetime, root: str
) -> tuple[list[tuple[float, str, bytes, bool]], list[tuple[str, str, float]]]:
    """(offset from start in seconds, topic, payload, retain) in time order, and the injections."""
    reg = generate_registry(facilities, seed=seed)
    sim = CitySim(reg, seed, start - WARM_UP)
    for _ in sim.run(start):
        pass
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
    out: list[tuple[float, str, bytes, bool]] = []
    for ev in sim.run(start + timedelta(minutes=minutes)):
        if isinstance(ev, SimMessage):
            topic = Topic(ev.facility_id, ev.device_id, Channel(ev.channel)).render(root)
            out.append(((ev.at - start).total_seconds(), topic, ev.payload, ev.retain))
    return out, injected


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


def publish(
    host: str, port: int, msgs: list[tuple[float, str, bytes, bool]], t0_wall: float, shift: timedelta
) -> tuple[int, float]:
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
    msgs, injected = generate(a.facilities, a.seed, a.minutes, a.inject_every, start, a.root)
    by_channel = Counter(topic.rsplit("/", 1)[1] for _, topic, _, _ in msgs)
    a.report.write_text(json.dumps({"ready": True, "messages": len(msgs)}))
    go = a.report.with_suffix(".go")
    while not go.exists():  # the harness takes its baseline first
        time.sleep(0.05)
    t0_mono, wall0 = time.monotonic() + 0.2, time.time() + 0.2
    shift = datetime.fromtimestamp(wall0, UTC) - start
    cpu0 = time.process_time()
    n, seconds = publish("127.0.0.1", a.port, msgs, t0_mono, shift)
    a.report.write_text(
        json.dumps(
            {
                "ready": True,
                "messages": len(msgs),
                "started": wall0,
                "published": n,
                "seconds": seconds,
                "cpu_s": time.process_time() - cpu0,
                "late_p99_s": sorted(LATE)[int(0.99 * (len(LATE) - 1))] if LATE else 0.0,
                "by_channel": dict(by_channel),
                "injected": [(f, r, wall0 + off) for f, r, off in injected],
            }
        )
    )


if __name__ == "__main__":
    main()
