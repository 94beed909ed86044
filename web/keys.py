"""Typed application keys and the live-stream hub."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import asyncpg
from aiohttp import web

from contract.clock import Clock
from contract.credit import CreditConfig
from contract.names import FacilityNames
from contract.population import AreaPopulation
from contract.rules import RuleConfig
from contract.targets import Target
from storage.errors import RETRYABLE
from storage.intake import IntakeState
from storage.intake import state as intake_state
from storage.queries import gateway_states
from storage.registry import facility_names
from storage.users import User, display_names
from web.ratelimit import Buckets
from web.replica import Replica
from web.throttle import HashSlots, LoginLimits

RESYNC = '{"resync": true}'  # published when the LISTEN connection is back after a loss


class Hub:
    """Fans PostgreSQL NOTIFY payloads out to every open stream (each with a bounded queue)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()

    def subscribe(self) -> asyncio.Queue[str | None]:
        q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str | None]) -> None:
        self._queues.discard(q)

    def publish(self, payload: str) -> None:
        for q in self._queues:
            if q.full():
                q.get_nowait()  # a stalled client loses its oldest event, not the server its memory
            q.put_nowait(payload)

    def close(self) -> None:
        """End every open stream (server shutdown): each gets None and returns."""
        for q in self._queues:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)


class GatewaySnapshot:
    """Every facility's uplink state (its gateway online or not), read for all facilities at most once
    every TTL_S by this web process and shared by its pages that list many facilities. A gateway counts
    as offline after minutes of silence (device_offline: 3 heartbeats, at least 300 s) or at once by its
    Last Will; reading that a few seconds late changes nothing anyone sees, while reading it for a
    province's 5,000 facilities on every overview was ~25 ms of each (bench province). Open alerts,
    which make a facility red or amber, are read on every request."""

    TTL_S = 5.0

    def __init__(self) -> None:
        self._states: dict[str, bool] = {}
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool, rules: Mapping[str, RuleConfig], now: datetime) -> dict[str, bool]:
        """The states as judged at the `now` of the request that read them, within TTL_S of real time
        (the age of a cached copy, not a judgement)."""
        if time.monotonic() - self._at < self.TTL_S:
            return self._states
        async with self._lock:  # one read at a time; the others take its result
            if time.monotonic() - self._at >= self.TTL_S:
                async with pool.acquire() as conn:
                    self._states = await gateway_states(conn, rules, now)
                self._at = time.monotonic()
        return self._states


class IntakeSnapshot:
    """The intake's clock (storage.intake), read at most once every TTL_S by this web process for the
    banner every page shows while data intake is stopped or behind."""

    TTL_S = 5.0

    def __init__(self) -> None:
        self._state: IntakeState | None = None
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool, now: datetime) -> IntakeState | None:
        if time.monotonic() - self._at < self.TTL_S:  # real time: the age of a cached copy
            return self._state
        async with self._lock:
            if time.monotonic() - self._at >= self.TTL_S:
                # the banner never fails a page: with the database away the page says so itself
                with contextlib.suppress(*RETRYABLE):
                    async with pool.acquire() as conn:
                        self._state = await intake_state(conn, now)
                self._at = time.monotonic()
        return self._state


class UserNames:
    """The users' names by login (storage.users.display_names), read at most once every TTL_S by this web
    process: the pages show a person's name where the login was (an actor, an issuer, who acknowledged)."""

    TTL_S = 30.0

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool) -> dict[str, str]:
        if time.monotonic() - self._at < self.TTL_S:  # real time: the age of a cached copy
            return self._names
        async with self._lock:
            if time.monotonic() - self._at >= self.TTL_S:
                with contextlib.suppress(*RETRYABLE):  # the logins, then: a page never fails for a name
                    async with pool.acquire() as conn:
                        self._names = await display_names(conn)
                self._at = time.monotonic()
        return self._names


class NameBook:
    """The facilities' names (storage.registry.facility_names), each read at most once every TTL_S by this web
    process and only for the facilities a request shows alerts of: a registry change shows within TTL_S."""

    TTL_S = 30.0

    def __init__(self) -> None:
        self._names: dict[str, tuple[float, FacilityNames]] = {}
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool, facility_ids: Iterable[str]) -> dict[str, FacilityNames]:
        wanted = set(facility_ids)
        now = time.monotonic()  # real time: the age of a cached copy
        stale = sorted(f for f in wanted if f not in self._names or now - self._names[f][0] >= self.TTL_S)
        if stale:
            async with self._lock:
                # a page never fails for a name: with the database away the ids show, as before
                with contextlib.suppress(*RETRYABLE):
                    async with pool.acquire() as conn:
                        read = await facility_names(conn, stale)
                    for fid in stale:
                        self._names[fid] = (now, read.get(fid, FacilityNames()))
        return {f: self._names[f][1] for f in wanted if f in self._names}


class Timing:
    """A request's phases for its `Server-Timing` header (W3C; shown in the browser's developer tools):
    `auth;dur=1.2, sql;dur=15.0, render;dur=60.3, app;dur=80.1`. What made a slow page slow, read off
    the page itself or a load test's responses, without a profiler on the server."""

    __slots__ = ("phases", "start")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.phases: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0

    def header(self) -> str:
        spent = {**self.phases, "app": time.perf_counter() - self.start}
        return ", ".join(f"{name};dur={s * 1000:.1f}" for name, s in spent.items())


