"""`carewatch bench province`: a province's traffic through ingest, alerts and the web on one box.

A private stack (fsync on) with the registry `generate_registry(facilities)` makes; ingest, the alert
engine and the web as separate processes, as deployed, started once the load is generated (ingest
first, to store the day so far: the morning's badges and first statuses; the others then start from
what is stored, as they would in a province running since the morning); a separate
publisher process (bench.provinceload) sending the simulator's traffic for that registry at its own
rates, with life-safety scenarios injected every 20 s. Measured in the same run:
  - offered and stored msg/s; every message received (ingest's counter against the publisher's);
  - ingest lag: a probe reading published once a second through the same broker, from its publish
    to its row being visible in the database (polled every 50 ms);
  - alert latency of each injected scenario: from the moment its message was published to the alert
    row committed (NOTIFY after commit) and to the event on the web's stream (SSE);
  - the overview and a facility page, p95, from a separate load process in the middle of the run;
  - CPU share and RSS of each process, RSS at minute 2 and at the end (both pages served at minute 1
    by 10 s each of the same two-client load, as a web in use has: its growth is then what it keeps);
  - bytes per facility-day of each table (its growth over the run, scaled to a day), and the disk a
    province needs for 90 days and a year with each table's retention (storage.migrate.RETENTION).
    Access events come in two waves a day (drop-off, pick-up; none at weekends), so ten minutes of
    them say nothing of a day: they are counted in a simulated week of the same registry's
    facilities (the load's own simulator), and an event's bytes measured by storing that week's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import paho.mqtt.client as mqtt

from bench.common import (
    children,
    cpu_seconds,
    follow_alert_stream,
    healthy,
    log,
    pct,
    prepare_db,
    tree_cpu_seconds,
)
from contract.registry import DeviceType, Registry
from contract.topics import Channel, Topic
from ingest.decode import decode_batch
from runtime.mqtt_source import Received
from runtime.stack import LocalStack, free_port
from simulators.engine import CitySim, SimMessage
from simulators.registry_gen import generate_registry
from storage.messages import ACCESS_COLS
from storage.migrate import retention_days
from storage.retention import refresh_rollup_range

PROVINCE = 5000  # facilities the projection is for
RECEIVED = "carewatch_ingest_received_total"
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- processes -------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


class Processes:
    """CPU seconds (all of a service's processes) and RSS (its main process) per service."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far; a server's processes are looked up again each time (PostgreSQL starts
        a backend per connection: the services' pools open theirs after the first look)."""
        return {
            name: sum(tree_cpu_seconds(ps[0]).values()) if name == "postgres" and ps else sum(map(cpu_seconds, ps))
            for name, ps in self.pids.items()
        }

    def rss(self) -> dict[str, float]:
        return {name: round(rss_mb(ps[0]), 1) for name, ps in self.pids.items() if ps}


# -- storage ---------------------------------------------------------------------------------------
TABLES = (
    "readings",
    "readings_hourly",
    "events",
    "access_events",
    "device_status",
    "device_state",
    "device_activity",
    "dead_letters",
)


async def table_bytes(conn: asyncpg.Connection) -> dict[str, int]:
    out = {}
    for t in TABLES:
        hyper = await conn.fetchval(
            "SELECT count(*) > 0 FROM timescaledb_information.hypertables WHERE hypertable_name = $1", t
        )
        q = "SELECT hypertable_size($1::regclass)" if hyper else "SELECT pg_total_relation_size($1::regclass)"
        out[t] = int(await conn.fetchval(q, t) or 0)
    return out


# -- metrics ---------------------------------------------------------------------------------------
def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def metric(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def by_rule(text: str, name: str) -> dict[str, float]:
    """A counter labelled by rule (and severity), summed per rule."""
    out: dict[str, float] = {}
    for rule, value in re.findall(rf'^{name}\{{rule="([^"]*)"[^}}]*\}} (\S+)$', text, re.M):
        out[rule] = out.get(rule, 0.0) + float(value)
    return out


def gc_full(text: str) -> tuple[float, float]:
    """(full collections, seconds paused in them) from a service's carewatch_gc_pause_seconds."""
    found = dict(re.findall(r'^carewatch_gc_pause_seconds_(count|sum)\{generation="2"\} (\S+)$', text, re.M))
    return float(found.get("count", 0)), float(found.get("sum", 0))


def labelled(text: str, name: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf'^{name}{{reason="([^"]*)"}} (\S+)$', text, re.M)}


# -- the run ---------------------------------------------------------------------------------------
async def run_province_bench(
    facilities: int = PROVINCE,
    minutes: float = 10.0,
    seed: int = 1,
    inject_every_s: float = 20.0,
    stall_alerts_s: float = 0.0,
    stall_at_s: float = 120.0,
) -> dict[str, Any]:
    """`stall_alerts_s`: the alert engine's process is stopped (SIGSTOP) that long from `stall_at_s`
    into the run, as a stalled host stops it, and then resumes: its backlog must not read as the
    devices' silence."""
    import aiohttp

    from storage.users import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    load: subprocess.Popen[bytes] | None = None
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        t_reg = time.perf_counter()
        reg = await asyncio.to_thread(generate_registry, facilities, 1)
        db_url = await prepare_db(info.database_url, "province", facilities, 0, registry=reg)
        log(f"registry of {facilities} facilities loaded in {time.perf_counter() - t_reg:.0f}s")
        conn = await asyncpg.connect(db_url)
        _, token = await create_user(conn, "bench", "admin", None)
        web_port, ingest_port, alerts_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "CAREWATCH_DATABASE_URL": db_url,
            "CAREWATCH_MQTT_URL": info.mqtt_url,
            "CAREWATCH_HTTP": f"127.0.0.1:{web_port}",
            "CAREWATCH_STATE_DIR": str(state),
            # the pages under one token's load are measured, not the rate limit (web/ratelimit.py)
            "CAREWATCH_API_RATE": "0",
        }
        report = state / "load.json"
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.provinceload",
                "--port",
                str(info.mqtt_port),
                "--facilities",
                str(facilities),
                "--seed",
                str(seed),
                "--minutes",
                str(minutes),
                "--inject-every",
                str(inject_every_s),
                "--report",
                str(report),
            ],
            env=env,
        )
        while not report.exists():  # generating: minutes at 5,000 facilities
            if load.poll() is not None:
                raise RuntimeError(f"the publisher failed ({load.returncode})")
            await asyncio.sleep(0.5)
        started = json.loads(report.read_text())

        # The services start once the traffic is ready, as a province's would with its devices
        # already reporting: started before the minutes of generation, the alert engine would count
        # every device silent since its own start and rightly flag the ones whose first message comes
        # after the silence limit (device_offline alerts the load did not cause). Ingest first, to
        # store the day so far (the morning's badges: who is on site); the alert engine and the web
        # then start from what is stored, as a province's do, and the people rules know the staff
        # who badged in before the run (without it, the guards and carers of every open facility
        # were unknown, and 10 minutes in, thousands of guard_absent and ratio_breach opened).
        def start(name: str, cmd: list[str]) -> None:
            with (state / f"{name}.log").open("wb") as out:  # the services' own logs, beside the stack's
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "carewatch.cli", *cmd], env=env, stdout=out, stderr=subprocess.STDOUT
                )

        start("ingest", ["ingest", "--metrics", f"127.0.0.1:{ingest_port}"])
        await _wait_ready(procs, {"ingest": ingest_port})
        morning = await _morning(load, report, ingest_port)
        start("alerts", ["alerts", "--metrics", f"127.0.0.1:{alerts_port}"])
        start("web", ["web"])
        await _wait_ready(procs, {"alerts": alerts_port, "web": web_port})
        log(f"publishing {started['messages']} messages over {minutes} min")
        servers = stack.server_pids()
        pg, mq = servers["postgres"], servers["mosquitto"]
        pids = {
            **{n: [proc.pid] for n, proc in procs.items()},
            "postgres": [pg, *children(pg)] if pg else [],
            "mosquitto": [mq] if mq else [],
        }
        watch = Processes(pids)
        sizes0 = await table_bytes(conn)
        alert_id0 = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM alerts"))
        text0 = scrape(ingest_port)
        ports = {"ingest": ingest_port, "alerts": alerts_port, "web": web_port}
        gc0 = {n: gc_full(scrape(p)) for n, p in ports.items()}
        alerts0 = scrape(alerts_port)
        cpu0, wall0 = watch.cpu(), time.monotonic()
        rss_start = watch.rss()
        report.with_suffix(".go").touch()
        go_wall = time.time()

        committed: dict[str, float] = {}
        await conn.add_listener("carewatch_alerts", lambda *a: _note(committed, a[3], time.time()))
        streamed: dict[str, float] = {}
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        sse = asyncio.create_task(
            follow_alert_stream(
                session, f"http://127.0.0.1:{web_port}/api/v1/stream", token, lambda d: _note(streamed, d, time.time())
            )
        )
        probe = Probe(db_url, info.mqtt_port, reg.facilities[0].id, _probe_device(reg))
        probe_task = asyncio.create_task(probe.run())
        rss_min2: dict[str, float] = {}
        rss_series: dict[str, list[float]] = {n: [] for n in ("ingest", "alerts", "web")}  # every 30 s
        # storage is measured after a warm-up: a fresh database logs every device's first status and
        # opens its device-day rows in the first minutes, which a running one did long ago
        warm_s = min(300.0, minutes * 30)
        sizes_w: dict[str, int] = {}
        wall_w = wall0
        web: dict[str, Any] = {}
        fac = reg.facilities[len(reg.facilities) // 2].id
        pages = ["/", f"/facilities/{fac}"]
        warmed = False
        stall: dict[str, float] = {}
        try:
            while load.poll() is None:  # the publisher's run
                elapsed = time.monotonic() - wall0
                if stall_alerts_s and not stall and elapsed >= stall_at_s:
                    procs["alerts"].send_signal(signal.SIGSTOP)
                    stall = {"from_s": round(elapsed), "stopped": time.monotonic()}
                    log(f"alert engine stopped for {stall_alerts_s:.0f} s")
                if stall.get("stopped") and time.monotonic() - stall["stopped"] >= stall_alerts_s:
                    procs["alerts"].send_signal(signal.SIGCONT)
                    stall["seconds"] = round(time.monotonic() - stall.pop("stopped"))
                    log("alert engine resumed")
                if not warmed and elapsed >= 60:
                    # inspectors at work: the pages are served before minute 2 the way the measured
                    # load serves them (two clients, 10 s a page; its figures are not kept), so that
                    # the web's RSS growth from there measures what a running web keeps. With a few
                    # requests only, the load's first minute grew it by a step (pool connections,
                    # buffers) that a per-request leak could not be told from; a second load of the
                    # same shape now shows either a flat line or the leak.
                    await asyncio.to_thread(_webload, f"http://127.0.0.1:{web_port}", token, pages, 10)
                    warmed = True
                if not rss_min2 and elapsed >= 120:
                    rss_min2 = watch.rss()
                if elapsed >= 30 * len(rss_series["ingest"]):
                    now_rss = watch.rss()
                    for n, series in rss_series.items():
                        series.append(now_rss.get(n, 0.0))
                if not sizes_w and elapsed >= warm_s:
                    sizes_w, wall_w = await table_bytes(conn), time.monotonic()
                if not web and elapsed >= minutes * 30:  # the middle of the run
                    base = f"http://127.0.0.1:{web_port}"
                    web = await asyncio.to_thread(_webload, base, token, pages)
                await asyncio.sleep(1)
            probe.stop = True
            await asyncio.gather(probe_task, return_exceptions=True)
            done = json.loads(report.read_text())
            drain_s = await _drain(ingest_port, done["published"] + probe.sent + int(metric(text0, RECEIVED)))
            # an alarm the engine has not read yet is late, not missed: wait for it to catch up with its
            # input (a stopped engine's backlog: a gas alarm sent 40 s after the resume had no alert by
            # the end of one run, and was counted as missed)
            caught_up_s = await _caught_up(alerts_port)
            await asyncio.sleep(3)  # the last alerts
        finally:
            if stall.get("stopped"):  # never leave it stopped (a stopped process ignores SIGTERM)
                procs["alerts"].send_signal(signal.SIGCONT)
            probe.stop = True
            await asyncio.gather(probe_task, return_exceptions=True)
            sse.cancel()
            await asyncio.gather(sse, return_exceptions=True)
            await session.close()
        cpu1, wall1 = watch.cpu(), time.monotonic()
        rss_end = watch.rss()
        text1 = scrape(ingest_port)
        gc1 = {n: gc_full(scrape(p)) for n, p in ports.items()}
        alerts1 = scrape(alerts_port)
        # the rollup as ingest's maintenance keeps it (the Apache edition: refreshed by ingest)
        await refresh_rollup_range(conn, datetime.now(UTC) - timedelta(days=8), datetime.now(UTC) + timedelta(hours=1))
        sizes1 = await table_bytes(conn)
        counts = await conn.fetchrow(
            "SELECT (SELECT count(DISTINCT (facility_id, device_id, metric)) FROM readings_hourly) AS series,"
            " (SELECT count(*) FROM readings_hourly) AS rollup_rows,"
            " (SELECT count(*) FROM device_activity) AS device_days,"
            " (SELECT count(DISTINCT day) FROM device_activity) AS days"
        )
        measured_s = done["seconds"] - (wall_w - wall0)
        # every alert the engine opened in the run that was not injected: the world the simulator
        # made (a gateway's uplink cut, a sensor's reading) or a false alert, to be told apart by
        # reading them, so they are listed, not only counted
        injected_keys = {(fid, rule) for fid, rule, _ in done["injected"]}
        others = [
            [r["rule"], r["facility_id"], r["device_id"], round(r["opened"] - go_wall), r["summary_en"]]
            for r in await conn.fetch(
                "SELECT rule, facility_id, device_id, summary_en, extract(epoch FROM opened_at)::float8 AS opened"
                " FROM alerts WHERE id > $1 ORDER BY id",
                alert_id0,
            )
            if (r["facility_id"], r["rule"]) not in injected_keys
        ]
        for proc in procs.values():  # the week below is the bench's own CPU, after the measured run
            proc.terminate()
        per_day, week = await asyncio.to_thread(access_week, reg)
        counts = {**dict(counts), "access_per_facility_day": per_day}
        counts["access_row_bytes"] = await access_row_bytes(conn, week, "cw/v1")
        await conn.close()
        storage = _storage(sizes_w or sizes0, sizes1, facilities, measured_s, counts)
    finally:
        if load is not None and load.poll() is None:
            load.terminate()
            load.wait(30)
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(30)
        await asyncio.to_thread(stack.destroy)

    received = metric(text1, RECEIVED) - metric(text0, RECEIVED)
    stored = metric(text1, "carewatch_ingest_stored_total") - metric(text0, "carewatch_ingest_stored_total")
    dead = {
        k: v - labelled(text0, "carewatch_ingest_dead_letters_total").get(k, 0)
        for k, v in labelled(text1, "carewatch_ingest_dead_letters_total").items()
    }
    alert_row, alert_sse, missed = [], [], []
    slowest: list[tuple[float, int, str]] = []  # (to the row, seconds into the run, rule)
    for fid, rule, at in done["injected"]:
        key = f"{fid}:{rule}"
        if key not in committed:
            missed.append(key)
            continue
        alert_row.append(committed[key] - at)
        slowest.append((round(committed[key] - at, 3), round(at - go_wall), rule))
        if key in streamed:
            alert_sse.append(streamed[key] - at)
    seconds = wall1 - wall0
    opened0, opened1 = (by_rule(t, "carewatch_alerts_opened_total") for t in (alerts0, alerts1))
    opened_by_rule = {r: int(n - opened0.get(r, 0)) for r, n in sorted(opened1.items()) if n > opened0.get(r, 0)}
    growth = {n: round(rss_end[n] / rss_min2[n] - 1, 3) for n in ("ingest", "alerts", "web") if rss_min2.get(n)}
    return {
        "bench": "province",
        "facilities": facilities,
        "minutes": minutes,
        "offered_msgs_per_s": round(done["published"] / done["seconds"]),
        "publisher_behind_p99_s": round(done.get("late_p99_s", 0.0), 3),
        "received": int(received),
        "published": done["published"] + probe.sent,
        "lost": max(0, done["published"] + probe.sent - int(received)),
        "stored_msgs_per_s": round(stored / seconds),
        "dead_letters": dead,
        "drain_after_publisher_s": round(drain_s, 1),
        "alerts_caught_up_after_s": round(caught_up_s, 1),  # then the alerts still missing are missed
        "ingest_lag_p99_s": round(pct(probe.lags, 99), 3),
        "ingest_lag_p50_s": round(pct(probe.lags, 50), 3),
        "probes_unseen": probe.sent - len(probe.lags),
        "alert_row_p99_s": round(pct(alert_row, 99), 3),
        "alert_sse_p99_s": round(pct(alert_sse, 99), 3),
        "alerts_injected": len(done["injected"]),
        # all the engine opened and cleared meanwhile (people, devices, readings): what its writers stored
        "alerts_opened_in_run": int(
            metric(alerts1, "carewatch_alerts_opened_total") - metric(alerts0, "carewatch_alerts_opened_total")
        ),
        "alerts_cleared_in_run": int(
            metric(alerts1, "carewatch_alerts_cleared_total") - metric(alerts0, "carewatch_alerts_cleared_total")
        ),
        "alerts_opened_by_rule": opened_by_rule,  # the injected ones and whatever else the world gave
        # [rule, facility, device, opened (its own time, seconds from the start), summary], the first 20
        "alerts_not_injected": others[:20],
        # all of them by rule, the device's kind (its id's prefix) and the 10 s they opened in
        "alerts_not_injected_by": dict(
            Counter(f"{r}|{(d or '-').split('-')[0]}|{10 * (t // 10)}" for r, _, d, t, _ in others).most_common(30)
        ),
        "alerts_slowest": sorted(slowest, reverse=True)[:3],  # [seconds to the row, seconds into the run, rule]
        "alerts_missed": missed,
        "alerts_stalled": {k: v for k, v in stall.items() if k != "stopped"},  # {from_s, seconds}: SIGSTOP
        "alerts_not_streamed": len(alert_row) - len(alert_sse),
        "overview_p95_ms": web.get("/", {}).get("p95_ms"),
        "overview_slowest_ms": web.get("/", {}).get("slow"),  # its slowest 5 %: where the time went
        "facility_p95_ms": web.get(f"/facilities/{fac}", {}).get("p95_ms"),
        "web_errors": sum(int(v["errors"]) for v in web.values()),
        "cpu_share": {
            **{n: round((cpu1[n] - cpu0[n]) / seconds, 3) for n in cpu0},
            "publisher": round(done["cpu_s"] / seconds, 3),
        },
        "rss_mb_start": rss_start,
        "rss_mb_min2": rss_min2,
        "rss_mb_end": rss_end,
        "rss_growth_min2_to_end": growth,
        "rss_mb_every_30s": rss_series,
        # full collections during the run and their mean pause (runtime.collector settles startup's objects)
        "gc_full_collections": {n: int(gc1[n][0] - gc0[n][0]) for n in gc0},
        "gc_full_pause_ms_mean": {
            n: round(1000 * (gc1[n][1] - gc0[n][1]) / max(1, gc1[n][0] - gc0[n][0]), 1) for n in gc0
        },  # a plateau or a slope: what the two figures above cannot tell
        "by_channel": done["by_channel"],
        "morning": morning,  # the day so far, stored before the run (bench.provinceload)
        **storage,
    }


def _storage(
    before: dict[str, int], after: dict[str, int], facilities: int, seconds: float, counts: dict[str, float]
) -> dict[str, Any]:
    """Bytes per facility-day of each table (its growth after the warm-up, scaled to a day), and a
    province's disk for 90 days and a year. The exceptions hold rows by the clock, not by traffic:
    the rollup one row per series and hour (bytes a row × series × 24), device_activity one row per
    device-day, device_state one row per device; and access_events, by the people's day (an event's
    bytes × the events of a simulated week's average day)."""
    days = seconds / 86400
    per_device = {"device_state"}  # one row a device, whatever the days
    by_clock = {"readings_hourly", "device_activity", "access_events", *per_device}
    per_fd = {t: (after[t] - before[t]) / facilities / days for t in TABLES if t not in by_clock}
    if counts["series"]:
        per_row = after["readings_hourly"] / counts["rollup_rows"]
        per_fd["readings_hourly"] = per_row * counts["series"] / facilities * 24
    per_fd["access_events"] = counts["access_row_bytes"] * counts["access_per_facility_day"]
    if counts["device_days"]:
        per_fd["device_activity"] = after["device_activity"] / facilities / max(1, counts["days"])
    proj = {}
    for horizon in (90, 365):
        total = 0.0
        for t, b in per_fd.items():
            keep = retention_days(t)  # contract.retention: chunks and rows pruned alike
            total += max(0.0, b) * min(horizon, keep if keep is not None else horizon) * PROVINCE
        proj[horizon] = total
    return {
        "bytes_per_facility_day": round(sum(max(0.0, b) for b in per_fd.values())),
        "bytes_per_facility_day_by_table": {t: round(b) for t, b in sorted(per_fd.items(), key=lambda kv: -kv[1])},
        "access_events_per_facility_day": round(counts["access_per_facility_day"], 1),
        "access_event_bytes": round(counts["access_row_bytes"]),
        "state_bytes_per_facility": round(sum(after[t] for t in per_device) / facilities),
        "province_gb_90_days": round((proj[90] + sum(after[t] for t in per_device) / facilities * PROVINCE) / 1e9, 1),
        "province_gb_365_days": round((proj[365] + sum(after[t] for t in per_device) / facilities * PROVINCE) / 1e9, 1),
    }


def access_week(reg: Registry, sample: int = 200, seed: int = 1) -> tuple[float, list[SimMessage]]:
    """Access events a facility-day, averaged over a simulated week (Monday to Sunday, the facilities'
    own time) of every n-th facility of the registry (`sample` of them: sizes and kinds vary), and
    the week's access messages. Only the devices that badge (the main door, the patrol points) are
    simulated: the others' heartbeats and readings would cost minutes and change no access event."""
    step = max(1, len(reg.facilities) // sample)
    badging = [
        f.model_copy(
            update={"devices": [d for d in f.devices if d.id == "door-main" or d.type is DeviceType.PATROL_POINT]}
        )
        for f in reg.facilities[::step][:sample]
    ]
    tz = ZoneInfo(badging[0].timezone)
    today = datetime.now(tz).date()
    monday = datetime.combine(today - timedelta(days=today.weekday() + 7), datetime.min.time(), tz)
    sim = CitySim(Registry(facilities=badging), seed, monday)
    week = [ev for ev in sim.run(monday + timedelta(days=7)) if isinstance(ev, SimMessage) and ev.channel == "access"]
    return len(week) / len(badging) / 7, week


async def access_row_bytes(conn: asyncpg.Connection, week: list[SimMessage], root: str) -> float:
    """The bytes an access event takes on disk, with its indexes: the week's messages decoded as
    ingest decodes them and copied into an empty table made like access_events (its chunks have the
    same columns and indexes), whatever the hour of the run."""
    now = datetime.now(UTC)
    received = [Received(Topic(m.facility_id, m.device_id, Channel.ACCESS).render(root), m.payload, now) for m in week]
    rows = list(decode_batch(received, lambda _f, _d: True, root, gateway=lambda _f, _d: False).access.values())
    await conn.execute("CREATE TEMP TABLE bench_access (LIKE access_events INCLUDING ALL)")
    try:
        await conn.copy_records_to_table("bench_access", records=rows, columns=ACCESS_COLS)
        await conn.execute("ANALYZE bench_access")
        size = await conn.fetchval("SELECT pg_total_relation_size('bench_access')")
    finally:
        await conn.execute("DROP TABLE bench_access")
    return float(size) / max(1, len(rows))


async def _wait_ready(procs: dict[str, subprocess.Popen[bytes]], ports: dict[str, int], limit_s: float = 300) -> None:
    """Until every service answers /healthz with 200 (connected to the broker; the web to the
    database), then a second for the subscriptions the connections send."""
    waiting = dict(ports)
    deadline = time.monotonic() + limit_s
    while waiting:
        for name, port in list(waiting.items()):
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited ({procs[name].returncode}) before it was ready")
            if await asyncio.to_thread(healthy, port, 5):
                del waiting[name]
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {limit_s:.0f} s: {sorted(waiting)}")
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)


async def _morning(load: subprocess.Popen[bytes], report: Path, ingest_port: int) -> dict[str, float]:
    """Have the publisher send the day so far (bench.provinceload) and ingest store it: how many, how long."""
    t0 = time.monotonic()
    base = metric(await asyncio.to_thread(scrape, ingest_port), RECEIVED)
    report.with_suffix(".morning").touch()
    while "morning_sent" not in (done := json.loads(report.read_text())):
        if load.poll() is not None:
            raise RuntimeError(f"the publisher failed ({load.returncode})")
        await asyncio.sleep(0.5)
    sent = int(done["morning_sent"])
    await _drain(ingest_port, base + sent, limit_s=600)
    seconds = time.monotonic() - t0
    log(f"the day so far: {sent} messages stored in {seconds:.0f} s")
    return {"messages": sent, "seconds": round(seconds, 1)}


async def _caught_up(alerts_port: int, limit_s: float = 600) -> float:
    """Seconds until the alert engine's input clock is within 3 s of now (alerts.engine.InputClock)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        text = await asyncio.to_thread(scrape, alerts_port)
        if metric(text, "carewatch_alerts_input_behind_seconds") < 3:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - t0


async def _drain(ingest_port: int, expected: float, limit_s: float = 120) -> float:
    """Seconds until ingest has received `expected` messages and committed them (its queue empty)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        text = await asyncio.to_thread(scrape, ingest_port)
        if metric(text, RECEIVED) >= expected and metric(text, "carewatch_ingest_queue_depth") == 0:
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


def _webload(base: str, token: str, paths: list[str], seconds: float = 20) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.webload", base, token, *paths, "--seconds", str(seconds), "--concurrency", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _note(target: dict[str, float], payload: str, at: float) -> None:
    change = json.loads(payload)
    if change.get("action") == "opened":
        target.setdefault(f"{change['facility_id']}:{change['rule']}", at)


def _probe_device(reg: Any) -> str:
    return next(d.id for d in reg.facilities[0].devices if d.type.value == "env_sensor")


class Probe:
    """A reading published once a second on the same broker; lag = publish → its row visible."""

    def __init__(self, db_url: str, port: int, facility: str, device: str) -> None:
        self.db_url, self.port, self.facility, self.device = db_url, port, facility, device
        self.sent, self.stop = 0, False
        self.lags: list[float] = []
        self._at: dict[int, float] = {}

    async def run(self) -> None:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", self.port)
        c.loop_start()
        conn = await asyncpg.connect(self.db_url)
        topic = f"cw/v1/{self.facility}/{self.device}/telemetry"
        since = datetime.now(UTC) - timedelta(seconds=5)
        next_send = time.monotonic()
        try:
            while not self.stop or (self._at and time.monotonic() < next_send + 30):
                if not self.stop and time.monotonic() >= next_send:
                    self.sent += 1
                    now = datetime.now(UTC)
                    body = {
                        "msg_id": f"probe-{self.sent}",
                        "ts": now.isoformat(),
                        "readings": {"bench_probe": self.sent},
                    }
                    self._at[self.sent] = time.time()
                    c.publish(topic, json.dumps(body).encode(), qos=1)
                    next_send += 1.0
                rows = await conn.fetch(
                    "SELECT value FROM readings WHERE facility_id = $1 AND device_id = $2 AND metric = 'bench_probe'"
                    " AND time > $3",
                    self.facility,
                    self.device,
                    since,
                )
                seen = time.time()
                for r in rows:
                    at = self._at.pop(int(r["value"]), None)
                    if at is not None:
                        self.lags.append(seen - at)
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
            c.disconnect()
            c.loop_stop()
