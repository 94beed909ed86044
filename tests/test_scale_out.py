"""Scale-out on one box (issue #18): two ingest workers on a shared subscription and two alert workers
sharded by facility, on a Mosquitto provisioned as the local stack is (passwords, ACL, client ids bound
to usernames: issue #38 F), each worker logging in as itself; one of each is killed (SIGKILL) mid-stream
and started again. Every message stored once, every alert raised once, by the worker that owns its
facility, and no worker ever took another's session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from carewatch.provision import provision
from contract.registry import DeviceType
from contract.shards import Shard, shard_of
from runtime.stack import LocalStack, free_port
from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import Publisher, payload, wait_for
from tests.test_ingest_faults import healthy, start_cli, stop_processes
from tests.test_provision import broker  # noqa: F401 - the fixture, requested by name below

pytestmark = pytest.mark.slow


def test_shards_split_a_province_evenly_and_stably() -> None:
    ids = [f.id for f in generate_registry(400, seed=1).facilities]
    counts = [sum(Shard(k, 4).owns(f) for f in ids) for k in range(4)]
    assert sum(counts) == 400 and min(counts) > 70, counts  # each facility exactly once, none starved
    assert [shard_of(f, 4) for f in ids[:5]] == [shard_of(f, 4) for f in ids[:5]]
    with pytest.raises(ValueError, match="k/M"):
        Shard.parse("2")
    with pytest.raises(ValueError, match="below M"):
        Shard.parse("2/2")


def _telemetry(root: str, sensors: list[tuple[str, str]], n: int, stop: threading.Event, pub: Publisher) -> int:
    """Readings round the facilities' environment sensors, ~2,000 a second, until n or stop."""
    sent = 0
    while sent < n and not stop.is_set():
        for _ in range(100):
            fac, dev = sensors[sent % len(sensors)]
            ts = datetime.now(UTC).isoformat()
            body = {"msg_id": f"r-{sent}", "ts": ts, "readings": {"co2_ppm": 600 + sent % 50, "temperature_c": 22.5}}
            pub.publish(f"{root}/{fac}/{dev}/telemetry", payload(body))
            sent += 1
        stop.wait(0.05)
    return sent


def _alarms(root: str, wave: list[tuple[str, str]], pub: Publisher, tag: str) -> None:
    """A fire alarm from one smoke detector of each facility (and, as a device may, the same message twice)."""
    for fac, dev in wave:
        body = payload(
            {"msg_id": f"fire-{tag}", "ts": datetime.now(UTC).isoformat(), "type": "fire_alarm", "state": "active"}
        )
        pub.publish(f"{root}/{fac}/{dev}/event", body)
        pub.publish(f"{root}/{fac}/{dev}/event", body)


