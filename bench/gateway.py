"""`carewatch bench gateway`: the facility gateway against a bare paho relay, in the same run.

Two private Mosquittos stand for the facility's broker and the platform's. Pre-built Zigbee2MQTT
climate-sensor messages (40 devices) are published on the local one from a separate process
(simulators.loadgen is contract-only, so a small publisher lives here, run with `-m bench.gateway`):

  (a) live: local messages/s until every one is acknowledged upstream, through the gateway
      (adapters, on-disk spool, batches of 100) and through a bare relay (a paho subscriber that
      republishes each message upstream, QoS 1, nothing else);
  (b) replay: the upstream broker is stopped, `backlog_minutes` of a busy facility's traffic
      (`facility_rate` messages a second) is published locally, the broker comes back, and the
      rate from each one's reconnection until everything is acknowledged upstream is measured:
      the gateway drains its disk spool, the bare relay paho's in-memory queue (which a restart
      would lose: the gateway's survives one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import log
from gateway.agent import AgentConfig, GatewayAgent
from runtime.stack import LocalStack, free_port
from simulators.loadgen import publish as loadgen_publish

DEVICES = 40
FACILITY = "bench-fac"


def _messages(n: int, run: str) -> list[tuple[str, bytes]]:
    return [
        (
            f"zigbee2mqtt/th-{i % DEVICES}",
            json.dumps(
                {"temperature": 20 + (i % 50) / 10, "humidity": 40 + i % 20, "linkquality": 90, "run": run}
            ).encode(),
        )
        for i in range(n)
    ]


def publish(port: int, n: int, run: str) -> float:
    """Build n local messages, say so, publish them (QoS 1, windowed); seconds until all acked."""
    msgs = _messages(n, run)
    print(json.dumps({"ready": len(msgs)}), flush=True)
    return loadgen_publish("127.0.0.1", port, msgs)


def _publisher(port: int, n: int, run: str) -> subprocess.Popen[str]:
    """The publisher process, returned once its messages are built (its start is not measured)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway", str(port), str(n), run], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None  # noqa: S101
    if '"ready"' not in proc.stdout.readline():
        raise RuntimeError("the local publisher did not start")
    return proc


def _live(local_port: int, up_port: int, n: int, run: str) -> float:
    """Messages a second from the local publisher's start until the last one arrived upstream."""
    counter = Counter(up_port)
    try:
        time.sleep(0.5)
        pub = _publisher(local_port, n, run)
        t0 = time.perf_counter()
        rate = n / (counter.wait(n) - t0)
        pub.communicate(timeout=600)
        return rate
    finally:
        counter.close()


