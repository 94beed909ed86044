"""`carewatch gateway`: the agent that runs at a facility.

It reads local devices from the facility's own MQTT broker (Zigbee2MQTT and Tasmota through the
mapping file, and native CareWatch topics passed through), keeps every message in an on-disk
spool, and forwards the spool upstream, oldest first, as `batch` messages (QoS 1, with its own
Last Will). A spool row is deleted only after the upstream broker acknowledged its batch, and
message ids are fixed when a message is spooled, so a retransmission after an outage or a restart
is recognised upstream as the same message: nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field

from contract.errors import ContractError
from contract.payloads import parse_payload
from contract.topics import Channel, Topic, parse_topic
from gateway.adapters import AdapterError, Tasmota, Unsupported, Zigbee2Mqtt
from gateway.mapping import Mapping, load_mapping
from gateway.spool import Queued, Spool

__all__ = ["AgentConfig", "GatewayAgent", "load_mapping"]

logger = logging.getLogger(__name__)


HEARTBEAT_S = 30  # the default: a gateway with no local traffic still says it is alive


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    facility_id: str
    gateway_id: str = "gw-1"
    upstream_url: str = Field(repr=False)
    local_url: str = Field(repr=False)
    root: str = "cw/v1"  # upstream topic root
    local_root: str = "cw/v1"  # native CareWatch topics on the local broker
    spool_path: Path
    spool_max_rows: int = 100_000
    batch_max: int = Field(100, ge=1, le=1000)
    ack_timeout_s: float = 10.0
    mapping: Mapping = Field(default_factory=Mapping)  # topic prefixes and FullTopic live in it
    heartbeat_s: int = Field(HEARTBEAT_S, ge=5, le=3600)


WATCHDOG_S = 1.0


def _params(url: str) -> tuple[str, int, str | None, str | None]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 1883, u.username, u.password


class GatewayAgent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.spool = Spool(cfg.spool_path, cfg.spool_max_rows)
        if cfg.mapping.facility is not None and cfg.mapping.facility != cfg.facility_id:
            raise ValueError(f"the mapping file is for {cfg.mapping.facility}, not {cfg.facility_id}")
        self.z2m = Zigbee2Mqtt(cfg.mapping.zigbee2mqtt, cfg.gateway_id)
        self.tasmota = Tasmota(cfg.mapping.tasmota)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.registry = r = CollectorRegistry()
        self.m_queued = Gauge("carewatch_gateway_queued", "messages in the spool", registry=r)
        self.m_forwarded = Counter("carewatch_gateway_forwarded", "messages acknowledged upstream", registry=r)
        self.m_evicted = Gauge("carewatch_gateway_evicted", "telemetry/status evicted from a full spool", registry=r)
        self.m_malformed = Counter(
            "carewatch_gateway_malformed", "local payloads refused as broken", ["source", "reason"], registry=r
        )
        self.m_unsupported = Counter(
            "carewatch_gateway_unsupported",
            "local messages that are not device output CareWatch reads",
            ["source", "reason"],
            registry=r,
        )
        self.m_loop_restarts = Counter(
            "carewatch_gateway_loop_restarts", "MQTT network loops found dead and restarted", ["side"], registry=r
        )
        self.m_refused_keys = Counter(
            "carewatch_gateway_refused_keys", "keys left out of a forwarded message (null-safe)", ["source"], registry=r
        )
        self.m_uplink = Gauge("carewatch_gateway_uplink_up", "1 when connected upstream", registry=r)
        self.m_inflight = Gauge(
            "carewatch_gateway_inflight", "messages sent upstream and not yet acknowledged", registry=r
        )
        self._last_status = 0.0
        self.upstream_connected = threading.Event()
        self._local = self._client(cfg.local_url, f"cwgw-local-{cfg.facility_id}", upstream=False)
        self._up = self._client(cfg.upstream_url, f"cwgw-{cfg.facility_id}-{cfg.gateway_id}", upstream=True)

    # -- lifecycle ------------------------------------------------------------------------------------
    def _client(self, url: str, client_id: str, *, upstream: bool) -> mqtt.Client:
        host, port, user, password = _params(url)
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if user:
            c.username_pw_set(user, password)
        c.reconnect_delay_set(1, 5)
        if upstream:
            status = Topic(self.cfg.facility_id, self.cfg.gateway_id, Channel.STATUS).render(self.cfg.root)
            c.will_set(status, json.dumps({"online": False}), qos=1, retain=True)
            c.on_connect = self._on_up_connect
            c.on_disconnect = self._on_up_disconnect
        else:
            c.on_connect = self._on_local_connect
            c.on_message = self._on_local_message
        if upstream:
            c.connect_async(host, port, keepalive=15)
        else:
            # A persistent local session: while the agent restarts, the local broker keeps the devices'
            # messages for it (QoS 1), so a restart loses nothing on the local side either.
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 7 * 24 * 3600
            c.connect_async(host, port, keepalive=15, clean_start=False, properties=props)
        return c

    def run(self) -> None:
        """Until stop(): read local devices, forward the spool."""
        self._local.loop_start()
        self._up.loop_start()
        checked = time.monotonic()
        try:
            while not self._stop.is_set():
                self._heartbeat()
                if time.monotonic() - checked >= WATCHDOG_S:
                    checked = time.monotonic()
                    self._watchdog()
                if not self._forward_once():
                    self._stop.wait(0.05)
        finally:
            self._local.disconnect()
            self._local.loop_stop()
            self._up.disconnect()
            self._up.loop_stop()
            for c in (self._local, self._up):
                # paho closes its wake-up socket pair only in __del__, which the reference cycle through
                # our callbacks postpones past the sockets' own finalizers (ResourceWarning): close it now.
                c._reset_sockets()
            self.spool.close()

    def stop(self) -> None:
        self._stop.set()

    def _watchdog(self) -> None:
        """A network loop that died (an exception escaped a callback, a bug in a library) would leave
        the agent up, its uplink looking connected, and nothing forwarded ever again: start it again.
        paho clears its thread when the loop ends, so a dead loop is a client without one."""
        for side, client in (("local", self._local), ("upstream", self._up)):
            thread = client._thread
            if (thread is None or not thread.is_alive()) and not self._stop.is_set():
                logger.error("the %s MQTT loop had died; restarting it", side)
                self.m_loop_restarts.labels(side).inc()
                client._thread = None
                client._reset_sockets(sockpair_only=True)  # the dead loop's wake-up pair; loop_start makes one
                client.loop_start()

    # -- local side -----------------------------------------------------------------------------------
    def _on_local_connect(self, client: mqtt.Client, *_a: object) -> None:
        topics = [*self.z2m.subscriptions(), *self.tasmota.subscriptions()]
        topics.append(f"{self.cfg.local_root}/{self.cfg.facility_id}/+/+")
        client.subscribe([(t, 1) for t in dict.fromkeys(topics)])

    def _adapter(self, topic: str) -> tuple[str, Zigbee2Mqtt | Tasmota | None]:
        """Which ecosystem a local topic belongs to (the metrics' `source`), and its adapter."""
        if self.z2m.handles(topic):
            return "zigbee2mqtt", self.z2m
        if self.tasmota.handles(topic):
            return "tasmota", self.tasmota
        return "native", None

    def _native(self, topic_s: str, raw: bytes) -> list[tuple[str, str, dict[str, object]]]:
        """A device of the facility speaking CareWatch's own contract on the local broker."""
        topic = parse_topic(topic_s, self.cfg.local_root)
        if topic.channel is Channel.BATCH:
            raise AdapterError("a local batch is not forwarded: publish per-device topics")
        parse_payload(topic.channel, raw)  # raises when invalid: nothing invalid goes upstream
        return [(topic.device_id, topic.channel.value, json.loads(raw))]

    def _on_local_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        """Never raises: an exception here would end paho's network thread, and with it every
        forwarding, while the uplink still looked up (issue #14). A message that cannot be used is
        counted, logged and acknowledged (returning acknowledges it), so it is not redelivered forever."""
        label, adapter = "native", None
        try:
            label, adapter = self._adapter(msg.topic)
            raw = bytes(msg.payload)
            items = adapter.convert_topic(msg.topic, raw) if adapter else self._native(msg.topic, raw)
        except Unsupported as err:
            self.m_unsupported.labels(label, err.reason).inc()
            logger.debug("not read: %s", err)
            return
        except AdapterError as err:
            self.m_malformed.labels(label, err.reason).inc()
            logger.warning("not forwarded: %s: %s (payload %.80r)", msg.topic, err, msg.payload)
            return
        except ContractError as err:
            self.m_malformed.labels(label, err.field).inc()
            logger.warning("not forwarded: %s: %s (payload %.80r)", msg.topic, err, msg.payload)
            return
        except Exception:  # a bug or an input nobody foresaw: this message only
            self.m_malformed.labels(label, "internal").inc()
            logger.exception("not forwarded (unexpected): %s (payload %.80r)", msg.topic, msg.payload)
            return
        refused = adapter.refused if adapter else []
        if refused:
            self.m_refused_keys.labels(label).inc(len(refused))
            logger.warning("forwarded without %s: %s", "; ".join(refused), msg.topic)
        with self._lock:
            for device, channel, payload in items:
                self.spool.put(device, channel, payload)
            self.m_queued.set(len(self.spool))
            self.m_evicted.set(self.spool.evicted)

    # -- upstream -------------------------------------------------------------------------------------
    def _publish_status(self, client: mqtt.Client) -> None:
        status = Topic(self.cfg.facility_id, self.cfg.gateway_id, Channel.STATUS).render(self.cfg.root)
        body = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "online": True,
            "heartbeat_s": self.cfg.heartbeat_s,
        }
        client.publish(status, json.dumps(body), qos=1, retain=True)
        self._last_status = time.monotonic()

    def _heartbeat(self) -> None:
        """The gateway's own status every heartbeat_s: a facility with no local traffic is not offline."""
        if self.upstream_connected.is_set() and time.monotonic() - self._last_status >= self.cfg.heartbeat_s:
            self._publish_status(self._up)

    def _on_up_connect(self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            logger.warning("upstream refused the connection: %s", rc)
            return
        self._publish_status(client)
        self.upstream_connected.set()
        self.m_uplink.set(1)
        logger.info("uplink connected")

    def _on_up_disconnect(self, *_a: object) -> None:
        if self.upstream_connected.is_set():
            logger.warning("uplink lost; spooling to disk")
        self.upstream_connected.clear()
        self.m_uplink.set(0)

    def _forward_once(self) -> bool:
        """Publish the oldest spooled messages as one batch; True when something was acknowledged."""
        if not self.upstream_connected.is_set():
            return False
        with self._lock:
            rows = self.spool.peek(self.cfg.batch_max)
        if not rows:
            return False
        items = []
        for q in rows:
            payload = dict(q.payload)
            if q.channel != "status":
                payload.setdefault("msg_id", f"{self.cfg.gateway_id}-{q.seq}")  # fixed at spool time
            items.append({"device_id": q.device_id, "channel": q.channel, "payload": payload})
        body = {"msg_id": f"b-{rows[0].seq}-{rows[-1].seq}", "messages": items}
        topic = Topic(self.cfg.facility_id, self.cfg.gateway_id, Channel.BATCH).render(self.cfg.root)
        info = self._up.publish(topic, json.dumps(body, ensure_ascii=False, separators=(",", ":")), qos=1)
        self.m_inflight.set(len(rows))
        try:
            return self._settle(info, rows)
        finally:
            self.m_inflight.set(0)

    def _settle(self, info: mqtt.MQTTMessageInfo, rows: list[Queued]) -> bool:
        """Wait for the upstream acknowledgement of one batch; delete it from the spool only then."""
        if info.rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False  # the link dropped just now: kept in the spool, sent again (same ids) later
        deadline = time.monotonic() + self.cfg.ack_timeout_s
        while not _acked(info) and time.monotonic() < deadline and not self._stop.is_set():
            if not self.upstream_connected.is_set():
                return False  # kept in the spool; sent again (same ids) after the reconnect
            time.sleep(0.005)
        if not _acked(info):
            return False
        with self._lock:
            self.spool.remove_through(rows[-1].seq)
            self.m_queued.set(len(self.spool))
        self.m_forwarded.inc(len(rows))
        return True


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    """paho raises from is_published() once the connection is gone; for us that is simply "not yet"."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False
