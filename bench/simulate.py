"""`bench simulate`: the simulator as fast as possible against a bare paho publish loop."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import log
from runtime.stack import LocalStack, free_port
from simulators.loadgen import telemetry_messages


def run_simulate_bench(facilities: int = 1000, minutes: float = 5.0) -> dict[str, Any]:
    """The simulator in as-fast-as-possible mode against a bare paho loop of pre-built messages.

    Both publish the same number of messages to the same private broker, over the same number
    of shared connections, in the same run.
    """

    from simulators.engine import CitySim
    from simulators.loadgen import publish
    from simulators.registry_gen import generate_registry
    from simulators.runner import MqttSink, drive

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=False)
    try:
        info = stack.up(pg_port=free_port(), mqtt_port=free_port())
        reg = generate_registry(facilities, seed=1)
        start = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Xinzhou: people about
        sim = CitySim(reg, 1, start)
        # warm up past the start so every device is past its first heartbeat phase
        for _ in sim.run(start + timedelta(minutes=5)):
            pass
        sink = MqttSink("127.0.0.1", info.mqtt_port, reg, root="bench-sim/cw/v1", per_facility=False, connections=1)
        try:
            t0 = time.perf_counter()
            n = drive(sim, sim.now + timedelta(minutes=minutes), sink, clock=None, step=timedelta(seconds=10))
            sink.flush()
            sim_secs = time.perf_counter() - t0
        finally:
            sink.close()
        log(f"simulator: {n} messages in {sim_secs:.2f}s")
        msgs = list(telemetry_messages("bench-bare/cw/v1", n, 1000, 40, "bare"))
        bare_secs = publish("127.0.0.1", info.mqtt_port, msgs)
        log(f"bare paho loop: {len(msgs)} messages in {bare_secs:.2f}s")
    finally:
        stack.destroy()
    return {
        "bench": "simulate",
        "msgs_per_s": round(n / sim_secs),
        "facilities": facilities,
        "devices": sum(len(f.devices) for f in reg.facilities),
        "bare_msgs_per_s": round(n / bare_secs),
        "vs_bare": round((n / sim_secs) / (n / bare_secs), 3),
    }
