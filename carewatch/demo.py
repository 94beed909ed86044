"""`carewatch demo`: the whole system with simulated facilities, on this machine.

Brings up the local stack, migrates, loads a generated registry of 60 Xinzhou facilities, creates
demo users, then runs ingest, the alert engine, the web app and the simulator as child processes
(stopped together, by pid, on Ctrl-C). A smoke alarm and a panic button are injected in the first
minutes so that something visibly happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import yaml

from carewatch.provision import provision
from contract.broker_acl import SERVICE_ROLES, service_user
from contract.clock import SYSTEM, Clock, ScaledClock
from contract.registry import Facility, Registry
from runtime.service import STOP_DEADLINE_S
from runtime.stack import LocalStack, StackInfo, free_port, port_is_free
from simulators.registry_gen import generate_registry, simulated_delegates, with_register
from storage import credentials
from storage.messages import latest_time
from storage.migrate import migrate
from storage.registry import load_registry
from storage.roles import SERVICES, ensure_roles
from storage.users import create_user

FACILITIES = 60
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SEED = 1
DEMO_USERS: list[tuple[str, str, dict[str, str], str]] = [  # username, role, scope, password
    ("xinfu", "inspector", {"county": "140902"}, "xinfu-demo"),
    # two more of the county's inspectors: a random draw (双随机, /draws) gives each facility two inspectors
    # from outside its township, and with one inspector the demo could not draw at all (a newcomer's try)
    ("xinfu2", "inspector", {"county": "140902"}, "xinfu2-demo"),
    ("xinfu3", "inspector", {"county": "140902"}, "xinfu3-demo"),
    ("city", "inspector", {}, "city-demo"),
    # two of the county's 消防 (fire) officers: a department's inspection has two officers of that department
    # (supervision/departments.py), with their own checklist and orders
    ("xiaofang", "inspector", {"county": "140902", "department": "fire"}, "xiaofang-demo"),
    ("xiaofang2", "inspector", {"county": "140902", "department": "fire"}, "xiaofang2-demo"),
    ("operator", "operator", {}, "operator-demo"),  # scope: the first facility
    ("admin", "admin", {}, "admin-demo"),  # registry loads and the audit log
]
# The names the pages show for the demo's logins (the login itself only as a tooltip): a duty role, as a
# demo has no real people
DEMO_NAMES = {
    "xinfu": "忻府区监管员甲",
    "xinfu2": "忻府区监管员乙",
    "xinfu3": "忻府区监管员丙",
    "city": "市卫健委值班员",
    "xiaofang": "忻府区消防监督员甲",
    "xiaofang2": "忻府区消防监督员乙",
    "operator": "机构负责人",
    "admin": "平台管理员",
}
# The scenarios injected, at seconds after the start: the first alarm late enough for a newcomer to
# have the overview open when it fires (`carewatch demo --alarm-after` moves them all).
INJECT = [("smoke_alarm", 0), ("panic_button", 75), ("camera_blind_spot", 135)]
ALARM_AFTER_S = 45
CITY_TZ = ZoneInfo("Asia/Shanghai")  # the demo's facilities' zone (simulators.registry_gen)
# An accelerated demo's clock keeps the machine's pace this long after it is made, while the services
# and the simulator start and connect (contract.clock.ScaledClock); its day speeds up after that.
WARMUP_S = 12.0


class DemoStartError(ValueError):
    """A demo start that would put stored data in the demo's future."""


