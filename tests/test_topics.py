from __future__ import annotations

import pytest
from paho.mqtt.client import topic_matches_sub

from contract.errors import ContractError
from contract.ids import FACILITY_ID_RE
from contract.topics import PROBE_LEAF, Channel, Topic, alerts_topic, parse_topic, probe_topic, subscription


def test_round_trip() -> None:
    t = parse_topic("cw/v1/xz-140902-0001/smoke-nap1/event")
    assert t == Topic("xz-140902-0001", "smoke-nap1", Channel.EVENT)
    assert t.render() == "cw/v1/xz-140902-0001/smoke-nap1/event"
    assert parse_topic(t.render("t1/cw/v1"), root="t1/cw/v1") == t
    # a root is matched as text, not as a pattern (tests give each test a root of its own)
    assert parse_topic("t.1/cw/v1/xz-1/d/status", root="t.1/cw/v1") == Topic("xz-1", "d", Channel.STATUS)
    with pytest.raises(ContractError):
        parse_topic("tx1/cw/v1/xz-1/d/status", root="t.1/cw/v1")


@pytest.mark.parametrize(
    ("topic", "field", "fragment"),
    [
        ("cw/v1/xz-1/smoke/gossip", "channel", "unknown channel 'gossip'"),
        ("cw/v1/XZ-1/smoke/event", "facility_id", "facility id 'XZ-1'"),
        ("cw/v1/xz-1/-smoke/event", "device_id", "device id '-smoke'"),
        ("cw/v1/xz-1/event", "topic", "must be"),
        ("cw/v2/xz-1/d/event", "topic", "not under"),
        ("cw/v1/xz-1/d/event/extra", "topic", "must be"),
        ("cw/v1/xz-1\n/d/event", "facility_id", "facility id 'xz-1\\n'"),
        ("cw/v1/xz-1/d\n/event", "device_id", "device id 'd\\n'"),
        ("cw/v1/xz-1/d/event\n", "channel", "unknown channel 'event\\n'"),
        ("cwxv1/xz-1/d/event", "topic", "not under"),
    ],
)
def test_rejects(topic: str, field: str, fragment: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_topic(topic)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_subscription_and_alerts_topic_do_not_overlap() -> None:
    assert subscription() == "cw/v1/+/+/+"
    # the alerts topic has one level fewer than device topics: ingest never consumes it
    assert alerts_topic("xz-1").count("/") == subscription().count("/") - 1


def test_an_alert_workers_probe_reaches_no_one_else() -> None:
    """The probes an alert worker sends itself (CONTRACT §4) must not reach ingest (it would
    dead-letter them) nor a facility's display, whatever the worker's client id."""
    for client in ("carewatch-alerts-1", "a/b", "x+#y", "alerts"):
        topic = probe_topic(client, "cw/v1")
        assert topic.startswith("cw/v1/_probe/") and topic.count("/") == 3, topic
        assert not any(c in topic.removeprefix("cw/v1/_probe/") for c in "/+#"), topic
        assert not topic_matches_sub(subscription("cw/v1"), topic)
        assert not topic_matches_sub("cw/v1/+/_alerts", topic)
        with pytest.raises(ContractError):
            parse_topic(topic)
    assert FACILITY_ID_RE.match(PROBE_LEAF) is None, "no facility can be called _probe"
