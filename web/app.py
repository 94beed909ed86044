"""`carewatch web`: the aiohttp application factory: settings into typed keys, the middlewares
(web/middleware.py), one lifecycle context per resource (the pool here, the LISTEN loop in
web/stream.py), and the routes of the API, the live stream and each area's pages (web/pages/).

Scope is enforced in one place (storage.users.Scope) for pages, API and stream.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from prometheus_client import REGISTRY

from contract.clock import SYSTEM, Clock
from contract.config import DEFAULT_PUBLIC_URL, check_public_url
from contract.credit import CreditConfig
from contract.population import AreaPopulation, load_population
from contract.rules import RuleConfig, load_rules
from contract.targets import Target, load_targets
from runtime.collector import watch_pauses
from web import i18n
from web.api import routes as api_routes
from web.assessment import routes as summons_api_routes
from web.circulars_api import routes as circular_api_routes
from web.draws import routes as draw_api_routes
from web.followups import routes as followup_api_routes
from web.keys import (
    CLOCK,
    COMPLAINT_BUCKETS,
    CREDIT,
    DATABASE_URL,
    GATEWAYS,
    HASH_SLOTS,
    HUB,
    INTAKE,
    LOGIN_LIMITS,
    NAMES,
    PERSON_SALT,
    POOL,
    POPULATION,
    PUBLIC_BUCKETS,
    PUBLIC_URL,
    RATE_BUCKETS,
    READS,
    RULES,
    SESSION_LIMITS,
    SIMULATOR_BEHIND,
    STREAM_CHECK_S,
    TARGETS,
    TRUSTED_PROXIES,
    USER_NAMES,
    GatewaySnapshot,
    Hub,
    IntakeSnapshot,
    NameBook,
    UserNames,
)
from web.limits import DEFAULT_BYTES, body_limit
from web.middleware import authenticate, errors, security_headers, server_timing
from web.pages import admin, alerts, auth, closures, documents, facilities, overview, pickup, service, supervision
from web.pages import circulars as circular_pages
from web.pages import complaints as complaint_pages
from web.pages import credit as credit_pages  # `credit` is the factory's argument
from web.pages import draws as draw_pages
from web.pages import filing as filing_pages
from web.pages import followups as followup_pages
from web.pages import public as public_pages
from web.pages import statistics as statistics_pages
from web.pages import wall as wall_pages
from web.params import proxy_networks
from web.ratelimit import COMPLAINT_LIMIT, PUBLIC_LIMIT, Buckets, RateLimit
from web.receipts import routes as receipt_api_routes
from web.replica import Replica
from web.statistics import routes as statistics_api_routes
from web.stream import end_streams, listen_ctx
from web.stream import routes as stream_routes
from web.suspensions import routes as suspension_api_routes
from web.throttle import HashSlots, LoginLimits

HERE = Path(__file__).parent

HAN = re.compile(r"[\u4e00-\u9fff]")  # a Chinese character (a text given as data: its `lang`)


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    # min_size=0: the app starts without the database and answers 503 until it is reachable
    app[POOL] = await asyncpg.create_pool(app[DATABASE_URL], min_size=0, max_size=8)
    await app[READS].start()
    yield
    await app[READS].close()
    await app[POOL].close()


async def _close_hash_slots(app: web.Application) -> None:
    app[HASH_SLOTS].close()


def create_app(
    database_url: str,
    session_key: bytes,
    rules: Mapping[str, RuleConfig] | None = None,
    *,
    session_limits: tuple[float, float] = (2 * 3600, 12 * 3600),
    credit: CreditConfig | None = None,
    clock: Clock = SYSTEM,
    public_url: str = DEFAULT_PUBLIC_URL,
    secure_cookies: bool | None = None,
    stream_check_s: float = 3.0,
    trusted_proxies: str = "",
    login_limits: LoginLimits | None = None,
    hash_slots: int | None = None,
    api_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen, so one shared default is safe
    person_salt: bytes | None = None,
    public_limit: RateLimit | None = PUBLIC_LIMIT,
    complaint_limit: RateLimit | None = COMPLAINT_LIMIT,
    population: Mapping[str, AreaPopulation] | None = None,
    targets: Mapping[str, Target] | None = None,
    simulator_behind: Path | None = None,
    read_database_url: str | None = None,
) -> web.Application:
    """session_key: 32 random bytes (the Fernet key of the session cookies); rules: the rule
    configuration the alert engine runs with (the defaults when None); session_limits: a browser
    session's (idle, absolute) lifetime in seconds; clock: what pages judge time by (contract.clock;
    sessions and tokens keep to real time, so a demo at 60x logs nobody out sooner); public_url: the
    site's address as people reach it (the links in notifications); secure_cookies: the session cookie
    only over HTTPS (None: when public_url is https); stream_check_s: how often an open live stream
    checks that its token or session still holds; trusted_proxies: the addresses or networks
    (comma-separated) of the reverse proxies whose X-Forwarded-For is believed; login_limits,
    hash_slots: the login throttle's (web/throttle.py); api_limit: the requests a token or a session may
    send (web/ratelimit.py; None: no limit); person_salt: the register of people's secret salt
    (contract/people.py; None: a registry upload with identity numbers is refused); public_limit, complaint_limit:
    the public page's requests and its complaint filings and look-ups per client address (web/ratelimit.py;
    None: no limit); population: each area's population for the statistics (contract/population.py; None: the
    shipped file, example figures marked as such); targets: the plan's targets the assessment holds the areas'
    statistics against (contract/targets.py; None: the shipped file); read_database_url: a hot standby for the
    report pages' reads (web/replica.py; None: every read from the primary)."""
    public_url = check_public_url(public_url)
    app = web.Application(middlewares=[body_limit, server_timing, errors], client_max_size=DEFAULT_BYTES)
    setup_session(
        app,
        EncryptedCookieStorage(
            session_key,  # 32 raw bytes: the storage makes the Fernet key of them
            cookie_name="cw_session",
            httponly=True,
            samesite="Lax",
            max_age=int(session_limits[1]),
            # behind TLS the browser never sends it over plain HTTP, where anyone on the path reads it
            secure=public_url.startswith("https://") if secure_cookies is None else secure_cookies,
        ),
    )
    app.middlewares.append(authenticate)
    app.on_response_prepare.append(security_headers)
    app[DATABASE_URL] = database_url
    app[CLOCK] = clock
    app[READS] = Replica(read_database_url, clock)
    app[RULES] = rules if rules is not None else load_rules(None)
    i18n.preload()
    watch_pauses(REGISTRY)
    app[HUB] = Hub()
    app[GATEWAYS] = GatewaySnapshot()
    app[INTAKE] = IntakeSnapshot()
    app[USER_NAMES] = UserNames()
    app[NAMES] = NameBook()
    app[LOGIN_LIMITS] = login_limits or LoginLimits()
    app[HASH_SLOTS] = HashSlots(hash_slots) if hash_slots else HashSlots()
    app[RATE_BUCKETS] = Buckets(api_limit) if api_limit is not None else None
    app[PUBLIC_BUCKETS] = Buckets(public_limit) if public_limit is not None else None
    app[COMPLAINT_BUCKETS] = Buckets(complaint_limit) if complaint_limit is not None else None
    app[TRUSTED_PROXIES] = proxy_networks(trusted_proxies)
    app[SESSION_LIMITS] = session_limits
    app[PUBLIC_URL] = public_url
    app[STREAM_CHECK_S] = stream_check_s
    app[PERSON_SALT] = person_salt
    app[CREDIT] = credit or CreditConfig()
    app[POPULATION] = dict(population if population is not None else load_population(None))
    app[TARGETS] = dict(targets if targets is not None else load_targets(None))
    app[SIMULATOR_BEHIND] = simulator_behind  # `carewatch demo` only: its simulator's lag, said on every page
    app.cleanup_ctx.extend([_pool_ctx, listen_ctx])
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(_close_hash_slots)
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}  # Chinese stays readable
    # the language of a text that comes as data (a file's source line), for its element's `lang`: a Chinese
    # source on an English page is content in Chinese, read aloud and checked as such
    env.filters["text_lang"] = lambda s: "zh-CN" if HAN.search(str(s or "")) else "en"
    app.router.add_routes(api_routes)
    app.router.add_routes(draw_api_routes)  # 双随机一公开 (issue #40 item 5)
    app.router.add_routes(followup_api_routes)  # 复查 and extensions (issue #40 item 2)
    app.router.add_routes(receipt_api_routes)  # 整改通知 签收 (issue #40 item 3)
    app.router.add_routes(statistics_api_routes)  # 信息统计监测 (issue #40 item 8)
    app.router.add_routes(suspension_api_routes)  # 责令停业整改 (issue #40 item 1)
    app.router.add_routes(circular_api_routes)  # 通报 (issue #40 item 1)
    app.router.add_routes(summons_api_routes)  # 约谈 of a lagging area (issue #40 item 9)
    app.router.add_routes(stream_routes)
    # documents before supervision: /orders/{id}.pdf before /orders/{id}
    areas = (auth, overview, facilities, pickup, closures, alerts, documents, supervision, credit_pages, admin, service)
    # issue #40 items 5, 2, 7, 8, 1 (通报) and issue #39 item 1
    for area in (
        *areas,
        draw_pages,
        followup_pages,
        public_pages,
        complaint_pages,
        filing_pages,
        statistics_pages,
        circular_pages,
        wall_pages,  # issue #41 item 4
    ):
        app.router.add_routes(area.routes)
    app.router.add_static("/static/", HERE / "static")
    return app
