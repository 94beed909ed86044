"""Receiving from the broker: paho in its own thread, handing messages to asyncio in bulk.

Why paho in a thread rather than aiomqtt: measured on this kind of machine (FIELD-NOTES), the
same pipeline read 24–27k msg/s this way against 19k with aiomqtt, and a consumer that stalls
during a database write must keep reading the socket or it falls behind the broker.

Acknowledgements are manual: a QoS 1 message is acknowledged only after the batch holding it
has committed. The broker's in-flight window is our Receive Maximum, which bounds how many
unacknowledged messages (and so how much memory) ingest can hold while the database is down.
Messages delivered on an earlier connection are never acknowledged on a later one (their
packet ids may have been reused): the broker redelivers them and dedup absorbs the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import select
import struct
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import accumulate
from operator import attrgetter, itemgetter
from typing import NamedTuple
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.clock import SYSTEM, Clock
from runtime.retry import Backoff

logger = logging.getLogger(__name__)


class Received(NamedTuple):
    """One MQTT message as it came off the wire (a named tuple: made ~2.5x faster than a frozen dataclass,
    and ingest makes one per message)."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    generation: int = 0  # which broker connection delivered it (acks go only to the same one)


class LinkState(enum.Enum):
    """Where the connection to the broker is (`MqttSource.link`); the moves between them: LINK_MOVES."""

    IDLE = "idle"  # not started
    DOWN = "down"  # no connection: the network thread connects again after a back-off
    CONNECTING = "connecting"  # a socket to the broker, its answer (CONNACK) not yet read
    UP = "up"  # connected: messages flow, acknowledgements go to this connection
    REFUSED = "refused"  # the broker said no (a login, a client id): backing off to the maximum
    STOPPED = "stopped"


_L = LinkState
# The moves the network thread makes, from paho's callbacks and its own loop. A move not in here is
# logged as an error and made all the same: the link is what paho says it is, the table is what we expect.
LINK_MOVES: dict[LinkState, frozenset[LinkState]] = {
    _L.IDLE: frozenset({_L.DOWN, _L.STOPPED}),
    _L.DOWN: frozenset({_L.DOWN, _L.CONNECTING, _L.STOPPED}),
    # (again: a socket closed before the broker answered, with no disconnect heard)
    _L.CONNECTING: frozenset({_L.UP, _L.REFUSED, _L.DOWN, _L.CONNECTING, _L.STOPPED}),
    _L.UP: frozenset({_L.DOWN, _L.CONNECTING, _L.STOPPED}),
    # (refused, then the socket's close heard; after the back-off, down and connecting again)
    _L.REFUSED: frozenset({_L.REFUSED, _L.DOWN, _L.STOPPED}),
    _L.STOPPED: frozenset({_L.STOPPED}),
}


@dataclass(frozen=True, slots=True)
class Link:
    """The connection's state, replaced as a whole by `MqttSource._move` (read from either thread)."""

    state: LinkState = LinkState.IDLE
    generation: int = 0  # connections made so far: which one delivered a message (acks go only to it)
    up_at: float = float("-inf")  # monotonic time of the last connection
    refused: str | None = None  # the broker's reason, while REFUSED


_PAYLOAD = attrgetter("payload")
_MID = itemgetter(2)  # of (topic, payload, mid) as read off the wire


def mqtt_params(url: str) -> tuple[str, int, str | None, str | None]:
    u = urlsplit(url)
    if u.scheme not in {"mqtt", "tcp"}:
        raise ValueError(f"MQTT URL must start with mqtt:// (got {u.scheme!r})")
    return u.hostname or "127.0.0.1", u.port or 1883, u.username, u.password