async def test_two_ingest_and_two_alert_workers_survive_a_kill_each(
    services: Services,
    db_url: str,
    db: asyncpg.Connection,
    topic_root: str,
    tmp_path: Path,
    broker: tuple[LocalStack, int],  # noqa: F811 - a Mosquitto of its own, which provisioning locks down
) -> None:
    reg = generate_registry(12, seed=18)
    await load_registry(db, reg)
    smoke = {f.id: [d.id for d in f.devices if d.type is DeviceType.SMOKE_DETECTOR][:3] for f in reg.facilities}
    assert all(len(v) == 3 for v in smoke.values()), "three smoke detectors a facility: one for each wave"
    sensors = [(f.id, d.id) for f in reg.facilities for d in f.devices if d.type is DeviceType.ENV_SENSOR]
    log = tmp_path / "workers.log"
    ingest_ports, alert_ports = [free_port(), free_port()], [free_port(), free_port()]
    # the broker as `carewatch provision --ingest-workers 2 --alert-shards 2` leaves it
    stack, port = broker
    creds = tmp_path / "creds"
    await provision(db, stack.mq_dir, creds, root=topic_root, ingest_workers=2, alert_shards=2)
    assert stack.apply_auth() == "restarted", "client ids bound to usernames from here on"
    secrets = yaml.safe_load((creds / "services.yaml").read_text())
    broker = Services(services.database_url, f"mqtt://127.0.0.1:{port}")  # no user: each worker picks its own
    own_login = ["--mqtt-credentials", str(creds / "services.yaml")]

    def start_ingest(k: int) -> subprocess.Popen[bytes]:
        args = ["ingest", "--worker", str(k + 1), *own_login, "--metrics", f"127.0.0.1:{ingest_ports[k]}"]
        return start_cli(broker, db_url, topic_root, [*args, "--flush-interval", "0.05", "--batch-size", "1000"], log)

    def start_alerts(k: int) -> subprocess.Popen[bytes]:
        args = ["alerts", "--shard", f"{k}/2", *own_login, "--metrics", f"127.0.0.1:{alert_ports[k]}"]
        return start_cli(broker, db_url, topic_root, args, log)

    ingest = [start_ingest(k) for k in (0, 1)]
    alerts = [start_alerts(k) for k in (0, 1)]
    pub = Publisher("127.0.0.1", port, window=2000, auth=("carewatch-simulator", secrets["carewatch-simulator"]))
    stop = threading.Event()
    n = 24_000
    try:
        for port in ingest_ports + alert_ports:
            await wait_for(lambda port=port: healthy(port), 60, f"worker on {port} up")
        await asyncio.sleep(0.5)
        stream = asyncio.create_task(asyncio.to_thread(_telemetry, topic_root, sensors, n, stop, pub))
        await asyncio.sleep(2)
        _alarms(topic_root, [(f, ds[0]) for f, ds in smoke.items()], pub, "1")
        await wait_for(lambda: _count(db, "SELECT count(*) FROM alerts WHERE rule = 'fire_alarm'", 12), 30, "wave 1")
        ingest[0].send_signal(signal.SIGKILL)  # mid-stream, batches in flight
        alerts[1].send_signal(signal.SIGKILL)
        ingest[0].wait(10)
        alerts[1].wait(10)
        _alarms(topic_root, [(f, ds[1]) for f, ds in smoke.items()], pub, "2")  # shard 1's wait in its session
        await asyncio.sleep(1.5)
        ingest[0] = start_ingest(0)
        alerts[1] = start_alerts(1)
        await wait_for(lambda: healthy(alert_ports[1]), 60, "alert worker 1 back")
        _alarms(topic_root, [(f, ds[2]) for f, ds in smoke.items()], pub, "3")
        sent = await stream
        pub.flush()
        await wait_for(lambda: _count(db, "SELECT count(*) FROM readings WHERE metric = 'co2_ppm'", sent), 90, "stored")
        await wait_for(lambda: _count(db, "SELECT count(*) FROM alerts WHERE rule = 'fire_alarm'", 36), 60, "alerts")
        await asyncio.sleep(1.0)  # anything doubled would land now
        opened_by = [await asyncio.to_thread(_opened, p) for p in alert_ports]
        frozen = [
            await asyncio.to_thread(_scrape, p, "carewatch_gc_frozen_objects") for p in ingest_ports + alert_ports
        ]
        probes = [json.loads(await asyncio.to_thread(_get, p, "/healthz")) for p in alert_ports]
    finally:
        stop.set()
        pub.close()
        stop_processes(*ingest, *alerts)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    broker_log = (stack.mq_dir / "mosquitto.log").read_text(errors="replace")
    assert "already connected, closing old connection" not in broker_log, "a worker took another's session"
    for k in (0, 1):
        assert f"as carewatch-alerts-{k}-of-2 " in broker_log or f"u'carewatch-alerts-{k}-of-2'" in broker_log
    assert all(p.get("probes_refused") is None for p in probes), f"each shard's ACL allows its own probes: {probes}"
    rows = await db.fetchrow("SELECT count(*) AS rows, count(DISTINCT (device_id, msg_id)) AS ids FROM readings")
    assert (rows["rows"], rows["ids"]) == (2 * sent, sent), "each reading stored once (two metrics a message)"
    assert await db.fetchval("SELECT count(*) FROM events") == 36, "each alarm stored once, its copy not"
    opened = await db.fetch(
        "SELECT a.facility_id, a.device_id, count(*) AS n FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE h.action = 'opened' GROUP BY 1, 2"
    )
    assert len(opened) == 36 and all(r["n"] == 1 for r in opened), [dict(r) for r in opened if r["n"] != 1]
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE status = 'active' AND rule = 'fire_alarm'") == 36
    # each worker opened its own facilities' alerts and no other's: worker 0 all three waves, worker 1
    # (its counter new since the restart) waves 2 and 3, which waited for it in its session
    own = [sum(Shard(k, 2).owns(f) for f in smoke) for k in (0, 1)]
    assert min(own) > 0, "both shards own facilities of the twelve"
    assert opened_by == [3 * own[0], 2 * own[1]], (opened_by, own)
    assert min(frozen) > 10_000, f"each worker settled what it loaded out of the collector's way: {frozen}"


