"""A load publisher: pre-built contract messages published as fast as the broker takes them.

Runs as its own process (`python -m simulators.loadgen ...`) so that benchmarks measure the
system, not a publisher sharing its interpreter. Prints one JSON line: {"published": n, "seconds": s}.
Knows only the contract (topics and payload shapes).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from contract.topics import Channel, Topic


def facility_ids(n: int) -> list[str]:
    return [f"load-{i:04d}" for i in range(n)]


def device_ids(n: int) -> list[str]:
    return [f"dev-{j:03d}" for j in range(n)]


def _start() -> datetime:
    """The first message's time: 08:00 UTC two days ago, inside ingest's time bounds whenever it runs."""
    return datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=2)


def poisoned(i: int, poison: float) -> bool:
    """Whether message i of a run with this fraction of poison messages is one of them (evenly spread)."""
    if poison <= 0:
        return False
    every = max(1, round(1 / poison))
    return i % every == every // 2


def telemetry_messages(
    root: str, n: int, facilities: int, devices: int, run: str, poison: float = 0.0
) -> Iterator[tuple[str, bytes]]:
    """n single-sample telemetry messages, round-robin over facilities × devices. With `poison`, that
    fraction of them is what the issue "Security hardening" saw slow a whole batch down: half carry a
    NUL character in their msg_id, half a broken clock's year-0001 timestamp."""
    fids, dids = facility_ids(facilities), device_ids(devices)
    t0 = _start()
    bad = 0
    for i in range(n):
        f, d = fids[i % facilities], dids[(i // facilities) % devices]
        ts = (t0 + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
        body = {"msg_id": f"{run}-{i}", "ts": ts, "readings": {"temperature_c": 20 + (i % 50) / 10}}
        if poisoned(i, poison):
            bad += 1
            if bad % 2:
                body["msg_id"] = f"{run}-{i}\x00"
            else:
                body["ts"] = "0001-01-01T00:00:00Z"
        yield Topic(f, d, Channel.TELEMETRY).render(root), json.dumps(body, separators=(",", ":")).encode()


def batch_messages(
    root: str, n: int, facilities: int, devices: int, run: str, per_batch: int = 100
) -> Iterator[tuple[str, bytes]]:
    """n gateway `batch` messages of per_batch telemetry readings each (gateway = device 0)."""
    fids, dids = facility_ids(facilities), device_ids(devices)
    t0 = _start()
    for i in range(n):
        f = fids[i % facilities]
        items = []
        for k in range(per_batch):
            ts = (t0 + timedelta(milliseconds=i * per_batch + k)).isoformat().replace("+00:00", "Z")
            items.append(
                {
                    "device_id": dids[1 + k % (devices - 1)],
                    "channel": "telemetry",
                    "payload": {"msg_id": f"{run}-{i}-{k}", "ts": ts, "readings": {"co2_ppm": 400 + k}},
                }
            )
        body = {"msg_id": f"{run}-b{i}", "messages": items}
        yield Topic(f, dids[0], Channel.BATCH).render(root), json.dumps(body, separators=(",", ":")).encode()


def publish(
    host: str,
    port: int,
    messages: list[tuple[str, bytes]],
    window: int = 2000,
    username: str | None = None,
    password: str | None = None,
    rate: float | None = None,
) -> float:
    """Publish QoS 1 with a bounded in-flight window; return seconds until the broker acked all."""
    sem = threading.Semaphore(window)
    done = threading.Event()
    acked = 0
    lock = threading.Lock()

    def on_publish(*_a: object) -> None:
        nonlocal acked
        sem.release()
        with lock:
            acked += 1
            if acked == len(messages):
                done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username:
        client.username_pw_set(username, password)
    client.max_inflight_messages_set(0)  # unlimited: the semaphore keeps the window (paho's own is slow)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    try:
        t0 = time.perf_counter()
        for i, (topic, body) in enumerate(messages):
            if rate and i % 100 == 0:  # pace to about `rate` messages a second
                ahead = i / rate - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            sem.acquire()
            client.publish(topic, body, qos=1)
        if messages and not done.wait(600):
            raise TimeoutError("broker did not acknowledge every message")
        return time.perf_counter() - t0
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root", default="cw/v1")
    p.add_argument("--kind", choices=["telemetry", "batch"], default="telemetry")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--facilities", type=int, default=50)
    p.add_argument("--devices", type=int, default=40)
    p.add_argument("--run", default="r0", help="msg_id prefix (distinct per run)")
    p.add_argument("--rate", type=float, default=None, help="messages a second (default: as fast as possible)")
    p.add_argument("--poison", type=float, default=0.0, help="fraction of poison messages (telemetry only)")
    a = p.parse_args(argv)
    if a.kind == "telemetry":
        msgs = list(telemetry_messages(a.root, a.n, a.facilities, a.devices, a.run, a.poison))
    else:
        msgs = list(batch_messages(a.root, a.n, a.facilities, a.devices, a.run))
    print(json.dumps({"ready": len(msgs)}), flush=True)
    secs = publish(a.host, a.port, msgs, rate=a.rate)
    print(json.dumps({"published": len(msgs), "seconds": round(secs, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