POOL = web.AppKey("pool", asyncpg.Pool)
READS = web.AppKey("reads", Replica)  # the hot standby for the report pages' reads, if any (web/replica.py)
CLOCK = web.AppKey("clock", Clock)  # the one clock pages judge time by (contract.clock)
NOW: web.RequestKey[datetime] = web.RequestKey("now", datetime)


def report_conn(request: web.Request) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection for a report's read-only queries: the standby's when one is configured and reachable."""
    return request.app[READS].acquire(request.app[POOL])


def now_of(request: web.Request) -> datetime:
    """The request's one reading of the app's clock, taken at its first use: every judgement a request
    makes (which facility is grey, what is overdue, which day "today" is) is made at the same instant."""
    now = request.get(NOW)
    if now is None:
        now = request[NOW] = request.app[CLOCK].now()
    return now


GATEWAYS = web.AppKey("gateways", GatewaySnapshot)
INTAKE = web.AppKey("intake", IntakeSnapshot)
USER_NAMES = web.AppKey("user_names", UserNames)
# what the registry calls the things alerts name (contract.names): an alert's text by name on pages and in the API
NAMES = web.AppKey("names", NameBook)
HUB = web.AppKey("hub", Hub)
DATABASE_URL = web.AppKey("database_url", str)
# The rule configuration the engine runs with (defaults + CAREWATCH_RULES overrides): pages show its thresholds.
RULES: web.AppKey[Mapping[str, RuleConfig]] = web.AppKey("rules", Mapping)
LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)  # the login throttle's limits (web/throttle.py)
HASH_SLOTS = web.AppKey("hash_slots", HashSlots)  # password hashes this process runs at once
# Requests per token and per session in this process (web/ratelimit.py); None: no limit (a benchmark's load).
RATE_BUCKETS: web.AppKey[Buckets | None] = web.AppKey("rate_buckets", object)  # type: ignore[arg-type]
# The public page's requests per client address, and its complaint filings and look-ups (web/ratelimit.py
# PUBLIC_LIMIT, COMPLAINT_LIMIT); None: no limit.
PUBLIC_BUCKETS: web.AppKey[Buckets | None] = web.AppKey("public_buckets", object)  # type: ignore[arg-type]
COMPLAINT_BUCKETS: web.AppKey[Buckets | None] = web.AppKey("complaint_buckets", object)  # type: ignore[arg-type]
# Reverse proxies whose X-Forwarded-For is believed (CAREWATCH_TRUSTED_PROXIES); from anyone else it is
# the sender's own claim, and the address is the connection's.
TRUSTED_PROXIES: web.AppKey[tuple[IPv4Network | IPv6Network, ...]] = web.AppKey("trusted_proxies", tuple)
CREDIT = web.AppKey("credit", CreditConfig)  # the credit evaluation's grades and weights (CAREWATCH_CREDIT)
# Each area's population for the statistics (CAREWATCH_POPULATION, contract/population.py), by area code.
POPULATION: web.AppKey[dict[str, AreaPopulation]] = web.AppKey("population", dict)
# The plan's targets the assessment holds the areas' statistics against (CAREWATCH_TARGETS, contract/targets.py).
TARGETS: web.AppKey[dict[str, Target]] = web.AppKey("targets", dict)
# `carewatch demo`: where its simulator says how far behind the demo's clock it is (None: not a demo)
SIMULATOR_BEHIND: web.AppKey[Path | None] = web.AppKey("simulator_behind", object)  # type: ignore[arg-type]
# Browser sessions: (idle, absolute) seconds. Idle: no request for 2 h ends it (a duty-room wall keeps
# its stream open and reloads when it drops); absolute: 12 h after the login, whatever happens.
SESSION_LIMITS = web.AppKey("session_limits", tuple)
# The site's address as people reach it (CAREWATCH_PUBLIC_URL): links in notifications come from it, never
# from a request's Host header, which whoever sends the request writes.
PUBLIC_URL = web.AppKey("public_url", str)
# The secret salt of the register of people (CAREWATCH_PERSON_SALT, contract/people.py): a registry upload
# with identity numbers hashes them with it; None refuses such an upload. Never shown, never logged.
PERSON_SALT: web.AppKey[bytes | None] = web.AppKey("person_salt", object)  # type: ignore[arg-type]
USER: web.RequestKey[User | None] = web.RequestKey("user", object)  # type: ignore[arg-type]
# Whether the request's credential (its token, or its session) still holds: a long request (the live
# stream) asks again every STREAM_CHECK_S, so a revoked token or a disabled user ends it within seconds.
STILL_VALID: web.RequestKey[Callable[[asyncpg.Connection], Awaitable[bool]]] = web.RequestKey(
    "still_valid",
    object,  # type: ignore[arg-type]
)
STREAM_CHECK_S = web.AppKey("stream_check_s", float)
TIMING = web.RequestKey("timing", Timing)
