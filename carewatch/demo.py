"""`carewatch demo`: the whole system with simulated facilities, on this machine.

Brings up the local stack, migrates, loads a generated registry of 60 Xinzhou facilities, creates
demo users, then runs ingest, the alert engine, the web app and the simulator as child processes
(stopped together, by pid, on Ctrl-C). A smoke alarm and a panic button are injected in the first
minutes so that something visibly happens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import asyncpg

from carewatch.stack import LocalStack, StackInfo
from ingest.migrate import migrate
from ingest.registry_store import load_registry
from simulators.registry_gen import generate_registry
from web.auth import create_user

FACILITIES = 60
SEED = 1
DEMO_USERS = [  # username, role, scope, password
    ("xinfu", "inspector", {"county": "140902"}, "xinfu-demo"),
    ("city", "inspector", {}, "city-demo"),
    ("operator", "operator", {"facility": None}, "operator-demo"),
]
INJECT = ["smoke_alarm@45", "panic_button@120", "camera_blind_spot@180"]


async def _prepare(info: StackInfo) -> tuple[list[tuple[str, str, str]], str]:
    reg = generate_registry(FACILITIES, SEED)
    conn = await asyncpg.connect(info.database_url)
    try:
        await migrate(conn)
        await load_registry(conn, reg)
        logins = []
        for username, role, base_scope, password in DEMO_USERS:
            scope = {"facility": reg.facilities[0].id} if role == "operator" else base_scope
            await create_user(conn, username, role, password, actor="demo", **scope)  # type: ignore[arg-type]
            where = scope.get("county") or scope.get("facility") or "city"
            logins.append((username, password, f"{role} ({where})"))
        return logins, reg.facilities[0].name
    finally:
        await conn.close()


def run_demo(stack: LocalStack, http: str) -> int:
    print("[demo] starting the local stack (first run installs packages and builds TimescaleDB)...", flush=True)
    info = stack.up()
    logins, first = asyncio.run(_prepare(info))
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": info.database_url,
        "CAREWATCH_MQTT_URL": info.mqtt_url,
        "CAREWATCH_HTTP": http,
        "CAREWATCH_STATE_DIR": str(stack.state_dir),
    }
    logs = stack.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    cli = [sys.executable, "-m", "carewatch.cli"]
    commands = {
        "ingest": [*cli, "ingest", "--metrics", "127.0.0.1:9101"],
        "alerts": [*cli, "alerts"],
        "web": [*cli, "web"],
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
            *[a for i in INJECT for a in ("--inject", i)],
        ],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, cmd in commands.items():
            with (logs / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)  # noqa: S603
            time.sleep(1.0 if name != "web" else 2.0)
        host, _, port = http.rpartition(":")
        print(f"\n  CareWatch is running: open http://{host}:{port}/\n")
        for username, password, what in logins:
            print(f"  login {username:<9} password {password:<14} {what}")
        print(f"\n  A smoke alarm fires in {first} about 45 s after the start; logs in {logs}.")
        print("  Press Ctrl-C to stop (the stack keeps running: `carewatch stack down` stops it).\n", flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        print(f"[demo] {', '.join(dead)} stopped; see {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