class _DrainingClient(mqtt.Client):
    """paho reads one packet per select() wake-up for a QoS 1 stream; this reads what is there.

    Measured (FIELD-NOTES): draining up to 200 packets per wake-up consumed 27.3k msg/s against
    24.4k with the stock loop, and the stock loop spends a select() per message under load.
    Relies on paho 2.x's `_packet_read` (pinned <3 in pyproject); falls back to the stock loop.
    """

    DRAIN = 200
    RECV_CHUNK = 256 * 1024

    _rbuf = b""
    _rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        """paho asks for 1 byte (command), 1 byte at a time (length), then the rest of each packet:
        three or more recv() calls a message. Measured (py-spy, 16k msg/s of small telemetry),
        those calls were a quarter of the ingest process's time. One recv() of up to 256 KiB now
        serves many packets from memory."""
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            buf = super()._sock_recv(max(bufsize, self.RECV_CHUNK))  # BlockingIOError when nothing is there
            if not buf:
                return buf  # the connection closed
            pos = 0
        chunk = buf[pos : pos + bufsize]
        self._rbuf, self._rpos = buf, pos + len(chunk)
        return chunk

    def has_buffered(self) -> bool:
        """Bytes already read from the socket and not yet parsed (select() would not report them)."""
        return self._rpos < len(self._rbuf)

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # nothing of an old connection may be parsed on a new one
        super()._sock_close()

    # Set by MqttSource: a list of (topic, payload, packet id or 0), one for each PUBLISH without properties.
    on_plain_publishes: Callable[[list[tuple[str, bytes, int]]], None] | None = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """A QoS 0/1 PUBLISH without MQTT 5 properties (what devices and gateways send) goes
        straight to `on_plain_publishes`; anything else takes paho's own path.

        Measured (py-spy, 18k msg/s of small telemetry): paho builds a Properties object for every
        v5 PUBLISH, empty or not (a dict of 27 names, cleared attribute by attribute), then an
        MQTTMessage and a topic-filter match: ~15 µs a message, a third of the network thread.
        With manual acks paho would not acknowledge here either. Most PUBLISH packets do not come
        through here at all but through `_read_plain`; this serves the one that straddles two reads."""
        deliver = self.on_plain_publishes
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if deliver is None or qos > 1 or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        plain = plain_publish(packet, 0, len(packet), qos)
        if plain is None:
            return super()._handle_publish()
        deliver([plain])
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _read_plain(self) -> None:
        """Take every whole plain PUBLISH (QoS 0/1, no properties) at the head of the read buffer,
        without paho's per-packet state machine, and deliver them in one call. Stops at the first
        packet that is anything else or not wholly read yet, which paho's own reader then takes.

        Measured (py-spy, bench drain): paho's reader made four `_sock_recv` calls and a dict reset
        per packet, and the delivery a lock and a clock read per message; the network thread was
        half of ingest's process time. Wire format, MQTT 5 §3.3 and §1.5.5: a fixed header byte
        (0x3_; QoS in bits 1-2), the remaining length as a variable byte integer, then the body that
        `plain_publish` reads."""
        deliver = self.on_plain_publishes
        if deliver is None or self._protocol != mqtt.MQTTv5:
            return
        buf, pos = self._rbuf, self._rpos
        end = len(buf)
        out: list[tuple[str, bytes, int]] = []
        while pos < end:
            header = buf[pos]
            qos = (header & 0x06) >> 1
            if header & 0xF0 != 0x30 or qos > 1:
                break
            i, length, shift = pos + 1, 0, 0
            while i < end and shift <= 21:  # at most 4 bytes
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if byte < 0x80:
                    break
                shift += 7
            else:
                break  # the length is not all here yet (or malformed: paho will say so)
            if i + length > end:
                break
            plain = plain_publish(buf, i, i + length, qos)
            if plain is None:
                break
            out.append(plain)
            pos = i + length
        if out:
            self._rpos = pos
            with self._msgtime_mutex:
                self._last_bytes_received = time.monotonic()  # real time: paho's keepalive
            deliver(out)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        read_one = getattr(self, "_packet_read", None)
        if read_one is None or self._sock is None:
            return super().loop_read(max_packets)
        for _ in range(self.DRAIN):
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            if self._in_packet["command"] == 0 and self._rpos < len(self._rbuf):  # between two packets
                self._read_plain()
            rc = read_one()
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


