"""A consumer that does nothing but receive and acknowledge, through ingest's own MQTT layer.

`python -m bench.mqttsink URL CLIENT_ID TOPIC N` drains N messages from its persistent session with
`runtime.mqtt_source.MqttSource` (paho in a thread, the same receive window and manual acks as
ingest) and prints one JSON line: {"msgs_per_s", "connect_s"}. With `--session-only` it connects,
subscribes and leaves, so that the broker queues a backlog for it.

Used by `bench drain` to split ingest's gap to the C `mosquitto_sub` into what Python's MQTT client
costs (this sink) and what ingest's own work costs (decode, validation, the database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from runtime.mqtt_source import MqttSource


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    t_start = time.perf_counter()
    src = MqttSource(args.url, args.client_id, args.topic, receive_maximum=args.receive_maximum, session_expiry_s=3600)
    src.start(wake_at=500)
    try:
        while not src.connected:
            if time.perf_counter() - t_start > 30:
                raise SystemExit("the broker did not accept the connection")
            await asyncio.sleep(0.005)
        t_conn = time.perf_counter()
        if args.session_only:
            await asyncio.sleep(0.5)  # the SUBACK
            return {}
        got, last_change = 0, time.monotonic()
        while got < args.n:
            await src.wait(0.05)
            batch = src.take(5000, 1 << 30)
            if batch:
                src.ack(batch)
                got += len(batch)
                last_change = time.monotonic()
            elif time.monotonic() - last_change > 60:
                raise SystemExit(f"stalled at {got} of {args.n}")
        took = time.perf_counter() - t_conn
    finally:
        src.stop()
    return {"msgs_per_s": round(args.n / took), "connect_s": round(t_conn - t_start, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("client_id")
    ap.add_argument("topic")
    ap.add_argument("n", type=int)
    ap.add_argument("--receive-maximum", type=int, default=20000)
    ap.add_argument("--session-only", action="store_true")
    print(json.dumps(asyncio.run(main_async(ap.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
