"""runtime.mqtt_source: the link to the broker as one state with its moves in one place (issue #36 item 4).

Against the test Mosquitto a source goes down -> connecting -> up and, stopped, down -> stopped, telling
its service once each way; against a local stand-in for a broker that refuses the login (a CONNACK with
reason 0x87, as Mosquitto answers a wrong password) it goes to refused, says why in /healthz's words, is
never told up, and backs off. Every move made is one LINK_MOVES expects."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from runtime.mqtt_source import LINK_MOVES, LinkState, MqttSource
from tests.conftest import Services
from tests.helpers import wait_for


def _recording(src: MqttSource) -> list[LinkState]:
    """The states the source moves to, in order (its own _move, wrapped)."""
    seen: list[LinkState] = []
    real = src._move

    def move(to: LinkState, *, refused: str | None = None) -> None:
        assert to in LINK_MOVES[src.link.state], f"{src.link.state} -> {to}"
        seen.append(to)
        real(to, refused=refused)

    src._move = move  # type: ignore[method-assign]
    return seen


def _runs(states: list[LinkState]) -> list[str]:
    """Repeats dropped (a disconnect heard while already down or refused is no new state)."""
    return [s.value for i, s in enumerate(states) if i == 0 or states[i - 1] is not s]


async def test_a_link_goes_up_and_down_through_its_states(services: Services) -> None:
    told: list[bool] = []
    src = MqttSource(
        services.mqtt_url, "link-test", "link-test/#", receive_maximum=10, session_expiry_s=0, on_state=told.append
    )
    seen = _recording(src)
    assert src.link.state is LinkState.IDLE and src.link_state() == "idle" and not src.connected
    src.start(wake_at=1)
    try:
        await wait_for(lambda: asyncio.sleep(0, result=src.connected), 30, "connected")
        assert src.link_state() == "up" and src.link.generation == 1 and src.generation == 1
    finally:
        await asyncio.to_thread(src.stop)
    await wait_for(lambda: asyncio.sleep(0, result=len(told) == 2), 10, "told of the stop")
    assert _runs(seen) == ["down", "connecting", "up", "down", "stopped"]
    assert told == [True, False], "the service hears the link go up once and down once"
    assert src.link.state is LinkState.STOPPED and not src.connected


@pytest.fixture
def refusing_broker() -> Iterator[tuple[int, list[int]]]:
    """A local stand-in for a broker that refuses every login: reads the CONNECT, answers an MQTT 5
    CONNACK with reason 0x87 (not authorized), closes. Yields its port and a count of logins refused."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    refused: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.recv(1024)  # the CONNECT
                conn.sendall(bytes([0x20, 0x03, 0x00, 0x87, 0x00]))  # CONNACK: no session, 0x87, no properties
                refused.append(1)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield server.getsockname()[1], refused
    finally:
        stop.set()
        t.join(5)
        server.close()


async def test_a_refused_login_is_a_state_with_its_reason_and_backs_off(refusing_broker: tuple[int, list[int]]) -> None:
    port, refused = refusing_broker
    told: list[bool] = []
    src = MqttSource(
        f"mqtt://u:wrong@127.0.0.1:{port}",
        "link-test",
        "x/#",
        receive_maximum=10,
        session_expiry_s=0,
        on_state=told.append,
        backoff_max_s=3600,  # the back-off after a refusal: the test stops it long before
    )
    seen = _recording(src)
    src.start(wake_at=1)
    try:
        await wait_for(lambda: asyncio.sleep(0, result=src.link.state is LinkState.REFUSED), 30, "refused")
        assert src.link_state().startswith("refused: ") and "authori" in src.link_state().lower(), src.link_state()
        assert not src.connected
    finally:
        await asyncio.to_thread(src.stop)
    assert refused == [1], "one login, then the back-off: no second attempt before the stop"
    assert _runs(seen) == ["down", "connecting", "refused", "down", "stopped"]
    assert told == [], "never up, so never told of a change"