def plain_publish(body: bytes | bytearray, start: int, end: int, qos: int) -> tuple[str, bytes, int] | None:
    """(topic, payload, packet id or 0) of the PUBLISH body `body[start:end]` if it has a topic name
    and no properties, else None (MQTT 5 §3.3.2: topic as a 2-byte length and UTF-8, the packet id
    when QoS > 0, the property length, 0 here, then the payload)."""
    try:
        t_end = start + 2 + ((body[start] << 8) | body[start + 1])
        mid = 0
        if qos:
            mid = (body[t_end] << 8) | body[t_end + 1]
        p_at = t_end + 2 * (qos > 0)
        if p_at >= end or body[p_at] != 0 or t_end == start + 2:  # properties, or a topic alias only
            return None
        topic = body[start + 2 : t_end].decode()
    except (IndexError, UnicodeDecodeError):
        return None
    return topic, bytes(body[p_at + 1 : end]), mid


class MqttSource:
    """A persistent MQTT 5 session on a shared subscription, buffering into a thread-safe list.

    Its network thread runs paho's external-loop API (select, loop_read, loop_write, loop_misc)
    with an explicit reconnect loop (capped, jittered backoff; a refused login backs off to the
    maximum). Acknowledgements are queued by the asyncio side and sent from the network thread:
    measured, an ack sent from the asyncio thread cost ~30 µs there (a wake-up write per ack).
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        subscription: str | list[str],
        *,
        receive_maximum: int,
        session_expiry_s: int,
        on_state: Callable[[bool], None] | None = None,
        backoff_max_s: float = 30.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.host, self.port, user, password = mqtt_params(url)
        self.clock = clock  # stamps each message's time of receipt; the window's timing stays real time
        self.subscription = subscription
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.backoff_max_s = backoff_max_s
        self._on_state = on_state
        self._lock = threading.Lock()
        self._buffer: list[Received] = []
        self._acks: list[int] = []
        self._refused: dict[int, str] = {}  # packet id -> the broker's reason, for publications it refused
        self._inflight = 0  # QoS 1 messages delivered on this connection and not yet acknowledged
        self.full_at = 0.0  # monotonic time the in-flight window was last half full or more (a backlog)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._wake_at = 1
        self._wake_bytes = 1 << 62
        self._pending_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.link = Link()
        self._client = _DrainingClient(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if user:
            self._client.username_pw_set(user, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_plain_publishes = self._deliver
        # Writes are flushed by the network thread (not one send per queued packet by the caller).
        self._client.on_socket_register_write = lambda *_a: None

    # -- the connection's state ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.link.state is LinkState.UP

    @property
    def generation(self) -> int:
        return self.link.generation

    def link_state(self) -> str:
        """For /healthz: idle, down, connecting, up, refused (with the broker's reason) or stopped."""
        link = self.link
        return f"refused: {link.refused}" if link.state is LinkState.REFUSED else link.state.value

    def _move(self, to: LinkState, *, refused: str | None = None) -> None:
        """The one place the link changes: the table's check, the new connection's bookkeeping, the log,
        and the service told when it goes up or down (`on_state`)."""
        old = self.link
        if to not in LINK_MOVES[old.state]:
            logger.error("MQTT link moved from %s to %s, not a move we expect", old.state.value, to.value)
        new = replace(old, state=to, refused=refused if to is LinkState.REFUSED else None)
        if to is LinkState.UP:
            with self._lock:
                self._acks.clear()  # packet ids of the old connection mean nothing on this one
                self._inflight = 0
                # what the broker kept for the session comes right after this: until it has had time to,
                # an empty window says nothing (a clock read "drained" here passed a whole backlog)
                up_at = time.monotonic()  # real time: the broker's queue
                new = replace(new, generation=old.generation + 1, up_at=up_at)
                self.link = new
        else:
            self.link = new
        if to is LinkState.REFUSED and old.state is not LinkState.REFUSED:
            logger.warning("MQTT connection refused: %s", refused)
        if (old.state is LinkState.UP) != (to is LinkState.UP):
            self._notify(to is LinkState.UP)

    # -- lifecycle (asyncio side) ----------------------------------------------------------------
    def start(self, wake_at: int, wake_bytes: int | None = None) -> None:
        """Start the network thread; it connects and reconnects on its own. `wait()` returns once
        wake_at messages or wake_bytes of payload are pending (gateway batches fill the bytes first)."""
        self._loop = asyncio.get_running_loop()
        self._wake_at = wake_at
        if wake_bytes is not None:
            self._wake_bytes = wake_bytes
        self._thread = threading.Thread(target=self._run, name="ingest-mqtt", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    async def wait(self, seconds: float) -> None:
        """Until wake_at messages or wake_bytes wait, `wake()` is called, or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    def wake(self) -> None:
        self._wakeup.set()

    def take(self, limit: int, max_bytes: int) -> list[Received]:
        """Up to `limit` messages and about `max_bytes` of payload (a gateway batch holds many rows)."""
        with self._lock:
            head = self._buffer[:limit]
            # the running total of payload bytes, in C (a Python loop was 3-6 % of ingest's samples);
            # the batch ends with the message that reaches max_bytes
            sums = list(accumulate(map(len, map(_PAYLOAD, head))))
            n = min(bisect_left(sums, max_bytes) + 1, len(head))
            size = sums[n - 1] if n else 0
            taken, self._buffer = head[:n], self._buffer[n:]
            self._pending_bytes -= size  # the payload bytes of `taken`, summed just above
            if self._full():
                self._wakeup.set()
        return taken

    def subscribe(self, topics: list[str]) -> None:
        """Add subscriptions: now if connected, and on every reconnect."""
        subs = [self.subscription] if isinstance(self.subscription, str) else list(self.subscription)
        self.subscription = subs + [t for t in topics if t not in subs]
        if self.connected:
            self._client.subscribe([(t, 1) for t in topics])

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a publication; the network thread sends it. Returns its packet id (see `refusal`)."""
        return self._client.publish(topic, payload, qos=qos, retain=retain).mid

    def refusal(self, mid: int) -> str | None:
        """The broker's reason if it refused the QoS 1 publication `mid` (MQTT 5: a PUBACK with a failure
        code, such as Mosquitto's "Not authorized" for a topic its ACL does not allow); else None."""
        with self._lock:
            return self._refused.pop(mid, None)

    DRAINED_S = 0.5  # loopback or a LAN: a broker with a queue refills the window within milliseconds
    # after a connection, what the broker kept for the session may take a moment to start (a busy
    # broker restoring it): the window counts as full until then
    CONNECT_WAIT_S = 1.5

    def backlog_at(self) -> float:
        """The monotonic time the in-flight window was last seen half full or more: now while it still
        is, and up to CONNECT_WAIT_S after a connection (maybe ahead of now). A broker with a queue for
        this client keeps the window full; `full_at` alone is the last delivery, which stops while the
        window waits for acknowledgements (a slow write), so a window full for seconds would look
        drained; and right after a connection the window is empty before the session's queue comes."""
        with self._lock:
            if self._inflight * 2 >= self.receive_maximum:
                return time.monotonic()  # real time: the broker's queue
            return max(self.full_at, self.link.up_at + self.CONNECT_WAIT_S)

    def drained(self) -> bool:
        """Whether the broker has nothing queued for this client: connected, nothing waiting here, and
        the in-flight window below half full now and for DRAINED_S (see alerts.engine.InputClock)."""
        with self._lock:
            buffered = bool(self._buffer)
        drained_for = time.monotonic() - self.backlog_at()  # real time: the broker's queue
        return self.connected and not buffered and drained_for >= self.DRAINED_S

    def pending(self) -> int:
        return len(self._buffer)

    def pending_bytes(self) -> int:
        return self._pending_bytes

    def _full(self) -> bool:
        return len(self._buffer) >= self._wake_at or self._pending_bytes >= self._wake_bytes

    def ack(self, messages: list[Received]) -> int:
        """Queue acknowledgements for messages delivered on the current connection; return how many."""
        gen = self.link.generation
        mids = [m.mid for m in messages if m.generation == gen and m.mid]
        with self._lock:
            self._acks.extend(mids)
            self._inflight -= len(mids)
        return len(mids)

    # -- network thread --------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = Backoff(0.5, self.backoff_max_s)
        self._move(LinkState.DOWN)
        while not self._stop.is_set():
            if self.link.state is LinkState.REFUSED:  # the broker said no: back off to the maximum
                self._client.disconnect()
                self._stop.wait(self.backoff_max_s)
                self._move(LinkState.DOWN)
                continue
            if self._client.socket() is None:
                if self._connect():
                    backoff.succeeded()
                    self._move(LinkState.CONNECTING)
                else:
                    delay = backoff.failed()
                    backoff.log(
                        logger, "MQTT broker %s:%s not reachable; retrying in %.1fs", self.host, self.port, delay
                    )
                    self._stop.wait(delay)
                    continue
            self._pump()
        with contextlib.suppress(OSError):
            self._send_acks()
            self._client.disconnect()
            self._client.loop_write()
        self._move(LinkState.STOPPED)

    def _connect(self) -> bool:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        try:
            self._client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        except OSError:
            return False
        return True

    def _send_acks(self) -> None:
        """All queued acknowledgements as one write: a PUBACK without reason code or properties (MQTT 5
        §3.4.2.1: reason 0x00, success) is 4 bytes, 0x40 0x02 and the packet id, so n of them are one
        big-endian array of n 32-bit words. paho queued and sent each on its own (a send() call per
        4 bytes; py-spy: a tenth of ingest's time during a drain). Queued through paho's own outgoing
        queue, so that they never interleave with another packet half written."""
        with self._lock:
            acks, self._acks = self._acks, []
        if acks:
            packets = struct.pack(f">{len(acks)}I", *[0x40020000 | mid for mid in acks])
            self._client._packet_queue(mqtt.PUBACK, packets, 0, 0)

    def _pump(self) -> None:
        self._send_acks()
        sock = self._client.socket()
        if sock is None:
            return
        buffered = self._client.has_buffered()
        try:
            readable, _, _ = select.select([sock], [], [], 0 if buffered else 0.01)
        except (OSError, ValueError):
            readable = []
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        if readable or buffered:
            rc = self._client.loop_read()
        if rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._client.want_write():
            rc = self._client.loop_write()
        if rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = self._client.loop_misc()
        if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._client.socket() is not None:
            self._client._sock_close()

    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            self._move(LinkState.REFUSED, refused=str(rc))
            return
        logger.info("MQTT connected to %s:%s (session present: %s)", self.host, self.port, flags.session_present)
        subs = [self.subscription] if isinstance(self.subscription, str) else self.subscription
        self._move(LinkState.UP)
        client.subscribe([(s, 1) for s in subs])

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, rc: ReasonCode, _p: Properties | None
    ) -> None:
        state = self.link.state
        if state is not LinkState.STOPPED:  # a refusal stays one until its back-off (`_run`)
            self._move(LinkState.REFUSED if state is LinkState.REFUSED else LinkState.DOWN, refused=self.link.refused)
        if state is LinkState.UP:
            logger.warning("MQTT disconnected: %s", rc)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: Properties | None) -> None:
        with self._lock:
            if rc.is_failure:
                self._refused[mid] = str(rc)
                if len(self._refused) > 1000:  # nobody asked about these (packet ids wrap at 65,535)
                    self._refused.pop(next(iter(self._refused)))
            else:
                self._refused.pop(mid, None)  # an old refusal of a packet id now reused

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._deliver([(msg.topic, bytes(msg.payload), msg.mid if msg.qos else 0)])

    def _deliver(self, messages: list[tuple[str, bytes, int]]) -> None:
        """Messages read together (from one read of the socket) share their time of receipt."""
        now, gen = self.clock.now(), self.link.generation
        recs = [Received(topic, payload, now, mid, gen) for topic, payload, mid in messages]
        size = sum(len(r.payload) for r in recs)
        acked_later = len(messages) - list(map(_MID, messages)).count(0)  # QoS 1: mid > 0 (counted in C)
        with self._lock:
            was_full = self._full()
            self._buffer.extend(recs)
            self._pending_bytes += size
            self._inflight += acked_later
            if self._inflight * 2 >= self.receive_maximum:
                self.full_at = time.monotonic()  # real time: the broker's queue
            wake = not was_full and self._full()
        if wake and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def _notify(self, up: bool) -> None:
        if self._on_state is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_state, up)
