"""`carewatch bench …`: the benchmark commands (each prints one JSON line)."""

from __future__ import annotations

import asyncio
import json
import signal
from types import FrameType

import click


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.group()
def bench() -> None:
    """Benchmarks: figures as ratios against baselines measured in the same run."""
    # `kill` stops a bench as Ctrl-C does: its cleanup runs (its services, load processes and private
    # stack stopped). Python's default for SIGTERM ends the process at once and left them running.
    signal.signal(signal.SIGTERM, _interrupt)


@bench.command("ingest")
@click.option("-n", default=200_000, show_default=True, help="telemetry messages")
@click.option("--naive", "naive_n", default=20_000, show_default=True, help="messages for the naive consumer")
@click.option("--batches", default=2_000, show_default=True, help="gateway batches of 100 readings")
def bench_ingest(n: int, naive_n: int, batches: int) -> None:
    """MQTT → TimescaleDB throughput against the broker relay, a naive consumer and raw COPY."""
    from bench.ingest import run_ingest_bench

    result = asyncio.run(run_ingest_bench(n=n, naive_n=naive_n, batches=batches))
    click.echo(json.dumps(result))


@bench.command("alerts")
@click.option("--events", default=40, show_default=True, help="critical events injected")
@click.option("--rate", default=4000.0, show_default=True, help="background telemetry, messages a second")
def bench_alerts(events: int, rate: float) -> None:
    """Publish → alert committed and → web stream, under background load."""
    from bench.alerts import run_alerts_bench

    click.echo(json.dumps(asyncio.run(run_alerts_bench(events=events, background_rate=rate))))


@bench.command("web")
@click.option("--facilities", default=1000, show_default=True)
@click.option("--every", default=15, show_default=True, help="minutes between readings in the week of data")
@click.option("--seconds", default=15.0, show_default=True, help="load per page")
@click.option("--concurrency", default=4, show_default=True, help="clients of the load process")
@click.option(
    "--login-flood",
    is_flag=True,
    help="instead: a token's API p99 quiet and during floods of 12 addresses × 19 failed logins (issue #38 B)",
)
@click.option("--rounds", default=15, show_default=True, help="with --login-flood: floods of 228 logins")
def bench_web(facilities: int, every: int, seconds: float, concurrency: int, login_flood: bool, rounds: int) -> None:
    """Overview and facility pages with a week of data, loaded from another process."""
    if login_flood:
        from bench.loginflood import run_login_flood_bench

        click.echo(json.dumps(asyncio.run(run_login_flood_bench(rounds))))
        return
    from bench.web import run_web_bench

    click.echo(json.dumps(asyncio.run(run_web_bench(facilities, every, 2, seconds, concurrency))))


@bench.command("truth")
@click.option("--facilities", default=60, show_default=True)
@click.option(
    "--days", default=30, show_default=True, help="simulated days from Monday 21 Sep 2026 (National Day inside)"
)
@click.option("--seed", default=1, show_default=True)
@click.option("--workers", default=0, help="processes (0: one per CPU)")
@click.option(
    "--start",
    "start_day",
    default=None,
    help="the run's first local day, e.g. 2026-02-16 (the Spring Festival block); default Monday 21 Sep 2026",
)
@click.option(
    "--only",
    default="",
    help="comma-separated scenarios or field situations: run just the facilities that play them",
)
def bench_truth(facilities: int, days: int, seed: int, workers: int, start_day: str | None, only: str) -> None:
    """A simulated month against the alert engine: false alerts and missed scenarios (target 0 and 0)."""
    from datetime import date, datetime

    from bench.truth import MONTH_START, run_truth_bench

    start = MONTH_START
    if start_day:
        try:
            start = datetime.combine(date.fromisoformat(start_day), MONTH_START.timetz())
        except ValueError as err:
            raise click.BadParameter(f"{start_day!r}: give a date as 2026-02-16", param_hint="--start") from err
    names = [n.strip() for n in only.split(",") if n.strip()]
    try:
        result = run_truth_bench(facilities, days, seed, workers or None, start=start, only=names)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--only") from err
    click.echo(json.dumps(result, ensure_ascii=False))