def demo_clock(
    speed: float, start_from: dt.time | datetime | None, latest: datetime | None, real_now: datetime
) -> Clock:
    """The clock the whole demo runs on. At speed 1 and no `--from`, the machine's. Otherwise a clock at
    `speed` from the next `start_from` (HH:MM, the facilities' local time, Asia/Shanghai) after the
    machine's time and after anything a previous accelerated run stored ahead of it (`latest`), so that
    nothing stored ever lies in the demo's future; without `start_from`, from that later of the two. A
    whole date and time (any day, past or future) is taken as it is, unless something stored lies
    after it (DemoStartError)."""
    if speed == 1.0 and start_from is None:
        return SYSTEM
    anchor = real_now.timestamp() + WARMUP_S  # the start's moment: the services are up by then
    if isinstance(start_from, datetime):
        start = start_from if start_from.tzinfo else start_from.replace(tzinfo=CITY_TZ)
        if latest is not None and latest > start:
            raise DemoStartError(
                f"data stored by an earlier run reaches {latest.astimezone(CITY_TZ):%Y-%m-%d %H:%M}, after the"
                " demo's start: choose a later start, or `carewatch stack down` and remove the state directory"
            )
        return ScaledClock(start, speed, anchor)
    floor = max(real_now, latest or real_now)
    if start_from is None:
        return ScaledClock(floor.replace(microsecond=0), speed, anchor)
    local = floor.astimezone(CITY_TZ)
    start = datetime.combine(local.date(), start_from, CITY_TZ)
    if start < floor:
        start = datetime.combine(local.date() + dt.timedelta(days=1), start_from, CITY_TZ)
    return ScaledClock(start, speed, anchor)


async def _prepare(
    info: StackInfo, stack: LocalStack, now: datetime
) -> tuple[Facility, dict[str, str], datetime | None, dt.date]:
    conn = await asyncpg.connect(info.database_url)
    try:
        await migrate(conn)
        latest = await latest_time(conn)
        # the register of people behind the staff (names; certificates valid around the demo's day, which a
        # demo run before at speed may have carried past today): the pages name people, and nothing runs out
        loaded = max(now, latest) if latest is not None else now
        day = loaded.astimezone(CITY_TZ).date()
        reg = with_register(generate_registry(FACILITIES, SEED), day)
        # the services connect as their own database roles, never as the owner (storage/roles.py)
        await ensure_roles(conn, stack.role_passwords())
        await load_registry(conn, reg, loaded)  # the register's roles start when it is loaded
        await _delegates(conn, reg, day)
        # Nothing anonymous: every service and the simulator connect with their own credentials.
        creds_dir = stack.state_dir / "credentials"
        services_file = creds_dir / "services.yaml"
        known = yaml.safe_load(services_file.read_text()) if services_file.exists() else {}
        rotate = tuple(service_user(r) for r in SERVICE_ROLES if service_user(r) not in (known or {}))
        have = await credentials.usernames(conn)
        await provision(conn, stack.mq_dir, creds_dir, rotate=tuple(u for u in rotate if u in have))
        stack.apply_auth()
        secrets_ = yaml.safe_load(services_file.read_text())
        return reg.facilities[0], secrets_, latest, day
    finally:
        await conn.close()


async def _delegates(conn: asyncpg.Connection, reg: Registry, day: dt.date) -> None:
    """The register's pick-up delegates (simulators.registry_gen.simulated_delegates: two valid, one expired)
    recorded as the facility's operator recorded them, with the parents' consent as a note; one recorded
    already (an earlier run) is left as it is."""
    from storage.pickup import create, current

    have = {
        (d.facility_id, d.child_id, d.person_id) for d in await current(conn, None, datetime(2000, 1, 1, tzinfo=UTC))
    }
    children = {(f.id, c.id): c for f in reg.facilities for c in f.children}
    for d in simulated_delegates(reg, day):
        if (d.facility_id, d.child_id, d.person_id) in have:
            continue
        fields = {
            "child_id": d.child_id,
            "person_id": d.person_id,
            "name": d.name,
            "relation": d.relation,
            "kind": d.kind,
            "valid_from": d.valid_from,
            "valid_until": d.valid_until,
            "consent_by": children[(d.facility_id, d.child_id)].guardians[0],
            "consent_method": "note",
            "consent_at": d.created_at,
            "consent_note": "演示数据：家长当面同意，由祖父母长期接送（模拟） / demo data: the parents agreed in person"
            " that the grandparent collects the child (simulated)",
        }
        await create(conn, d.facility_id, fields, "demo", d.created_at, None, None)


