"""Session-scoped real Mosquitto and TimescaleDB, a fresh database and topic root per test.

Set CAREWATCH_TEST_DATABASE_URL (a server where we may CREATE DATABASE) and
CAREWATCH_TEST_MQTT_URL to use existing services; otherwise a private stack is started on free
loopback ports in a temporary state directory and destroyed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings

from runtime.stack import LocalStack, free_port
from storage import users
from storage.migrate import migrate
from storage.roles import SERVICES, ensure_roles, role_name
from tests import processes
from tests.faultproxy import FaultProxy

# Property tests judge what the code does, never how fast: on a loaded 2-core machine an example may take
# longer than Hypothesis's default 200 ms deadline, which then fails a test that is right (seen: a suite
# beside four helpers' work). Every @given runs without a deadline and without the too-slow health check.
settings.register_profile("carewatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("carewatch")

TEMPLATE_DB = "cw_test_template"
ROLE_PASSWORD = f"test-{uuid.uuid4().hex}"  # the service roles' password on the test server


def as_role(db_url: str, service: str) -> str:
    """The same database as a service's own role (storage.roles): the services under test hold only
    the grants they hold in production, so a missing grant fails a test, not a deployment."""
    u = urlsplit(db_url)
    netloc = f"{role_name(service)}:{ROLE_PASSWORD}@{u.hostname}:{u.port or 5432}"
    return urlunsplit(u._replace(netloc=netloc))


# Every process this session starts inherits the marker: a leftover is found even once daemonized.
# Each pytest-xdist worker is a session of its own (its own servers): it must not count the other
# worker's processes as its leftovers, so it takes a marker of its own.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ[processes.MARKER] = uuid.uuid4().hex
else:
    os.environ.setdefault(processes.MARKER, uuid.uuid4().hex)


@dataclass(frozen=True)
class Services:
    database_url: str  # admin database on the test server
    mqtt_url: str

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        u = urlsplit(self.mqtt_url)
        return u.hostname or "127.0.0.1", u.port or 1883

    def db_url(self, name: str) -> str:
        return urlunsplit(urlsplit(self.database_url)._replace(path="/" + name))


# argon2id as production hashes (time cost 3, 64 MiB, 4 lanes) takes ~0.2 s of CPU a password; the suite
# creates and logs in a user hundreds of times, in-process, and the hashing was a tenth of its CPU. Test
# users get a cheap argon2id instead: a stored hash carries its own parameters, so a login checks it at
# that cost, through the same code. The production hasher is kept here and checked (test_attacks), and the
# tests about hashing's cost (the login flood, the hash slots) make it slow on purpose. Services started as
# processes (the demo, the web workers) hash as production does.
PRODUCTION_HASHER = users._hasher
users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    db, mq = os.environ.get("CAREWATCH_TEST_DATABASE_URL"), os.environ.get("CAREWATCH_TEST_MQTT_URL")
    if db and mq:
        yield Services(db, mq)
        return
    state = Path(tempfile.mkdtemp(prefix="carewatch-test-"))
    state.chmod(0o755)  # the postgres and mosquitto users must reach their directories
    stack = LocalStack(state, fsync=False)
    try:
        info = stack.up(pg_port=free_port(), mqtt_port=free_port())
        yield Services(info.database_url, info.mqtt_url)
    finally:
        stack.destroy()


@pytest.fixture(scope="session")
async def template_db(services: Services) -> str:
    """A database with all migrations applied, copied for each test (fast: a file copy)."""
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        conn = await asyncpg.connect(services.db_url(TEMPLATE_DB))
        try:
            await migrate(conn)
            await ensure_roles(conn, dict.fromkeys(SERVICES, ROLE_PASSWORD))
        finally:
            await conn.close()
        # TimescaleDB's scheduler connects to every database with the extension; a template that
        # allows no connections can be copied at any time.
        await admin.execute(f"ALTER DATABASE {TEMPLATE_DB} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", TEMPLATE_DB)
    finally:
        await admin.close()
    return TEMPLATE_DB


@pytest.fixture
async def db_url(services: Services, template_db: str) -> AsyncIterator[str]:
    """A fresh migrated database for this test."""
    name = f"cw_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        for attempt in range(20):
            try:
                await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
                break
            except asyncpg.ObjectInUseError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.1)
        yield services.db_url(name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def topic_root() -> str:
    """A unique MQTT topic root per test: tests never see each other's traffic."""
    return f"t{uuid.uuid4().hex[:10]}/cw/v1"


@pytest.fixture
async def fault_proxy_factory() -> AsyncIterator[object]:
    proxies: list[FaultProxy] = []

    async def make(host: str, port: int) -> FaultProxy:
        p = await FaultProxy(host, port).start()
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        await p.stop()


class _LoopErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_processes_left_running() -> Iterator[None]:
    """A test fails if it leaves a process running: a child of the test process, or any process
    started during it that carries this session's marker (tests/processes.py). Set up after the
    session's servers (higher-scoped fixtures come first), so those are not counted. Leftovers get
    5 s to exit, then are killed (they are ours)."""
    before = set(processes.live())
    yield
    deadline = time.monotonic() + 5
    while (left := processes.ours(before)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail("the test left processes running:\n" + "\n".join(f"{p} {c}" for p, c in left.items()))


@pytest.fixture(autouse=True)
def _fail_on_unhandled_loop_errors() -> Iterator[None]:
    """A test fails if asyncio logged an unhandled exception (a task died unseen)."""
    handler = _LoopErrors()
    log = logging.getLogger("asyncio")
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
    if handler.records:
        msgs = "\n".join(r.getMessage() for r in handler.records)
        pytest.fail(f"asyncio logged unhandled errors:\n{msgs}")


# The files that take longest, longest first (summed from `scripts/test --durations=0`, 2026-12-07, idle
# machine: pages 252 s, alert_service 249, credit 199, alert_restart 178, gaming 162, demo 128, attacks 116,
# alert_week 99, simulators 96, api_schema 95, web 49, stops 43; the suite's sum 2,299 s over three workers,
# 807 s of wall time): scripts/test hands pytest-xdist whole files in collection order (`--dist loadfile
# --no-loadscope-reorder`), and the suite ends when the worker holding the last long file does. xdist's own
# order (by the number of tests in a file) put the holiday week's 4 tests, ten minutes of CPU on a loaded
# machine, among the last files, with the other workers idle meanwhile. Longest first, the workers end close
# together. Files not named keep their order after these; `tests/test_architecture.py` checks each named
# file exists.
SLOWEST_FIRST = (
    "test_pages.py",
    "test_alert_service.py",
    "test_alert_restart.py",
    "test_credit.py",
    "test_gaming.py",
    "test_demo.py",
    "test_attacks.py",
    "test_alert_week.py",
    "test_simulators.py",
    "test_api_schema.py",
    "test_web.py",
    "test_stops.py",
    "test_browser_live.py",
    "test_browser.py",
    "test_failover.py",
    "test_backup.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