@bench.command("backup")
@click.option("--facilities", default=100, show_default=True)
@click.option(
    "--devices", default=10, show_default=True, help="environment sensors a facility, a reading a minute each"
)
@click.option("--days", default=1, show_default=True, help="days of readings (the readings' retention is 7)")
def bench_backup(facilities: int, devices: int, days: int) -> None:
    """A full backup and a point-in-time restore of a filled database, against `cp -a` of its data directory."""
    from bench.backup import run_backup_bench

    click.echo(json.dumps(asyncio.run(run_backup_bench(facilities, devices, days))))


@bench.command("gaming")
@click.option("--days", default=30, show_default=True, help="simulated days from Sunday 1 Nov 2026")
@click.option("--seed", default=41, show_default=True)
@click.option("--workers", default=2, show_default=True, help="processes")
def bench_gaming(days: int, seed: int, workers: int) -> None:
    """Strategies to look better than the truth, through the real engine and credit method (target: none
    beats the same facility honest)."""
    from bench.gaming import run_gaming_bench

    click.echo(json.dumps(run_gaming_bench(days, seed, workers), ensure_ascii=False))


@bench.command("simulate")
@click.option("--facilities", default=1000, show_default=True)
@click.option("--minutes", default=5.0, show_default=True, help="simulated minutes to publish")
def bench_simulate(facilities: int, minutes: float) -> None:
    """The simulator as fast as possible against a bare paho publish loop."""
    from bench.simulate import run_simulate_bench

    click.echo(json.dumps(run_simulate_bench(facilities, minutes)))


@bench.command("gateway")
@click.option("-n", default=20_000, show_default=True, help="local messages, live")
@click.option("--backlog-minutes", default=10.0, show_default=True, help="length of the uplink cut")
@click.option("--facility-rate", default=20.0, show_default=True, help="local messages a second during the cut")
def bench_gateway(n: int, backlog_minutes: float, facility_rate: float) -> None:
    """The facility gateway live and replaying its spool after a cut, against a bare paho relay."""
    from bench.gateway import run_gateway_bench

    click.echo(json.dumps(run_gateway_bench(n, backlog_minutes, facility_rate)))


@bench.command("province")
@click.option("--facilities", default=5000, show_default=True)
@click.option("--minutes", default=10.0, show_default=True, help="of traffic (the documented long run: 60)")
@click.option("--seed", default=1, show_default=True)
@click.option("--inject-every", default=20.0, show_default=True, help="seconds between life-safety scenarios")
@click.option("--stall-alerts", default=0.0, show_default=True, help="seconds the alert engine is stopped (SIGSTOP)")
@click.option("--stall-at", default=120.0, show_default=True, help="seconds into the run the stop begins")
def bench_province(
    facilities: int, minutes: float, seed: int, inject_every: float, stall_alerts: float, stall_at: float
) -> None:
    """A province's traffic through ingest, alerts and the web on one box; storage per facility-day."""
    from bench.province import run_province_bench

    run = run_province_bench(facilities, minutes, seed, inject_every, stall_alerts, stall_at)
    click.echo(json.dumps(asyncio.run(run)))


@bench.command("drain")
@click.option("-n", default=200_000, show_default=True, help="messages in the backlog")
def bench_drain(n: int) -> None:
    """A backlog drained by mosquitto_sub, ingest and the alert engine, one after another."""
    from bench.drain import run_drain_bench

    click.echo(json.dumps(run_drain_bench(n)))


@bench.command("notify")
@click.option("--backlog", default=20_000, show_default=True, help="test messages queued for the robot")
def bench_notify(backlog: int) -> None:
    """A critical alert's delivery time behind a backlog, against a loopback WeCom robot (150 ms, 20/min)."""
    from bench.notify import run_notify_bench

    click.echo(json.dumps(asyncio.run(run_notify_bench(backlog))))
