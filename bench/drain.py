"""`carewatch bench drain`: a backlog of n messages drained by the C `mosquitto_sub`, by ingest and by
the alert engine, one after another, in one run on one private stack (fsync on, as in production).

Each consumer's persistent session is made first, then all three go away; a separate process
publishes the backlog, which the broker queues for each session; then each consumer alone on the
machine connects and drains its copy:
  - `mosquitto_sub` (QoS 1, output to /dev/null): the rate the broker hands the backlog to a client
    that does nothing with it — the baseline;
  - ingest: from its connection to the last message committed to TimescaleDB (its process start, a
    Python import and the registry load, is reported apart);
  - the alert engine: from its connection to the last message evaluated by the rules.
Ratios: ingest and alerts against mosquitto_sub; ingest's peak RSS.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import Env, finish_loadgen, loadgen, log, prepare_db, rss_peak_mb
from carewatch.stack import LocalStack, free_port


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _service(name: str, client_id: str, port: int, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    with (log_dir / f"{name}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "carewatch.cli", name, "--client-id", client_id, "--metrics", f"127.0.0.1:{port}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _session(name: str, client_id: str, port: int, env: dict[str, str], log_dir: Path) -> None:
    """Start the service once so that the broker keeps its session, then stop it."""
    p = _service(name, client_id, port, env, log_dir)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError(f"{name} did not come up (see {log_dir / (name + '.log')})")
            time.sleep(0.05)
    finally:
        p.terminate()
        p.wait(30)


def _drain(
    name: str, client_id: str, port: int, env: dict[str, str], log_dir: Path, counter: str, n: int
) -> tuple[float, float, float]:
    """(msgs/s from connected to the last counted, seconds from process start to connected, peak RSS MB)."""
    t_start = time.perf_counter()
    p = _service(name, client_id, port, env, log_dir)
    try:
        while not _healthy(port):
            if p.poll() is not None or time.perf_counter() - t_start > 60:
                raise RuntimeError(f"{name} did not come up")
            time.sleep(0.005)
        t_conn = time.perf_counter()
        last, last_change = -1.0, time.monotonic()
        while True:
            got = _metric(port, counter) or 0.0
            if got >= n:
                t_end = time.perf_counter()
                break
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > 60:
                raise RuntimeError(f"{name} stalled at {got:.0f} of {n}")
            time.sleep(0.01)
        rss = rss_peak_mb(p.pid)
    finally:
        p.terminate()
        p.wait(30)
    return n / (t_end - t_conn), t_conn - t_start, rss


def run_drain_bench(n: int = 200_000, facilities: int = 50, devices: int = 40) -> dict[str, Any]:
    sub = shutil.which("mosquitto_sub")
    if sub is None:
        raise RuntimeError(
            "mosquitto_sub is missing (Debian package mosquitto-clients; scripts/install-system-deps.sh)"
        )
    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    try:
        info = stack.up(pg_port=free_port(), mqtt_port=free_port())
        db_url = asyncio.run(prepare_db(info.database_url, "drain", facilities, devices))
        root = "drain/cw/v1"
        env = {
            **os.environ,
            "CAREWATCH_DATABASE_URL": db_url,
            "CAREWATCH_MQTT_URL": info.mqtt_url,
            "CAREWATCH_TOPIC_ROOT": root,
        }
        csub = [sub, "-h", "127.0.0.1", "-p", str(info.mqtt_port), "-V", "mqttv311", "-c", "-i", "drain-c", "-q", "1"]
        csub += ["-t", f"{root}/+/+/+"]
        subprocess.run([*csub, "-E"], check=True, timeout=30)  # the session, subscribed; then gone
        ports = {"ingest": free_port(), "alerts": free_port()}
        for name in ("ingest", "alerts"):
            _session(name, f"drain-{name}", ports[name], env, state)
        log(f"publishing a backlog of {n} messages for three offline sessions")
        proc = loadgen(Env(db_url, "127.0.0.1", info.mqtt_port), root, "telemetry", n, facilities, devices, "drain")
        finish_loadgen(proc)
        time.sleep(2)  # the broker's queues settle

        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run([*csub, "-C", str(n)], stdout=null, check=True, timeout=600)
        c_rate = n / (time.perf_counter() - t0)
        log(f"mosquitto_sub: {c_rate:.0f} msg/s")
        i_rate, i_start, i_rss = _drain(
            "ingest", "drain-ingest", ports["ingest"], env, state, "carewatch_ingest_stored_total", n
        )
        log(f"ingest: {i_rate:.0f} msg/s (start {i_start:.2f}s, peak RSS {i_rss:.0f} MB)")
        a_rate, a_start, a_rss = _drain(
            "alerts", "drain-alerts", ports["alerts"], env, state, "carewatch_alerts_evaluations_total", n
        )
        log(f"alerts: {a_rate:.0f} msg/s (start {a_start:.2f}s, peak RSS {a_rss:.0f} MB)")
    finally:
        stack.destroy()
    return {
        "bench": "drain",
        "n": n,
        "mosquitto_sub_msgs_per_s": round(c_rate),
        "ingest_msgs_per_s": round(i_rate),
        "alerts_msgs_per_s": round(a_rate),
        "ingest_vs_mosquitto_sub": round(i_rate / c_rate, 3),
        "alerts_vs_mosquitto_sub": round(a_rate / c_rate, 3),
        "alerts_vs_ingest": round(a_rate / i_rate, 3),
        "ingest_start_s": round(i_start, 2),
        "alerts_start_s": round(a_start, 2),
        "ingest_peak_rss_mb": round(i_rss),
        "alerts_peak_rss_mb": round(a_rss),
    }
