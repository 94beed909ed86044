"""Driving a simulation: on an accelerated clock or as fast as possible, into MQTT or a file."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from contract.clock import Clock
from contract.registry import Registry
from contract.topics import Channel, Topic
from simulators.engine import CitySim, SimEvent, SimMessage, Uplink, encode

logger = logging.getLogger(__name__)

Sink = Callable[[SimEvent], None]


# Behind its clock by more than this (the clock's seconds), the simulation is the machine's fault, not the
# devices': at 60x a machine too busy for the simulator for three real seconds leaves every device three
# minutes silent, the offline window of a 60 s heartbeat, and the platform rightly hears nothing (seen: 1,580
# device_offline alerts, all cleared, in a demo beside other work). It is said, not hidden: `report`.
BEHIND_REPORT_S = 60.0
REPORT_EVERY_S = 10.0  # real seconds between two reports while behind


def drive(
    sim: CitySim,
    until: datetime,
    sink: Sink,
    *,
    clock: Clock | None,
    stop: threading.Event | None = None,
    step: timedelta = timedelta(seconds=1),
    report: Callable[[float], None] | None = None,
) -> int:
    """Run the simulation up to `until`, handing every event to sink; return how many.

    Each simulated second is handed over once `clock` has reached it: the clock the services judge by
    (contract.clock; a `ScaledClock` at 60 makes one simulated hour last a real minute). clock=None runs
    as fast as possible. `report(behind_s)`: called while the simulation is more than BEHIND_REPORT_S of the
    clock's seconds behind it (at most every REPORT_EVERY_S real seconds), and with 0 once it is back within half of
    that (not only at 0: a lag that settles at 20 s left the last report, minutes, standing on the demo's pages).
    """
    n = 0
    t = sim.now
    behind_since: float | None = None  # real time of the last report while behind
    while t < until and not (stop and stop.is_set()):
        t = min(t + step, until)
        for ev in sim.run(t):
            sink(ev)
            n += 1
        if clock is not None:
            delay = clock.real_seconds_until(t)
            if report is not None:
                behind_s = -delay * clock.speed
                if behind_s > BEHIND_REPORT_S:
                    if behind_since is None or time.monotonic() - behind_since >= REPORT_EVERY_S:
                        behind_since = time.monotonic()
                        report(behind_s)
                elif behind_since is not None and behind_s <= BEHIND_REPORT_S / 2:  # back within the margin
                    behind_since = None
                    report(0.0)
            if delay > 0 and stop is not None:
                stop.wait(delay)
            elif delay > 0:
                time.sleep(delay)  # real time: the clock's seconds, scaled above
    return n


def say_behind(speed: float, path: Path | None = None) -> Callable[[float], None]:
    """A `report` for drive: the lag in the log and, for `carewatch demo` to say it, in `path`."""

    def said(seconds: float) -> None:
        if seconds:
            logger.warning(
                "behind its clock by %.0f s of simulated time: this machine is too busy for %gx, and the devices"
                " are silent to the platform meanwhile",
                seconds,
                speed,
            )
        else:
            logger.warning("caught up with its clock")
        if path is not None:
            path.write_text(f"{seconds:.0f}\n", encoding="utf-8")

    return said


class FileSink:
    """One line per event: `topic<TAB>retain<TAB>payload` (for byte-for-byte determinism checks)."""

    def __init__(self, out: IO[bytes], root: str = "cw/v1") -> None:
        self.out, self.root = out, root

    def __call__(self, ev: SimEvent) -> None:
        if isinstance(ev, SimMessage):
            topic = Topic(ev.facility_id, ev.device_id, Channel(ev.channel)).render(self.root)
            self.out.write(topic.encode() + b"\t" + (b"1" if ev.retain else b"0") + b"\t" + ev.payload + b"\n")
        else:
            self.out.write(f"#uplink\t{ev.facility_id}\t{'up' if ev.up else 'down'}\n".encode())


class MqttSink:
    """Publishes events, QoS 1, with a bounded in-flight window.

    per_facility=True: one connection per facility, each with a Last Will on the facility
    gateway's status topic, so a dropped uplink looks to the broker like the real thing; with
    `facility_credentials` each connects as its facility's gateway does (the broker binds a client
    id to its username, so connections cannot share one credential).
    Otherwise `connections` shared connections without wills (load mode): one only when it signs in
    with `credentials`, for the same reason.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: Registry,
        *,
        root: str = "cw/v1",
        per_facility: bool = True,
        connections: int = 4,
        window: int = 2000,
        credentials: tuple[str, str] | None = None,
        facility_credentials: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.root = root
        self._sem = threading.Semaphore(window)
        self._window = window
        self._clients: dict[str, mqtt.Client] = {}
        self._shared: list[mqtt.Client] = []
        self._host, self._port = host, port
        if per_facility:
            for f in registry.facilities:
                gw = next((d.id for d in f.devices if d.type.value == "gateway"), None)
                creds = (facility_credentials or {}).get(f.id, credentials)
                self._clients[f.id] = self._connect(f"sim-{f.id}", f.id, gw, creds)
        else:
            n = 1 if credentials else connections
            self._shared = [self._connect(f"sim-shared-{i}", None, None, credentials) for i in range(n)]
        self.published = 0

    def _connect(
        self, client_id: str, facility_id: str | None, gateway: str | None, creds: tuple[str, str] | None
    ) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if creds:
            c.username_pw_set(*creds)
        if facility_id and gateway:
            c.will_set(
                Topic(facility_id, gateway, Channel.STATUS).render(self.root),
                encode({"online": False}),
                qos=1,
                retain=True,
            )
        c.max_inflight_messages_set(0)  # the shared semaphore keeps the window
        c.max_queued_messages_set(0)
        c.on_publish = lambda *_a: self._sem.release()
        c.connect(self._host, self._port, keepalive=30)
        c.loop_start()
        return c

    def __call__(self, ev: SimEvent) -> None:
        if isinstance(ev, Uplink):
            self._uplink(ev)
            return
        client = self._clients.get(ev.facility_id) or self._shared[hash(ev.facility_id) % len(self._shared)]
        topic = Topic(ev.facility_id, ev.device_id, Channel(ev.channel)).render(self.root)
        self._sem.acquire()
        client.publish(topic, ev.payload, qos=1, retain=ev.retain)
        self.published += 1

    def _uplink(self, ev: Uplink) -> None:
        c = self._clients.get(ev.facility_id)
        if c is None:
            return
        if ev.up:
            c.reconnect()
            c.loop_start()
        else:  # MQTT 5 "disconnect with Will message": the broker publishes the gateway's will
            c.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
            c.loop_stop()

    def flush(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        got = 0
        try:
            for _ in range(self._window):
                if not self._sem.acquire(timeout=max(0.01, deadline - time.monotonic())):
                    raise TimeoutError("broker did not acknowledge every message")
                got += 1
        finally:
            for _ in range(got):
                self._sem.release()

    def close(self) -> None:
        for c in [*self._clients.values(), *self._shared]:
            c.disconnect()
            c.loop_stop()
