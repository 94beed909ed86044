"""`carewatch bench drain`: a backlog of n messages drained by the C `mosquitto_sub`, by ingest and by
the alert engine, one after another, in one run on one private stack (fsync on, as in production).

Each consumer's persistent session is made first, then all three go away; a separate process
publishes the backlog, which the broker queues for each session; then each consumer alone on the
machine connects and drains its copy:
  - `mosquitto_sub` (QoS 1, output to /dev/null): the rate the broker hands the backlog to a client
    that does nothing with it — the baseline;
  - the same MQTT client ingest uses, receiving and acknowledging only (`bench.mqttsink`): what
    Python and paho cost before ingest does any work of its own;
  - ingest: from its connection to the last message committed to TimescaleDB (its process start, a
    Python import and the registry load, is reported apart);
  - two ingest workers sharing one copy of the backlog (an MQTT 5 shared-subscription group of
    their own, `--share-group`), from the first one's connection: what a second worker adds;
  - the alert engine: from its connection to the last message evaluated by the rules.
Ratios: ingest and alerts against mosquitto_sub and against the Python client; ingest's peak RSS.
Also each consumer's CPU a message while draining, and PostgreSQL's for ingest's writes: the rates
depend on the machine (mosquitto_sub's from 126k to 160k msg/s in one hour on one machine), where
CPU a message says what a change to ingest's code bought.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

from bench.common import (
    Env,
    cpu_seconds,
    finish_loadgen,
    healthy,
    loadgen,
    log,
    prepare_db,
    rss_peak_mb,
    tree_cpu_seconds,
)
from ingest.service import IngestConfig
from runtime.stack import LocalStack, free_port


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _service(
    name: str, client_id: str, port: int, env: dict[str, str], log_dir: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "carewatch.cli", name, "--client-id", client_id, "--metrics", f"127.0.0.1:{port}"]
    with (log_dir / f"{name}.log").open("ab") as out:
        return subprocess.Popen([*cmd, *extra], env=env, stdout=out, stderr=subprocess.STDOUT)


def _session(
    name: str, client_id: str, port: int, env: dict[str, str], log_dir: Path, extra: tuple[str, ...] = ()
) -> None:
    """Start the service once so that the broker keeps its session, then stop it."""
    p = _service(name, client_id, port, env, log_dir, extra)
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError(f"{name} did not come up (see {log_dir / (name + '.log')})")
            time.sleep(0.05)
    finally:
        p.terminate()
        p.wait(30)


class Drained(NamedTuple):
    rate: float  # msgs/s from the first worker connected to the last message counted by any
    start_s: float  # from the processes' start to the first one connected
    rss_mb: float  # the largest peak RSS
    cpu_us: float  # the workers' CPU a message, from their connection to the end (start-up apart)
    db_cpu_us: float  # PostgreSQL's CPU a message (all its processes) over the same time
    broker_cpu_us: float  # Mosquitto's CPU a message over the same time


def _drain(
    name: str,
    workers: dict[str, int],
    env: dict[str, str],
    log_dir: Path,
    counter: str,
    n: int,
    postmaster: int,
    broker: int,
    extra: tuple[str, ...] = (),
) -> Drained:
    """`workers` ({client id: metrics port}) drain their sessions' backlog together."""
    t_start = time.perf_counter()
    procs = [_service(name, cid, port, env, log_dir, extra) for cid, port in workers.items()]
    try:
        up: dict[int, float] = {}  # port -> the worker's CPU seconds when it was seen connected
        t_conn = 0.0
        while len(up) < len(procs):  # from the first one connected: the others' start-up counts against them
            for p, port in zip(procs, workers.values(), strict=True):
                if port not in up and healthy(port):
                    up[port] = cpu_seconds(p.pid)
                    if not t_conn:
                        t_conn, db0, mq0 = time.perf_counter(), tree_cpu_seconds(postmaster), cpu_seconds(broker)
                elif p.poll() is not None or time.perf_counter() - t_start > 60:
                    raise RuntimeError(f"{name} did not come up")
            time.sleep(0.005)
        last, last_change = -1.0, time.monotonic()
        while True:
            got = sum(_metric(port, counter) or 0.0 for port in workers.values())
            if got >= n:
                t_end = time.perf_counter()
                break
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > 60:
                raise RuntimeError(f"{name} stalled at {got:.0f} of {n}")
            # Each look is a scrape of the consumer's /metrics, which costs it CPU: at every 10 ms,
            # ~1 % of ingest's time (py-spy). 50 ms adds at most 0.5 % to a ~10 s drain.
            time.sleep(0.05)
        db1, mq1 = tree_cpu_seconds(postmaster), cpu_seconds(broker)
        cpu = sum(cpu_seconds(p.pid) - up[port] for p, port in zip(procs, workers.values(), strict=True))
        db_cpu = sum(t - db0.get(pid, 0.0) for pid, t in db1.items())
        rss = max(rss_peak_mb(p.pid) for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    return Drained(n / (t_end - t_conn), t_conn - t_start, rss, cpu / n * 1e6, db_cpu / n * 1e6, (mq1 - mq0) / n * 1e6)


def _sink(url: str, topic: str, n: int, session_only: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.mqttsink", url, "drain-py", topic, str(n)]
    cmd += ["--receive-maximum", str(IngestConfig.model_fields["receive_maximum"].default)]
    args = [*cmd, *(["--session-only"] if session_only else [])]
    out = subprocess.run(args, check=False, capture_output=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"the Python MQTT sink failed: {out.stderr.decode()[-500:]}")
    return dict(json.loads(out.stdout.decode().splitlines()[-1]))


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
        _sink(info.mqtt_url, f"{root}/+/+/+", n, session_only=True)
        ports = {"ingest": free_port(), "alerts": free_port()}
        for name in ("ingest", "alerts"):
            _session(name, f"drain-{name}", ports[name], env, state)
        # two ingest workers on a shared subscription of their own group: together one copy of the backlog,
        # stored into a database of their own (into the first one's, every message would be a duplicate)
        pair = {f"drain-pair-{k}": free_port() for k in (0, 1)}
        pair_group = ("--share-group", "drain-pair")
        pair_db = asyncio.run(prepare_db(info.database_url, "drain_pair", facilities, devices))
        pair_env = {**env, "CAREWATCH_DATABASE_URL": pair_db}
        for cid, port in pair.items():
            _session("ingest", cid, port, pair_env, state, pair_group)
        log(f"publishing a backlog of {n} messages for six offline sessions")
        proc = loadgen(Env(db_url, "127.0.0.1", info.mqtt_port), root, "telemetry", n, facilities, devices, "drain")
        finish_loadgen(proc)
        time.sleep(2)  # the broker's queues settle

        servers = stack.server_pids()
        pg, mq = servers["postgres"], servers["mosquitto"]
        assert pg is not None and mq is not None  # noqa: S101 (the stack is up)
        t0, mq0 = time.perf_counter(), cpu_seconds(mq)
        with open(os.devnull, "wb") as null:
            subprocess.run([*csub, "-C", str(n)], stdout=null, check=True, timeout=600)
        c_rate = n / (time.perf_counter() - t0)
        c_broker_us = (cpu_seconds(mq) - mq0) / n * 1e6
        log(f"mosquitto_sub: {c_rate:.0f} msg/s")
        p_rate = _sink(info.mqtt_url, f"{root}/+/+/+", n)["msgs_per_s"]
        log(f"the Python MQTT client alone: {p_rate:.0f} msg/s")
        stored = "carewatch_ingest_stored_total"
        one = _drain("ingest", {"drain-ingest": ports["ingest"]}, env, state, stored, n, pg, mq)
        log(f"ingest: {one.rate:.0f} msg/s (start {one.start_s:.2f}s, peak RSS {one.rss_mb:.0f} MB)")
        two = _drain("ingest", pair, pair_env, state, stored, n, pg, mq, pair_group)
        log(f"two ingest workers: {two.rate:.0f} msg/s (peak RSS {two.rss_mb:.0f} MB)")
        alerts = _drain(
            "alerts", {"drain-alerts": ports["alerts"]}, env, state, "carewatch_alerts_evaluations_total", n, pg, mq
        )
        log(f"alerts: {alerts.rate:.0f} msg/s (start {alerts.start_s:.2f}s, peak RSS {alerts.rss_mb:.0f} MB)")
    finally:
        stack.destroy()
    i_rate, i2_rate, a_rate = one.rate, two.rate, alerts.rate
    # What the whole pipeline costs a message on this machine: the worker, PostgreSQL and Mosquitto.
    # Divided into the cores it is the rate no number of workers on this box can pass, even with
    # nothing else running and perfect scaling: against mosquitto_sub, the ceiling of the ratio here.
    cores = len(os.sched_getaffinity(0))
    pipeline_us = one.cpu_us + one.db_cpu_us + one.broker_cpu_us
    return {
        "bench": "drain",
        "n": n,
        "mosquitto_sub_msgs_per_s": round(c_rate),
        "python_client_msgs_per_s": round(p_rate),
        "ingest_msgs_per_s": round(i_rate),
        "ingest_two_workers_msgs_per_s": round(i2_rate),
        "alerts_msgs_per_s": round(a_rate),
        "ingest_vs_mosquitto_sub": round(i_rate / c_rate, 3),
        "alerts_vs_mosquitto_sub": round(a_rate / c_rate, 3),
        "python_client_vs_mosquitto_sub": round(p_rate / c_rate, 3),
        "ingest_vs_python_client": round(i_rate / p_rate, 3),
        "ingest_two_workers_vs_mosquitto_sub": round(i2_rate / c_rate, 3),
        "ingest_two_workers_vs_one": round(i2_rate / i_rate, 3),
        "alerts_vs_ingest": round(a_rate / i_rate, 3),
        "ingest_start_s": round(one.start_s, 2),
        "alerts_start_s": round(alerts.start_s, 2),
        "ingest_peak_rss_mb": round(one.rss_mb),
        "ingest_two_workers_peak_rss_mb": round(two.rss_mb),
        "alerts_peak_rss_mb": round(alerts.rss_mb),
        # CPU a message while draining (µs): the process's own, and the database's for its writes
        "ingest_cpu_us_per_msg": round(one.cpu_us, 2),
        "ingest_db_cpu_us_per_msg": round(one.db_cpu_us, 2),
        "ingest_two_workers_cpu_us_per_msg": round(two.cpu_us, 2),
        "alerts_cpu_us_per_msg": round(alerts.cpu_us, 2),
        "broker_cpu_us_per_msg_to_mosquitto_sub": round(c_broker_us, 2),
        "broker_cpu_us_per_msg_to_ingest": round(one.broker_cpu_us, 2),
        "cores": cores,
        "ingest_pipeline_cpu_us_per_msg": round(pipeline_us, 2),
        "ingest_ceiling_on_these_cores_vs_mosquitto_sub": round(cores * 1e6 / pipeline_us / c_rate, 3),
    }