class Relay:
    """The baseline: subscribe locally, republish each message upstream unchanged (QoS 1)."""

    def __init__(self, local_port: int, up_port: int) -> None:
        self.connected_at = 0.0
        self.up = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-relay-up", protocol=mqtt.MQTTv5)
        self.up.max_inflight_messages_set(1000)
        self.up.max_queued_messages_set(0)
        self.up.reconnect_delay_set(1, 5)
        self.up.on_connect = lambda *_a: setattr(self, "connected_at", time.perf_counter())
        self.up.connect("127.0.0.1", up_port)
        self.up.loop_start()
        self.local = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-relay-local", protocol=mqtt.MQTTv5)
        self.local.on_message = self._relay
        self.local.connect("127.0.0.1", local_port)
        self.local.subscribe("zigbee2mqtt/#", qos=1)
        self.local.loop_start()

    def _relay(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        self.up.publish(f"up/{m.topic}", m.payload, qos=1)

    def pending(self) -> int:
        return len(self.up._out_messages)

    def close(self) -> None:
        for c in (self.local, self.up):
            c.disconnect()
            c.loop_stop()


class Counter:
    """Counts what arrives upstream: relay messages one each, gateway batches by their items."""

    def __init__(self, port: int) -> None:
        self.n, self.last = 0, 0.0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", port)
        self.c.subscribe([("up/#", 1), (f"cw/v1/{FACILITY}/+/batch", 1)])
        self.c.loop_start()

    def _on(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        self.n += len(json.loads(m.payload)["messages"]) if m.topic.endswith("/batch") else 1
        self.last = time.perf_counter()

    def wait(self, n: int, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while self.n < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.n} of {n} arrived upstream")
            time.sleep(0.01)
        return self.last

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {what}")
        time.sleep(0.005)


def run_gateway_bench(n: int = 20_000, backlog_minutes: float = 10.0, facility_rate: float = 20.0) -> dict[str, Any]:
    backlog = int(backlog_minutes * 60 * facility_rate)
    dirs = [Path(tempfile.mkdtemp(prefix=f"carewatch-bench-gw-{k}-")) for k in ("local", "up")]
    for d in dirs:
        d.chmod(0o755)
    local, upstream = LocalStack(dirs[0]), LocalStack(dirs[1])
    lp, up = free_port(), free_port()
    local.up(mqtt_port=lp, postgres=False)
    upstream.up(mqtt_port=up, postgres=False)
    spool = dirs[0] / "spool.sqlite3"
    try:
        # (a) live -----------------------------------------------------------------------------------
        log(f"(a) live: {n} local messages through a bare relay")
        relay = Relay(lp, up)
        relay_rate = _live(lp, up, n, "relay")
        relay.close()

        log("    and through the gateway (adapters, disk spool, batches of 100)")
        mapping = {"zigbee2mqtt": {f"th-{i}": f"env-{i}" for i in range(DEVICES)}}
        cfg = AgentConfig(
            facility_id=FACILITY,
            upstream_url=f"mqtt://127.0.0.1:{up}",
            local_url=f"mqtt://127.0.0.1:{lp}",
            spool_path=spool,
            spool_max_rows=max(100_000, 2 * backlog),
            mapping=mapping,
        )
        agent = GatewayAgent(cfg)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        _wait(agent.upstream_connected.is_set, 30, "gateway uplink")
        gateway_rate = _live(lp, up, n, "gateway")

        # (b) replay after a cut ---------------------------------------------------------------------
        log(f"(b) replay: uplink cut, {backlog} messages ({backlog_minutes:g} min at {facility_rate:g}/s), restored")
        upstream.down()
        _wait(lambda: not agent.upstream_connected.is_set(), 30, "gateway sees the cut")
        _publisher(lp, backlog, "backlog").communicate(timeout=600)
        _wait(lambda: len(agent.spool) >= backlog, 120, "backlog spooled")
        upstream.up(mqtt_port=up, postgres=False)
        _wait(agent.upstream_connected.is_set, 60, "gateway reconnected")
        t_conn = time.perf_counter()
        _wait(lambda: len(agent.spool) == 0, 600, "spool drained")
        gateway_replay = backlog / (time.perf_counter() - t_conn)
        agent.stop()
        thread.join(30)

        relay = Relay(lp, up)
        time.sleep(0.5)
        upstream.down()
        _wait(lambda: not relay.up.is_connected(), 30, "relay sees the cut")
        _publisher(lp, backlog, "relay-backlog").communicate(timeout=600)
        _wait(lambda: relay.pending() >= backlog, 120, "backlog queued in the relay")
        relay.connected_at = 0.0
        upstream.up(mqtt_port=up, postgres=False)
        _wait(lambda: relay.connected_at > 0, 60, "relay reconnected")
        _wait(lambda: relay.pending() == 0, 600, "relay queue drained")
        relay_replay = backlog / (time.perf_counter() - relay.connected_at)
        relay.close()
    finally:
        for s in (local, upstream):
            s.destroy()
    return {
        "bench": "gateway",
        "msgs_per_s": round(gateway_rate),
        "vs_bare_relay": round(gateway_rate / relay_rate, 3),
        "replay_msgs_per_s": round(gateway_replay),
        "replay_vs_bare_relay": round(gateway_replay / relay_replay, 3),
        "bare_relay_msgs_per_s": round(relay_rate),
        "bare_relay_replay_msgs_per_s": round(relay_replay),
        "backlog": backlog,
        "n": n,
    }


if __name__ == "__main__":
    port_, n_, run_ = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print(json.dumps({"published": n_, "seconds": round(publish(port_, n_, run_), 3)}))