async def _logins(info: StackInfo, operator_facility: str, now: datetime) -> list[tuple[str, str, str]]:
    """The demo's users (created, or their passwords and scopes reset), stamped in the audit log at `now`,
    the demo clock's reading: the audit page shows the demo's time, not the machine's."""
    conn = await asyncpg.connect(info.database_url)
    try:
        logins = []
        for username, role, base_scope, password in DEMO_USERS:
            scope: dict[str, str] = {"facility": operator_facility} if role == "operator" else dict(base_scope)
            await create_user(
                conn,
                username,
                role,
                password,
                actor="demo",
                update=True,
                county=scope.get("county"),
                facility=scope.get("facility"),
                now=now,
                display_name=DEMO_NAMES.get(username),
                department=scope.get("department"),
            )
            where = scope.get("county") or scope.get("facility") or ("all" if role == "admin" else "city")
            where += f", {scope['department']}" if "department" in scope else ""
            logins.append((username, password, f"{role} ({where})"))
        return logins
    finally:
        await conn.close()


UNFILED_EVERY = 6  # one facility in six has never filed (未备案), the others filed in 2025
FILED_SOURCE = "演示数据：模拟的存量备案记录（非真实备案）"


async def _filed(info: StackInfo, now: datetime) -> int:
    """The demo's facilities filed with their counties before CareWatch, as a county imports its existing
    备案 records (supervision.filing_import), but for one in six that never filed: the public page, the
    statistics and the 督导评估 then show both. Facilities filed already (an earlier run) are left as they
    are. Returns how many were imported."""
    from contract.places import county_name_zh
    from storage.filing import counties, with_filings
    from supervision.filing import filing_number
    from supervision.filing_import import COLUMNS, import_file

    conn = await asyncpg.connect(info.database_url)
    try:
        filed, _ = await with_filings(conn)
        seq: dict[str, int] = {}
        lines = [",".join(COLUMNS)]
        for i, (fid, county) in enumerate((await counties(conn)).items()):
            seq[county] = seq.get(county, 0) + 1
            if i % UNFILED_EVERY == UNFILED_EVERY - 1 or fid in filed:
                continue
            number = filing_number(county, 2025, seq[county])
            day = dt.date(2025, 3, 3) + dt.timedelta(days=(5 * i) % 280)
            lines.append(f"{fid},{number},{day},{county_name_zh(county)}卫生健康局,{FILED_SOURCE}")
        if len(lines) == 1:
            return 0
        return len(await import_file(conn, "\n".join(lines) + "\n", "demo", now))
    finally:
        await conn.close()


def _prepared(
    info: StackInfo, stack: LocalStack, speed: float, start_from: dt.time | datetime | None
) -> tuple[list[tuple[str, str, str]], str, dict[str, str], Clock, dt.date]:
    """The stack prepared: (the logins, the first facility's name, the services' secrets, the demo clock, the
    register's day)."""
    first, secrets_, latest, day = asyncio.run(_prepare(info, stack, datetime.now(UTC)))
    # the users are stamped just before the demo's start (a first reading of its clock); the clock handed to
    # the services is made after their passwords are hashed, so that its warm-up is all the services'
    setup_at = demo_clock(speed, start_from, latest, datetime.now(UTC)).now()
    logins = asyncio.run(_logins(info, first.id, setup_at))
    asyncio.run(_filed(info, setup_at))
    return logins, first.name, secrets_, demo_clock(speed, start_from, latest, datetime.now(UTC)), day


def _say_running(host: str, port: int, web: subprocess.Popen[bytes], log: Path, limit_s: float = 90.0) -> None:
    """Print the address once the web answers /healthz there (at most `limit_s`, or until it exits): on a busy
    machine the web took longer than a fixed wait to listen, and a first click on the printed link was refused."""
    deadline = time.monotonic() + limit_s
    answered = False
    url = f"http://{host}:{port}/"
    while not answered and time.monotonic() < deadline and web.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}healthz", timeout=2) as r:  # noqa: S310
            answered = r.status == 200
        if not answered:
            time.sleep(0.5)
    if not answered:
        print(f"[demo] the web does not answer on {url} yet: see {log}", flush=True)
    print(f"\n  CareWatch is running: open {url}\n")


