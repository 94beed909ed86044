"""Provisioning against a real Mosquitto using the generated password and ACL files."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest
import yaml

from carewatch.provision import provision
from contract.broker_acl import mosquitto_hash
from contract.topics import probe_topic
from runtime.stack import LocalStack, free_port
from simulators.registry_gen import generate_registry
from storage.registry import load_registry

REG = generate_registry(2, seed=9)
A, B = REG.facilities
ROOT = "cw/v1"


@pytest.fixture
def broker() -> Iterator[tuple[LocalStack, int]]:
    state = Path(tempfile.mkdtemp(prefix="carewatch-prov-"))
    state.chmod(0o755)
    stack = LocalStack(state)
    port = free_port()
    stack.up(mqtt_port=port, postgres=False)
    try:
        yield stack, port
    finally:
        stack.destroy()


def connect(port: int, user: str | None, password: str | None, client_id: str = "") -> tuple[mqtt.Client, str]:
    """Connect and wait for the CONNACK; return the client and the reason ('Success' when accepted)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    result: list[str] = []
    done = threading.Event()

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        result.append(str(rc))
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(5)
    rc = result[0] if result else "timeout"
    if rc != "Success":  # no background reconnect attempts after a refusal
        c.disconnect()
        c.loop_stop()
    return c, rc


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(f), "u", "s3cret"], check=True)
    theirs = f.read_text().strip().split(":", 1)[1]
    salt = __import__("base64").b64decode(theirs.split("$")[3])
    assert mosquitto_hash("s3cret", salt) == theirs


