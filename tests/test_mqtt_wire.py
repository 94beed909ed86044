"""Ingest's own reading of MQTT PUBLISH packets and writing of PUBACKs (runtime.mqtt_source), checked
against paho's: the same bytes on a real socket pair, read by MqttSource's client and by a stock paho
client, must give the same messages in the same order; the acknowledgements MqttSource writes in one
go must be the bytes paho writes one by one. Packets are built here from MQTT 5 §3.3 and split at
random points, as TCP may split them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.mqtt_source import MqttSource, Received

Message = tuple[str, bytes, int]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, qos: int, mid: int, props: bytes, flags: int) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"") + varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1 | flags]) + varint(len(body)) + body


PROPS = [
    b"",  # what devices and gateways send: no properties
    b"\x01\x01",  # payload format indicator: UTF-8
    b"\x26\x00\x01k\x00\x02vv",  # a user property
]
PINGRESP = b"\xd0\x00"
PIECE = 64 * 1024

packets = st.one_of(
    st.tuples(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1),
        st.one_of(st.binary(max_size=40), st.binary(min_size=100, max_size=20_000)),  # 1-, 2- and 3-byte lengths
        st.integers(0, 1),
        st.integers(1, 65535),
        st.sampled_from(PROPS),
        st.sampled_from([0, 1, 8, 9]),  # retain, dup
    ),
    st.just(PINGRESP),
)


@contextmanager
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def feed(client: mqtt.Client, stream: bytes, cuts: list[int]) -> None:
    """Send the stream in pieces, reading after each as the network thread would."""
    with pair() as (a, b):
        client._sock = b  # type: ignore[assignment]
        at = 0
        ends = sorted({*(c % (len(stream) + 1) for c in cuts), *range(PIECE, len(stream), PIECE), len(stream)})
        for cut in ends:  # no piece larger than the socket's buffer: nobody reads while this one writes
            a.sendall(stream[at:cut])
            piece, at = cut - at, cut
            for _ in range(piece // 2 + 2):  # the stock client reads one packet (of 2 bytes or more) a call
                if client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    raise AssertionError("the client gave up on the stream")
        client._sock = None


def unconnected_source() -> MqttSource:
    """A source whose network thread never starts: the test hands its client a socket itself."""
    return MqttSource("mqtt://127.0.0.1:1", "t", "t/#", receive_maximum=10, session_expiry_s=0)


def through_source(stream: bytes, cuts: list[int]) -> list[Message]:
    src = unconnected_source()
    feed(src._client, stream, cuts)
    return [(m.topic, m.payload, m.mid) for m in src._buffer]


def through_paho(stream: bytes, cuts: list[int]) -> list[Message]:
    got: list[Message] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    client.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload), m.mid if m.qos else 0))
    feed(client, stream, cuts)
    return got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(packets, min_size=1, max_size=30), st.lists(st.integers(0, 1 << 20), max_size=6))
def test_publishes_read_as_paho_reads_them(items: list[object], cuts: list[int]) -> None:
    stream = b"".join(p if isinstance(p, bytes) else publish(*p) for p in items)  # type: ignore[misc]
    expected = through_paho(stream, cuts)
    assert len(expected) == sum(not isinstance(p, bytes) for p in items)
    assert through_source(stream, cuts) == expected


def test_a_large_backlog() -> None:
    """Thousands of packets, a thousand or more in each socket read: all delivered, in order, and
    nearly all in bulk (a packet split between two reads goes through paho's reader alone)."""
    msgs = [(f"r/cw/v1/fac-{i % 7}/env-{i}/telemetry", b"%d" % i * (1 + i % 60), 1 + i % 65535) for i in range(5000)]
    stream = b"".join(publish(t, p, 1, mid, b"", 0) for t, p, mid in msgs)
    assert any(len(p) > 128 for _, p, _ in msgs)  # 2-byte remaining lengths too
    src = unconnected_source()
    deliver, calls = src._client.on_plain_publishes, []
    assert deliver is not None
    src._client.on_plain_publishes = lambda ms: (calls.append(len(ms)), deliver(ms))  # type: ignore[func-returns-value]
    feed(src._client, stream, [])
    assert [(m.topic, m.payload, m.mid) for m in src._buffer] == msgs
    reads = len(stream) // PIECE + 1
    assert len(calls) <= 2 * reads, f"{len(calls)} deliveries for {reads} reads"


def test_acknowledgements_are_the_bytes_paho_writes() -> None:
    mids = [1, 2, 255, 256, 4096, 65535, 7]
    src = unconnected_source()
    stock = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    written = []
    for client, ack in ((src._client, None), (stock, stock.ack)):
        with pair() as (a, b):
            client._sock = b  # type: ignore[assignment]
            if ack is None:
                src.ack([Received("t", b"", datetime.now(UTC), mid, src.generation) for mid in mids] + [qos0()])
                src._send_acks()
            else:
                for mid in mids:
                    ack(mid, 1)
            client.loop_write()
            written.append(a.recv(1 << 16))
            client._sock = None
    assert written[0] == written[1]
    assert len(written[0]) == 4 * len(mids)


def qos0() -> Received:
    """A QoS 0 message has no packet id and is not acknowledged."""
    return Received("t", b"", datetime.now(UTC), 0, 0)


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), max_size=60),
    limit=st.integers(1, 80),
    max_bytes=st.integers(1, 600),
)
def test_a_batch_taken_ends_at_its_count_or_at_the_message_that_reaches_its_bytes(
    sizes: list[int], limit: int, max_bytes: int
) -> None:
    """take(limit, max_bytes): the first messages in order, at most `limit`, ending with the first one
    whose payload brings the total to `max_bytes` (so a gateway batch larger than max_bytes is still
    taken, alone); the pending byte count goes down by exactly what was taken."""
    src = MqttSource("mqtt://127.0.0.1:1", "t", "t/#", receive_maximum=10, session_expiry_s=0)
    now = datetime.now(UTC)
    buffered = [Received(f"t/{i}", bytes(n), now, i + 1) for i, n in enumerate(sizes)]
    src._buffer, src._pending_bytes = list(buffered), sum(sizes)
    taken = src.take(limit, max_bytes)
    n = len(taken)
    assert taken == buffered[:n] and src._buffer == buffered[n:]
    assert src.pending_bytes() == sum(sizes[n:])
    assert n == len(sizes) or n == limit or sum(sizes[:n]) >= max_bytes
    assert sum(sizes[: n - 1]) < max_bytes or n == 0, "it went on past the message that reached max_bytes"