def run_demo(
    stack: LocalStack,
    http: str,
    alarm_after: int = ALARM_AFTER_S,
    speed: float = 1.0,
    start_from: dt.time | datetime | None = None,
) -> int:
    """The demo; `speed` and `start_from` play a facility day faster (`carewatch demo --speed 60 --from
    07:00`): every service, the web and the simulator run on one ScaledClock, handed to them as
    CAREWATCH_CLOCK. `alarm_after` stays in real seconds at any speed."""
    print("[demo] starting the local stack (first run installs packages and builds TimescaleDB)...", flush=True)
    info = stack.up()
    print("[demo] preparing the database, the registry of 60 facilities and broker credentials...", flush=True)
    logging.getLogger("storage.migrate").setLevel(logging.WARNING)  # one line here, not one per migration
    logins, first, secrets_, clock, day = _prepared(info, stack, speed, start_from)
    print("[demo] starting ingest, the alert engine, the web app and the simulator...", flush=True)
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": info.database_url,
        "CAREWATCH_HTTP": http,
        "CAREWATCH_STATE_DIR": str(stack.state_dir),
        "CAREWATCH_CLOCK": clock.spec(),
        # the simulator writes its lag behind the demo's clock here; the web's pages say it while it is behind
        "CAREWATCH_SIMULATOR_BEHIND_FILE": str(stack.state_dir / "logs" / BEHIND_FILE),
    }

    def mqtt_for(role: str) -> dict[str, str]:
        user = service_user(role)
        return {"CAREWATCH_MQTT_URL": f"mqtt://{user}:{secrets_[user]}@127.0.0.1:{info.mqtt_port}"}

    def database_for(name: str) -> dict[str, str]:
        url = stack.service_database_url(name) if name in SERVICES else None
        return {"CAREWATCH_DATABASE_URL": url} if url else {}

    logs = stack.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    cli = [sys.executable, "-m", "carewatch.cli"]
    # the usual metrics ports, or free ones when something else has them
    metrics = {name: p if port_is_free(p) else free_port() for name, p in (("ingest", 9101), ("alerts", 9102))}
    commands = {
        "ingest": [*cli, "ingest", "--metrics", f"127.0.0.1:{metrics['ingest']}"],
        "alerts": [*cli, "alerts", "--metrics", f"127.0.0.1:{metrics['alerts']}", "--public-url", f"http://{http}"],
        "web": [*cli, "web", "--public-url", f"http://{http}"],
        "simulator": [
            *cli,
            "simulate",
            "run",
            "--facilities",
            str(FACILITIES),
            "--seed",
            str(SEED),
            "--hours",
            "720",
            # the staff as people of the register, its cases and delegates as the database has them
            "--register-day",
            day.isoformat(),
            # each facility signs in as its own gateway would (the broker binds client ids to usernames)
            "--credentials-dir",
            str(stack.state_dir / "credentials"),
            "--behind-file",
            str(logs / BEHIND_FILE),
            # simulated seconds after the start: the same real seconds at any speed
            *[a for name, t in INJECT for a in ("--inject", f"{name}@{(alarm_after + t) * clock.speed:g}")],
        ],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    group = 0  # the services' own process group (0: the first service starts it)
    previous = {sig: signal.signal(sig, _stop_requested) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for name, cmd in commands.items():
            role = {"ingest": "ingest", "alerts": "alerts", "simulator": "simulator"}.get(name)
            with (logs / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(
                    cmd,
                    env={**env, **(mqtt_for(role) if role else {}), **database_for(name)},
                    stdout=log,
                    stderr=log,
                    process_group=group,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - the demo is single-threaded here
                )
            group = group or procs[name].pid
            time.sleep(1.0 if name != "web" else 2.0)
        host, _, port = http.rpartition(":")
        _say_running(host, int(port), procs["web"], logs / "web.log")
        for username, password, what in logins:
            print(f"  login {username:<9} password {password:<14} {what}")
        print(f"\n  A smoke alarm fires in {first} about {alarm_after} s after the start; logs in {logs}.")
        if isinstance(clock, ScaledClock):
            local = clock.start.astimezone(CITY_TZ)
            print(f"  Demo time: {local:%Y-%m-%d %H:%M} (Asia/Shanghai), running at {clock.speed:g}x.")
        print("  Metrics: " + ", ".join(f"{n} http://127.0.0.1:{p}/metrics" for n, p in metrics.items()))
        print("  Press Ctrl-C to stop (the stack keeps running: `carewatch stack down` stops it).\n", flush=True)
        ticks, said = 0, 0
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
            ticks += 1
            said = _say_if_behind(logs / BEHIND_FILE, said, clock.speed)
            if ticks % 5 == 0:
                _keep_the_broker(stack)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        print(f"[demo] {', '.join(dead)} stopped; see {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(group, procs.values())


def _keep_the_broker(stack: LocalStack) -> None:
    if stack.status()["mosquitto"] != "running":
        # Seen once here: Debian's Mosquitto 2.0.11 died of a segfault under the demo's load.
        # Bring it back; ingest, alerts and the simulator reconnect by themselves.
        print("[demo] the broker stopped; restarting it", file=sys.stderr, flush=True)
        stack.up()


BEHIND_FILE = "simulator.behind"  # the simulator's lag behind the demo's clock (simulators.runner.drive)


LAG_STEPS_MIN = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # the lags said as the simulator falls further behind


def lag_step(behind_s: float) -> int:
    """The largest of LAG_STEPS_MIN the lag has reached (minutes), 0 under the first."""
    return max((m for m in LAG_STEPS_MIN if behind_s >= m * 60), default=0)


def lag_news(said: int, behind_s: float, speed: float) -> tuple[int, str | None]:
    """What to tell the person watching about the simulator's lag (simulated seconds, as its behind file
    holds it), given the step last said (`said`, minutes; 0: on time): a line when the lag reaches a further
    step of LAG_STEPS_MIN, when it has fallen clearly (a fifth) below the step last said, and when it has
    caught up; nothing otherwise. Before, only the first crossing was said ("1 min behind", then silence while
    the pages' banner said 19). Returns the step now said and the line, if any."""
    if behind_s <= 0:
        return 0, ("[demo] the simulator has caught up with the demo's clock" if said else None)
    step, minutes = lag_step(behind_s), max(1, round(behind_s / 60))
    if step > said and not said:
        return step, (
            f"[demo] the simulator is {minutes} min behind the demo's clock: this machine is too busy"
            f" for {speed:g}x. Devices go silent to the platform meanwhile, and the offline alerts that follow"
            " are the demo's, not the devices'. A lower --speed avoids it."
        )
    if step > said:
        return step, f"[demo] the simulator is now {minutes} min behind the demo's clock, and falling further behind"
    if max(step, 1) < said and behind_s < said * 60 * 0.8:
        return max(step, 1), f"[demo] the simulator is catching up: {minutes} min behind the demo's clock"
    return said, None


def _say_if_behind(path: Path, said: int, speed: float) -> int:
    """Tell the person watching when the simulator falls behind the demo's clock, as the lag grows or shrinks,
    and when it has caught up: the devices' silence meanwhile is the machine's, and the platform's offline
    alerts with it. Returns the step of the lag last said (lag_news)."""
    try:
        behind = int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return said
    said, line = lag_news(said, behind, speed)
    if line:
        print(line, file=sys.stderr, flush=True)
    return said


def _stop_requested(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP stop the demo as Ctrl-C does."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _die_with_parent() -> None:
    """In a service, before exec: the kernel sends it SIGTERM when the demo dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the demo is already gone
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_group(group: int, procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to the services' process group; whatever is left after the services' own stop
    deadline gets SIGKILL. Returns once every service has exited."""
    procs = list(procs)
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE_S
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # anything of the group still there, workers included
    for p in procs:
        p.wait()