def _opened(port: int) -> int:
    return int(_scrape(port, "carewatch_alerts_opened_total{"))


def _get(port: int, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return str(r.read().decode())


def _scrape(port: int, prefix: str) -> float:
    """The sum of a worker's metric lines that start with `prefix`."""
    text = _get(port, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def _count(db: asyncpg.Connection, sql: str, n: int) -> bool:
    return int(await db.fetchval(sql)) >= n


# -- the scaled deployment: read, not run (no Docker engine on the project's machines) -------------
def test_the_scaled_compose_is_a_3_node_emqx_cluster_with_sharded_workers() -> None:
    import re

    import yaml

    from ingest.service import IngestConfig
    from runtime.stack import REPO_ROOT

    here = REPO_ROOT / "deploy/scale"
    compose = yaml.safe_load((here / "compose.yml").read_text())
    services = compose["services"]
    emqx = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("emqx/emqx:")}
    assert len(emqx) == 3 and all(s["image"].startswith("emqx/emqx:5.") for s in emqx.values())
    names = {s["environment"]["EMQX_NODE__NAME"] for s in emqx.values()}
    seeds = {
        x.strip() for s in emqx.values() for x in s["environment"]["EMQX_CLUSTER__STATIC__SEEDS"].strip("[]").split(",")
    }
    assert len(names) == 3 and seeds == names, "every node seeds the same three"
    assert all(s["hostname"] == s["environment"]["EMQX_NODE__NAME"].split("@")[1] for s in emqx.values())
    conf = (here / "emqx.conf").read_text()
    assert re.search(r"shared_subscription_strategy\s*=\s*hash_topic", conf), "a device's stream stays in order"
    assert "FROM broker_users WHERE username = ${username}" in conf and "FROM broker_acl WHERE" in conf
    assert re.search(r"iterations\s*=\s*101", conf) and re.search(r"no_match\s*=\s*deny", conf)

    def command(name: str) -> list[str]:
        return [str(x) for x in services[name].get("command") or []]

    ingest = [n for n in services if command(n)[2:4] == ["carewatch", "ingest"]]
    assert len(ingest) >= 2
    assert all("--share-group" not in command(n) for n in ingest), (
        "one group: " + IngestConfig.model_fields["share_group"].default
    )
    alerts = [n for n in services if command(n)[2:4] == ["carewatch", "alerts"]]
    shards = sorted(command(n)[command(n).index("--shard") + 1] for n in alerts)
    m = len(alerts)
    assert shards == [f"{k}/{m}" for k in range(m)] and m >= 2, "a full set of shards, each once"
    _each_worker_logs_in_as_its_own_provisioned_user(services)
    webs = [n for n in services if command(n)[2:4] == ["carewatch", "web"]]
    assert len(webs) >= 2 and all(services[w]["environment"]["CAREWATCH_STATE_DIR"] == "/webstate" for w in webs)
    lb = (here / "haproxy.cfg").read_text()
    assert all(f"{w}:8080" in lb for w in webs) and all(n["hostname"] in lb for n in emqx.values())
    owner = "postgresql://carewatch:carewatch@"
    holders = {n for n, s in services.items() if owner in json.dumps(s.get("environment"))}
    assert holders == {"migrate"}, holders
    assert all(services[n]["environment"]["BROKER_DB_PASSWORD"].startswith("${BROKER_DB_PASSWORD:?") for n in emqx)


def _each_worker_logs_in_as_its_own_provisioned_user(services: dict[str, Any]) -> None:
    """Read from a compose file: `migrate` provisions as many ingest workers and alert shards as there are
    services, each worker's command names its own (`--worker i`, `--shard k/M`), no two share a login or
    a client id, and none overrides them (issue #38 F: one login for two workers is a session they take
    from each other for ever; an alert shard's client id names its probes in the broker's ACL)."""
    from contract.broker_acl import alerts_user, ingest_user, wanted

    def command(name: str) -> list[str]:
        return [str(x) for x in services[name].get("command") or []]

    def flag(cmd: list[str], name: str, default: str | None = None) -> str:
        if name not in cmd:
            assert default is not None, f"{name} missing from {cmd}"
            return default
        return cmd[cmd.index(name) + 1]

    migrate = " ".join(command("migrate"))
    provision = next(p for p in migrate.split("&&") if "carewatch provision" in p).split()
    workers, shards = int(flag(provision, "--ingest-workers")), int(flag(provision, "--alert-shards"))
    provisioned = {c.username for c in wanted({}, workers, shards)}
    logins: list[str] = []
    for name in services:
        cmd = command(name)
        if cmd[2:4] == ["carewatch", "ingest"]:
            logins.append(ingest_user(int(flag(cmd, "--worker"))))
        elif cmd[2:4] == ["carewatch", "alerts"]:
            shard = flag(cmd, "--shard", "") or None
            logins.append(alerts_user(Shard.parse(shard) if shard else None))
        else:
            continue
        assert cmd[:2] == ["/app/deploy/with-mqtt-credentials.sh", cmd[3]], name
        assert "--client-id" not in cmd, f"{name}: its client id is its own login's, not another name"
    assert len(set(logins)) == len(logins), f"two workers share a login: {sorted(logins)}"
    assert set(logins) == {u for u in provisioned if u.startswith(("carewatch-ingest", "carewatch-alerts"))}, (
        f"provisioned for {workers} ingest workers and {shards} shards, run: {sorted(logins)}"
    )


def test_the_single_host_compose_runs_its_workers_on_their_own_provisioned_logins() -> None:
    from runtime.stack import REPO_ROOT

    _each_worker_logs_in_as_its_own_provisioned_user(
        yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    )


@pytest.mark.parametrize(("role", "args"), [("ingest", ["--worker", "2"]), ("alerts", ["--shard", "1/2"])])
def test_the_compose_wrapper_leaves_each_worker_to_log_in_as_itself(role: str, args: list[str], tmp_path: Path) -> None:
    """deploy/with-mqtt-credentials.sh, run as the compose files run it: an ingest worker or an alert
    shard gets the broker's address without a user and the secrets file, and the CLI then picks the
    worker's own login from it (before, every worker of a role was handed the role's one login)."""
    from carewatch.provision import worker_mqtt_url
    from contract.broker_acl import alerts_user, ingest_user
    from runtime.stack import REPO_ROOT

    secrets_ = {"carewatch-ingest": "s1", "carewatch-ingest-2": "s2", "carewatch-alerts-1-of-2": "a1"}
    (tmp_path / "services.yaml").write_text(yaml.safe_dump(secrets_))
    (tmp_path / "db-roles.json").write_text(json.dumps({role: "dbpw"}))
    env = {"PATH": os.environ["PATH"], "CAREWATCH_SECRETS_DIR": str(tmp_path), "MQTT_HOST": "mqtt-lb"}
    script = REPO_ROOT / "deploy/with-mqtt-credentials.sh"
    show = "import os, sys; print(os.environ['CAREWATCH_MQTT_URL'], os.environ['CAREWATCH_MQTT_CREDENTIALS'])"
    out = subprocess.run(
        ["sh", str(script), role, sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True
    )
    url, creds = out.stdout.split()
    assert url == "mqtt://mqtt-lb:1883" and creds == str(tmp_path / "services.yaml")
    user = ingest_user(int(args[1])) if role == "ingest" else alerts_user(Shard.parse(args[1]))
    assert worker_mqtt_url(url, user, Path(creds)) == f"mqtt://{user}:{secrets_[user]}@mqtt-lb:1883"


async def test_the_broker_views_say_what_the_mosquitto_files_say(db: asyncpg.Connection) -> None:
    """EMQX reads credentials and ACL from migration 014's views: each secret checks the way EMQX's
    pbkdf2 does it (hex of PBKDF2-SHA512 with the raw salt), and the ACL rows are the Mosquitto ACL
    file's lines, for services, a facility and a device."""
    import hashlib

    from contract.broker_acl import PBKDF2_ITERATIONS, acl_file, mosquitto_hash, new_secret, wanted

    reg = generate_registry(2, seed=5)
    await load_registry(db, reg)
    f = reg.facilities[0]
    creds = [c for c in wanted({f.id: [f.devices[0].id]}) if c.kind != "device" or c.device_id == f.devices[0].id]
    secrets = {c.username: new_secret() for c in creds}
    for c in creds:
        await db.execute(
            "INSERT INTO mqtt_credentials (username, kind, facility_id, device_id, role, password_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            c.username,
            c.kind,
            c.facility_id,
            c.device_id,
            c.role,
            mosquitto_hash(secrets[c.username]),
        )
    users = {r["username"]: r for r in await db.fetch("SELECT * FROM broker_users")}
    assert set(users) == set(secrets)
    for name, secret in secrets.items():
        row = users[name]
        mine = hashlib.pbkdf2_hmac("sha512", secret.encode(), bytes(row["salt"]), PBKDF2_ITERATIONS, 64).hex()
        assert mine == row["password_hash"] and row["is_superuser"] is False
    wrong = hashlib.pbkdf2_hmac("sha512", b"guess", bytes(users[f.id]["salt"]), PBKDF2_ITERATIONS, 64).hex()
    assert wrong != users[f.id]["password_hash"]
    want = set()
    user = ""
    for line in acl_file(creds).splitlines():
        if line.startswith("user "):
            user = line[5:]
        elif line.startswith("topic "):
            _, access, topic = line.split()
            want.add((user, "allow", "subscribe" if access == "read" else "publish", topic))
    got = {tuple(r) for r in await db.fetch("SELECT username, permission, action, topic FROM broker_acl")}
    assert got == want
    await db.execute("UPDATE mqtt_credentials SET revoked_at = now() WHERE username = $1", f.id)
    assert f.id not in {r[0] for r in await db.fetch("SELECT username FROM broker_users")}


def test_a_share_group_that_mqtt_cannot_carry_is_refused_before_anything_starts() -> None:
    from click.testing import CliRunner

    from carewatch.cli import main

    for bad in ("a/b", "grp+", "#", ""):
        res = CliRunner().invoke(main, ["ingest", "--share-group", bad, "--metrics", ""])
        assert res.exit_code == 2, (bad, res.output)
        assert "share group" in res.output