async def test_broker_enforces_the_contract(
    broker: tuple[LocalStack, int], db: asyncpg.Connection, tmp_path: Path
) -> None:
    stack, port = broker
    await load_registry(db, REG)
    out = tmp_path / "creds"
    res = await provision(db, stack.mq_dir, out, root=ROOT)
    stack.apply_auth()
    time.sleep(0.5)
    assert res.active == 3 + 2 + len(A.devices) + len(B.devices)
    secrets_a = yaml.safe_load((out / f"{A.id}.yaml").read_text())
    services = yaml.safe_load((out / "services.yaml").read_text())
    assert stat.S_IMODE((out / f"{A.id}.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((stack.mq_dir / "passwd").stat().st_mode) == 0o640
    assert "carewatch-ingest" in services

    _, rc = connect(port, None, None)
    assert rc != "Success", "nothing anonymous"
    _, rc = connect(port, f"{A.id}/smoke-nap1", "wrong")
    assert rc != "Success", "a wrong password is refused"

    got: list[str] = []
    sub, rc = connect(port, "carewatch-ingest", services["carewatch-ingest"], "ingest-test")
    assert rc == "Success"
    sub.on_message = lambda _c, _u, m: got.append(m.topic)
    sub.subscribe(f"{ROOT}/#", qos=1)
    time.sleep(0.3)
    dev, rc = connect(port, f"{A.id}/smoke-nap1", secrets_a[f"{A.id}/smoke-nap1"])
    assert rc == "Success"
    dev.publish(f"{ROOT}/{B.id}/smoke-nap1/event", b"{}", qos=1)  # another facility's topic
    dev.publish(f"{ROOT}/{A.id}/panic-gate/event", b"{}", qos=1)  # another device of its own facility
    dev.publish(f"{ROOT}/{A.id}/smoke-nap1/event", b"{}", qos=1)  # its own
    time.sleep(1.0)
    assert got == [f"{ROOT}/{A.id}/smoke-nap1/event"]
    # the alert engine's probes through the broker (CONTRACT §4): its own may pass, a device's may not
    probe = probe_topic("alerts-test", ROOT)
    got.clear()
    eng, rc = connect(port, "carewatch-alerts", services["carewatch-alerts"], "alerts-test")
    assert rc == "Success"
    eng.publish(probe, b"2026-12-01T00:00:00+00:00", qos=1)
    dev.publish(probe, b"2030-01-01T00:00:00+00:00", qos=1)
    time.sleep(1.0)
    assert got == [probe], "the engine's probe passes, the device's is refused"
    for c in (dev, eng):
        c.disconnect()
        c.loop_stop()

    res = await provision(db, stack.mq_dir, out, root=ROOT, revoke=(f"{A.id}/smoke-nap1",))
    assert res.revoked == [f"{A.id}/smoke-nap1"]
    stack.apply_auth()
    time.sleep(0.5)
    _, rc = connect(port, f"{A.id}/smoke-nap1", secrets_a[f"{A.id}/smoke-nap1"])
    assert rc != "Success", "a revoked device cannot connect after the reload"
    gw, rc = connect(port, A.id, secrets_a[A.id])
    assert rc == "Success", "the others still can"
    for c in (gw, sub):
        c.disconnect()
        c.loop_stop()
    assert "s3cret" not in (stack.mq_dir / "passwd").read_text()
    with pytest.raises(ValueError, match="no such credential"):
        await provision(db, stack.mq_dir, out, root=ROOT, rotate=("nobody",))


def test_every_broker_config_binds_client_ids_right_after_its_listener(tmp_path: Path) -> None:
    """Read, not run (no Docker here): the compose broker and the provisioned local broker bind a
    client id to its username, on the line after `listener` (in an included file Mosquitto 2.0.11
    opens a second listener on 1883 for it); the anonymous local broker does not (it would refuse
    every client without a username)."""
    from carewatch.provision import auth_conf
    from runtime.stack import REPO_ROOT, broker_conf

    def after_listener(text: str) -> str:
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        return next(lines[i + 1] for i, ln in enumerate(lines) if ln.startswith("listener "))

    bound = "use_username_as_clientid true"
    assert after_listener((REPO_ROOT / "deploy/mosquitto/mosquitto.conf").read_text()) == bound
    assert after_listener(broker_conf(1883, tmp_path, bind_client_ids=True)) == bound
    assert "use_username_as_clientid" not in broker_conf(1883, tmp_path, bind_client_ids=False)
    assert "use_username_as_clientid" not in auth_conf(tmp_path)
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    sim = compose["services"]["simulator"]["command"]
    assert sim[sim.index("--credentials-dir") + 1] == "/secrets", "60 facilities cannot share one username"


def test_compose_gives_the_owners_database_password_to_migrate_only() -> None:
    """Read, not run: in docker-compose only `migrate` holds the schema owner's (a superuser's) URL;
    ingest, alerts and web get their own roles through deploy/with-mqtt-credentials.sh, whose
    passwords `migrate --role-passwords` writes into the secrets volume."""
    from runtime.stack import REPO_ROOT

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    owner_url = "postgresql://carewatch:carewatch@"
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        holds_owner = any(owner_url in str(v) for v in env.values())
        assert holds_owner == (name == "migrate"), name
    migrate_cmd = " ".join(compose["services"]["migrate"]["command"])
    assert "carewatch migrate --role-passwords /secrets/db-roles.json" in migrate_cmd
    for name in ("ingest", "alerts", "web"):
        cmd = compose["services"][name]["command"]
        assert cmd[:2] == ["/app/deploy/with-mqtt-credentials.sh", name], name
    script = (REPO_ROOT / "deploy/with-mqtt-credentials.sh").read_text()
    assert "carewatch_${role}:${dbpw}@" in script and "${secrets}/db-roles.json" in script
    assert "secrets=${CAREWATCH_SECRETS_DIR:-/secrets}" in script


async def test_an_alert_worker_whose_probes_the_broker_refuses_judges_by_the_wall_clock(
    broker: tuple[LocalStack, int], db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    """A broker whose ACL predates the probes (CONTRACT §4) refuses them ("Not authorized"). Never
    judging silence would miss every dead device, so the worker notices the refusal, judges by the wall
    clock and says why; once the ACL allows the probes again, they come back and it uses them."""
    from alerts.service import AlertsConfig, AlertService
    from contract.rules import load_rules
    from tests.conftest import as_role
    from tests.helpers import wait_for

    stack, port = broker
    await load_registry(db, REG)
    out = tmp_path / "creds"
    await provision(db, stack.mq_dir, out, root=ROOT)
    acl = stack.mq_dir / "acl"
    current = acl.read_text()
    assert f"topic write {ROOT}/_probe/#" in current
    acl.write_text(current.replace(f"topic write {ROOT}/_probe/#\n", ""))  # an ACL from before the probes
    assert stack.apply_auth() in {"reloaded", "restarted"}  # restarted the first time: client ids bound
    secret = yaml.safe_load((out / "services.yaml").read_text())["carewatch-alerts"]
    cfg = AlertsConfig(
        database_url=as_role(db_url, "alerts"),
        mqtt_url=f"mqtt://carewatch-alerts:{secret}@127.0.0.1:{port}",
        topic_root=ROOT,
        client_id="carewatch-alerts",
        tick_s=0.2,
    )  # type: ignore[call-arg]
    svc = AlertService(cfg, load_rules(None))
    task = asyncio.create_task(svc.run())
    try:
        await asyncio.wait_for(svc.ready.wait(), 15)
        await wait_for(lambda: asyncio.sleep(0, result=svc.input.refused is not None), 15, "the refusal noticed")
        assert "authori" in (svc.input.refused or "").lower(), svc.input.refused
        wall = datetime.now(UTC)
        assert svc.input.now(wall) == wall, "refused probes: the wall clock judges"
        assert svc.health()[1]["probes_refused"] == svc.input.refused
        acl.write_text(current)  # the ACL as `carewatch provision` writes it now
        assert stack.apply_auth() == "reloaded"
        await wait_for(lambda: asyncio.sleep(0, result=svc.input.refused is None), 15, "the probes allowed again")
        await wait_for(lambda: asyncio.sleep(0, result=svc.input.behind_s(datetime.now(UTC)) < 2), 15, "probes back")
    finally:
        svc.stop()
        await asyncio.wait_for(task, 20)


def test_each_worker_has_a_login_of_its_own_and_a_shard_reads_only_its_facilities(tmp_path: Path) -> None:
    """Issue #38 F: one username per ingest worker and per alert shard (the broker binds client ids to
    usernames); a shard's ACL lists its own facilities' topics and its own probe topic, nothing else."""
    from carewatch.provision import CredentialError, worker_mqtt_url
    from contract.broker_acl import acl_file, alerts_user, ingest_user, wanted
    from contract.shards import Shard

    facilities = {f.id: [d.id for d in f.devices] for f in generate_registry(8, seed=3).facilities}
    creds = wanted(facilities, ingest_workers=3, alert_shards=2)
    services = sorted(c.username for c in creds if c.kind == "service")
    assert services == [
        "carewatch-alerts-0-of-2",
        "carewatch-alerts-1-of-2",
        "carewatch-ingest",
        "carewatch-ingest-2",
        "carewatch-ingest-3",
        "carewatch-simulator",
    ]
    assert [ingest_user(1), alerts_user(None), alerts_user(Shard(0, 1))] == ["carewatch-ingest"] + [
        "carewatch-alerts"
    ] * 2
    blocks = {
        b.splitlines()[0][5:]: b.splitlines()[1:] for b in acl_file(creds, ROOT).split("\n\n") if b.startswith("user ")
    }
    for k in (0, 1):
        user = alerts_user(Shard(k, 2))
        mine = sorted(f for f in facilities if Shard(k, 2).owns(f))
        assert 0 < len(mine) < len(facilities)
        assert blocks[user] == [f"topic readwrite {probe_topic(user, ROOT)}"] + [
            line for f in mine for line in (f"topic read {ROOT}/{f}/#", f"topic write {ROOT}/{f}/_alerts")
        ]
    assert blocks["carewatch-ingest-3"] == [f"topic read {ROOT}/#"]
    # a worker logs in as itself: from services.yaml, and never with another worker's login
    secrets_file = tmp_path / "services.yaml"
    secrets_file.write_text(yaml.safe_dump({"carewatch-ingest": "s1", "carewatch-ingest-2": "s2"}))
    assert (
        worker_mqtt_url("mqtt://127.0.0.1:1", "carewatch-ingest-2", secrets_file)
        == "mqtt://carewatch-ingest-2:s2@127.0.0.1:1"
    )
    assert worker_mqtt_url("mqtt://127.0.0.1:1", "carewatch-ingest-2", None) == "mqtt://127.0.0.1:1"
    with pytest.raises(CredentialError, match="another worker's login"):
        worker_mqtt_url("mqtt://carewatch-ingest:s1@127.0.0.1:1", "carewatch-ingest-2", secrets_file)
    with pytest.raises(CredentialError, match="--ingest-workers"):
        worker_mqtt_url("mqtt://127.0.0.1:1", "carewatch-ingest-3", secrets_file)
