"""`bench web`: overview and facility pages with a week of data, loaded from another process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import log, wait_healthy
from runtime.stack import LocalStack, free_port
from storage.migrate import migrate
from storage.registry import load_registry

# -- web --------------------------------------------------------------------------------------------
# readings: $2 env sensors per facility, co2/temperature every $1 minutes, 7 days
_WEEK_READINGS = """INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)
       SELECT t, d.facility_id, d.id, m, CASE m WHEN 'co2_ppm' THEN 600 + 300 * random() ELSE 18 + 6 * random() END,
              'w' || extract(epoch FROM t)::bigint
       FROM (SELECT facility_id, id, row_number() OVER (PARTITION BY facility_id ORDER BY id) AS k
               FROM devices WHERE type = 'env_sensor') d
       CROSS JOIN generate_series(now() - interval '7 days', now(), make_interval(mins => $1)) t
       CROSS JOIN unnest(ARRAY['co2_ppm', 'temp_c']) m
       WHERE d.k <= $2"""
_WEEK_SQL = [
    # access: every child in and out each weekday (with a guardian), every staff member in and out
    """INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, guardian_id, payload)
       SELECT day + interval '7 hours 40 minutes' + random() * interval '50 minutes' + (io * interval '9 hours'),
              c.facility_id, 'door-main', 'a' || c.id || extract(epoch FROM day)::bigint || io,
              CASE io WHEN 0 THEN 'child_in' ELSE 'child_out' END, c.id, 'g-' || c.id, '{}'
       FROM children c CROSS JOIN generate_series(date_trunc('day', now()) - interval '6 days',
                                                  date_trunc('day', now()), interval '1 day') day
       CROSS JOIN generate_series(0, 1) io
       WHERE extract(isodow FROM day) < 6""",
    """INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)
       SELECT day + interval '7 hours' + random() * interval '30 minutes' + (io * interval '10 hours'),
              s.facility_id, 'door-main', 's' || s.id || extract(epoch FROM day)::bigint || io,
              CASE io WHEN 0 THEN 'staff_in' ELSE 'staff_out' END, s.id, '{}'
       FROM staff s CROSS JOIN generate_series(date_trunc('day', now()) - interval '6 days',
                                               date_trunc('day', now()), interval '1 day') day
       CROSS JOIN generate_series(0, 1) io
       WHERE extract(isodow FROM day) < 6 AND NOT s.banned""",
    # events: door and self-test events, about 20 a facility a day
    """INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)
       SELECT now() - random() * interval '7 days', f.id, 'exit-1', 'e' || f.id || i,
              'exit_door', CASE WHEN i % 2 = 0 THEN 'open' ELSE 'closed' END, '{}'
       FROM facilities f CROSS JOIN generate_series(1, 140) i""",
    # alerts: five a facility a day, nearly all cleared and acknowledged; about 3 % of facilities
    # with an open one now
    """INSERT INTO alerts (rule, severity, facility_id, device_id, subject, status, acknowledged, opened_at,
                          last_seen_at, cleared_at, acknowledged_at, acknowledged_by, summary, summary_en)
       SELECT r.rule, r.sev, f.id, NULL, 'w' || i, 'cleared', true, t, t, t + interval '10 minutes',
              t + interval '12 minutes', 'bench', r.rule, r.rule
       FROM facilities f CROSS JOIN generate_series(1, 35) i
       CROSS JOIN LATERAL (SELECT now() - random() * interval '7 days' AS t) tt
       CROSS JOIN LATERAL (SELECT (ARRAY['low_battery', 'device_offline', 'environment_out_of_range', 'guard_absent',
                                         'exit_obstructed'])[1 + (i % 5)] AS rule,
                                  (ARRAY['warning', 'major', 'minor', 'major', 'major'])[1 + (i % 5)] AS sev) r""",
    """INSERT INTO alerts (rule, severity, facility_id, device_id, status, opened_at, last_seen_at, summary, summary_en)
       SELECT 'fire_alarm', 'critical', f.id, 'smoke-nap1', 'active', now() - interval '5 minutes', now(),
              '火警', 'fire'
       FROM facilities f WHERE abs(hashtext(f.id)) % 33 = 0""",
    """INSERT INTO alert_history (alert_id, at, action, actor, detail)
       SELECT id, opened_at, 'opened', 'engine', '{}'::jsonb FROM alerts
       UNION ALL SELECT id, acknowledged_at, 'acknowledged', 'bench', '{}'::jsonb FROM alerts WHERE acknowledged""",
    # every device seen a minute ago, gateways online
    """INSERT INTO device_state (facility_id, device_id, last_seen_at, online, battery_pct, heartbeat_s)
       SELECT facility_id, id, now() - interval '1 minute', true, 80, heartbeat_s FROM devices""",
]


async def _fill_week(url: str, facilities: int, every_min: int, sensors: int) -> dict[str, int]:
    from simulators.registry_gen import generate_registry
    from storage.retention import refresh_rollup_range

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await load_registry(conn, generate_registry(facilities, seed=2026))
        await conn.execute(_WEEK_READINGS, every_min, sensors)
        for sql in _WEEK_SQL:
            t0 = time.perf_counter()
            await conn.execute(sql)
            log(f"  {sql.split()[2]}: {time.perf_counter() - t0:.1f} s")
        now = datetime.now(UTC)
        await refresh_rollup_range(conn, now - timedelta(days=8), now)
        await conn.execute("ANALYZE")
        counts = {}
        for table in ("readings", "readings_hourly", "access_events", "events", "alerts", "devices"):
            counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return counts
    finally:
        await conn.close()


async def run_web_bench(
    facilities: int = 1000, every_min: int = 15, sensors: int = 2, seconds: float = 15.0, concurrency: int = 4
) -> dict[str, Any]:
    """Overview and facility pages with `facilities` facilities and a week of data, under load from
    another process (bench.webload), against /healthz (one database round trip) in the same run."""
    from storage.users import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    web_proc: subprocess.Popen[bytes] | None = None
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        admin = await asyncpg.connect(info.database_url)
        try:
            await admin.execute("CREATE DATABASE benchweb")
        finally:
            await admin.close()
        url = info.database_url.rsplit("/", 1)[0] + "/benchweb"
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            _, city = await create_user(conn, "bench-city", "inspector", None)
        finally:
            await conn.close()
        log(f"filling a week of data for {facilities} facilities")
        t0 = time.perf_counter()
        counts = await _fill_week(url, facilities, every_min, sensors)
        log(f"filled in {time.perf_counter() - t0:.0f} s: {counts}")
        conn = await asyncpg.connect(url)
        try:
            fac = await conn.fetchval(
                "SELECT facility_id FROM alerts WHERE status = 'active' ORDER BY facility_id LIMIT 1"
            )
            county = await conn.fetchval("SELECT county FROM facilities WHERE id = $1", fac)
            _, county_tok = await create_user(conn, "bench-county", "inspector", None, county=county)
        finally:
            await conn.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        async def start_web(workers: int) -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [sys.executable, "-m", "carewatch.cli", "web", "--workers", str(workers)],
                env={
                    **os.environ,
                    "CAREWATCH_DATABASE_URL": url,
                    "CAREWATCH_MQTT_URL": info.mqtt_url,
                    "CAREWATCH_HTTP": f"127.0.0.1:{port}",
                    "CAREWATCH_STATE_DIR": str(state),
                    # the pages under one token's load are measured, not the rate limit (web/ratelimit.py)
                    "CAREWATCH_API_RATE": "0",
                },
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await wait_healthy(port, 20.0)
            await asyncio.sleep(1.0 if workers > 1 else 0)  # the other workers bind a moment later
            return proc

        web_proc = await start_web(1)

        def load(token: str, paths: list[str], clients: int) -> dict[str, dict[str, float]]:
            cmd = [sys.executable, "-m", "bench.webload", base, token, *paths]
            cmd += ["--seconds", str(seconds), "--concurrency", str(clients)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        pages = ["/healthz", "/", f"/facilities/{fac}", "/api/v1/facilities"]
        city_r = await asyncio.to_thread(load, city, pages, 1)  # one inspector at a time: the page's own time
        busy_r = await asyncio.to_thread(load, city, pages[:2], concurrency)  # several at once: queueing too
        county_r = await asyncio.to_thread(load, county_tok, ["/"], 1)
        web_proc.terminate()
        web_proc.wait(10)
        web_proc = await start_web(2)  # the same load on two web processes (carewatch web --workers 2)
        busy2_r = await asyncio.to_thread(load, city, pages[:2], concurrency)
        log(json.dumps({"city": city_r, "city_concurrent": busy_r, "county": county_r, "two_workers": busy2_r}))
        base_p95 = city_r["/healthz"]["p95_ms"]
        errors = sum(int(v["errors"]) for r in (city_r, busy_r, county_r, busy2_r) for v in r.values())
        return {
            "bench": "web",
            "facilities": facilities,
            "overview_p95_ms": city_r["/"]["p95_ms"],
            "facility_p95_ms": city_r[f"/facilities/{fac}"]["p95_ms"],
            "api_facilities_p95_ms": city_r["/api/v1/facilities"]["p95_ms"],
            "county_overview_p95_ms": county_r["/"]["p95_ms"],
            "healthz_p95_ms": base_p95,
            "overview_vs_healthz": round(city_r["/"]["p95_ms"] / base_p95, 1),
            "facility_vs_healthz": round(city_r[f"/facilities/{fac}"]["p95_ms"] / base_p95, 1),
            f"overview_p95_ms_{concurrency}_clients": busy_r["/"]["p95_ms"],
            f"overview_vs_healthz_{concurrency}_clients": round(
                busy_r["/"]["p95_ms"] / busy_r["/healthz"]["p95_ms"], 1
            ),
            f"overview_p95_ms_{concurrency}_clients_2_workers": busy2_r["/"]["p95_ms"],
            "two_workers_vs_one": round(busy_r["/"]["p95_ms"] / busy2_r["/"]["p95_ms"], 2),
            "errors": errors,
            "rows": counts,
        }
    finally:
        if web_proc is not None:
            web_proc.terminate()
            web_proc.wait(10)
        await asyncio.to_thread(stack.destroy)  # a week of data: ~2.3 GB left in /tmp otherwise


# -- dedup keys -------------------------------------------------------------------------------------
