"""Test helpers: a windowed MQTT publisher and waiting for database state."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import paho.mqtt.client as mqtt

from contract.registry import parse_registry
from tests.test_registry import FACILITY

FAC = FACILITY["id"]


def night_badge(timezone: str, now: datetime) -> datetime:
    """The night guard's badge-in: 00:05 today on the facility's clock, or a second before `now` while
    that is still ahead (8 hours before it, as a door set up in UTC stamps it, is always yesterday)."""
    zone = ZoneInfo(timezone)
    midnight = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    return min(midnight + timedelta(minutes=5), now - timedelta(seconds=1))


def iso_z(t: datetime) -> str:
    """`t` as a device stamps it: ISO 8601 in UTC with a `Z`, to the millisecond."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    """A time this long before the clock the test runs on, on the minute (so that messages made from
    it fall into one hour together). Tests never name a calendar date for data that passes through
    ingest: the bounds and the retention judge it against the clock (issue #35)."""
    return (datetime.now(UTC) - timedelta(**delta)).replace(second=0, microsecond=0)


def id_ranges(ids: Iterable[int], prefix: str = "") -> str:
    """Numbers as ranges, `m0-m5196, m7000` with prefix "m" (what a loss test prints for the
    messages missing)."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{prefix}{run[0]}-{prefix}{run[-1]}" if len(run) > 1 else f"{prefix}{run[0]}")
        run = [i]
    if run:
        out.append(f"{prefix}{run[0]}-{prefix}{run[-1]}" if len(run) > 1 else f"{prefix}{run[0]}")
    return ", ".join(out)


def registry_obj(extra_devices: int = 0) -> Any:
    devices = list(FACILITY["devices"]) + [
        {"id": f"env-{i}", "type": "env_sensor", "location": "classroom"} for i in range(extra_devices)
    ]
    return parse_registry({"facilities": [{**FACILITY, "devices": devices}]})


def payload(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Publisher:
    """A QoS 1 publisher with a bounded in-flight window (paho loses messages beyond 65,535)."""

    def __init__(
        self, host: str, port: int, window: int = 1000, client_id: str = "", auth: tuple[str, str] | None = None
    ) -> None:
        self._sem = threading.Semaphore(window)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.max_inflight_messages_set(0)  # the semaphore keeps the window; paho's own is slow
        self.client.max_queued_messages_set(0)
        self.client.on_publish = lambda *_a: self._sem.release()
        self.client.connect(host, port)
        self.client.loop_start()
        self._window = window

    def publish(self, topic: str, data: bytes, qos: int = 1, retain: bool = False) -> None:
        self._sem.acquire()
        self.client.publish(topic, data, qos=qos, retain=retain)

    def publish_all(self, msgs: Iterable[tuple[str, bytes]]) -> int:
        n = 0
        for topic, data in msgs:
            self.publish(topic, data)
            n += 1
        return n

    def flush(self, timeout: float = 60) -> None:
        """Wait until every published message was acknowledged by the broker."""
        deadline = time.monotonic() + timeout
        for _ in range(self._window):
            if not self._sem.acquire(timeout=max(0.01, deadline - time.monotonic())):
                raise TimeoutError("broker did not acknowledge every message")
        for _ in range(self._window):
            self._sem.release()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_for(check: Callable[[], Awaitable[bool]], limit: float = 30, what: str = "condition") -> None:
    """Poll check until it is true; fail the test after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


async def call(method: str, url: str, token: str, body: object = None) -> tuple[int, Any]:
    """One API request with a bearer token: (status, JSON body)."""
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return r.status, await r.json()
