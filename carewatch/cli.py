"""`carewatch`: the command line of CONTRACT §6. Only commands that exist are offered."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import click
import yaml
from pydantic import ValidationError

from carewatch.backups import backup, restore, standby
from carewatch.runtime import Endpoints, NotConfiguredError, endpoints, local_stack
from carewatch.screenshots import screenshots
from contract.config import Settings, mask_url
from contract.errors import ContractError
from contract.inspection import DEPARTMENTS
from contract.registry import Registry, load_registry_file
from runtime.stack import StackError

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    """The one settings object (contract.config.Settings: the environment and `.env`), read once; a
    command's flags override its fields (a flag left unset keeps the setting)."""
    try:
        settings = Settings()
        given = {k: v for k, v in overrides.items() if v is not None}
        return Settings.model_validate(settings.model_dump() | given) if given else settings
    except ValidationError as err:
        raise click.ClickException(f"configuration error: {err}") from err


def _clock_now() -> datetime:
    """The configured clock's reading (CAREWATCH_CLOCK: a demo's accelerated one), for what a command stamps."""
    from contract.clock import clock_from_spec

    return clock_from_spec(_settings().clock).now()


def _service_fields(settings: Settings, ep: Endpoints, metrics_addr: str) -> dict[str, Any]:
    """The ServiceConfig fields of ingest and alerts, from the settings and the resolved endpoints."""
    return {
        "database_url": ep.database_url,
        "mqtt_url": ep.mqtt_url,
        "topic_root": settings.topic_root,
        "http": metrics_addr or None,
        "max_clock_ahead_s": settings.max_clock_ahead_s,
        "max_age_s": settings.max_age_s,
        "clock": settings.clock,
    }


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except NotConfiguredError as err:
        raise click.ClickException(str(err)) from err
    except (OSError, asyncpg.PostgresError) as err:
        raise click.ClickException(f"database error: {err}") from err


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """CareWatch: IoT safety monitoring for childcare facilities (托育机构安全监管)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# -- stack -----------------------------------------------------------------------------------------
@main.group()
def stack() -> None:
    """Private local Mosquitto and PostgreSQL+TimescaleDB under the state directory."""


@stack.command("up")
def stack_up() -> None:
    """Install what is missing, start the servers (idempotent), print their URLs."""
    try:
        info = local_stack(_settings()).up()
    except StackError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"database: {mask_url(info.database_url)}")
    click.echo(f"mqtt:     {info.mqtt_url}")
    click.echo(f"state:    {info.state_dir}  (full URLs in stack.json)")


@stack.command("down")
def stack_down() -> None:
    """Stop the servers this state directory started (and nothing else)."""
    stopped = local_stack(_settings()).down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack.command("status")
def stack_status() -> None:
    click.echo(json.dumps(local_stack(_settings()).status(), indent=2))


# -- database ------------------------------------------------------------------------------------
async def _connect(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(endpoints(settings).database_url)


@main.command()
@click.option(
    "--role-passwords",
    "role_passwords_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="let the services log in as their own database roles with the passwords in this JSON file"
    " (made, mode 0600, when missing); the local stack's are kept in its state directory",
)
def migrate(role_passwords_file: Path | None) -> None:
    """Apply pending schema migrations and the services' database grants."""
    from storage.migrate import detect_features
    from storage.migrate import migrate as do_migrate

    settings = _settings()

    async def go() -> tuple[list[str], Any]:
        conn = await _connect(settings)
        try:
            applied = await do_migrate(conn)
            if role_passwords_file or not settings.database_url:  # let the services log in as their roles
                from runtime.stack import role_passwords
                from storage.roles import ensure_roles

                path = role_passwords_file or local_stack(settings).state_dir / "db-roles.json"
                await ensure_roles(conn, role_passwords(path))
            return applied, await detect_features(conn)
        finally:
            await conn.close()

    applied, features = _run(go)
    click.echo(f"applied: {', '.join(applied) if applied else 'none (up to date)'}")
    click.echo(f"timescaledb {features.version} ({features.license} edition)")


@main.group()
def registry() -> None:
    """The facility registry (CONTRACT §3)."""


@registry.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def registry_load(file: Path) -> None:
    """Load FILE (YAML or JSON); idempotent."""
    from contract.clock import clock_from_spec
    from storage.registry import load_registry

    settings = _settings()
    try:
        # identity numbers become keys here and go no further (contract/people.py); a class over the
        # standard's capacity is refused with the reason
        reg = load_registry_file(file, settings.salt())
    except ContractError as err:
        raise click.ClickException(f"{file}: {err}") from None

    async def go() -> Any:
        conn = await _connect(settings)
        try:
            return await load_registry(conn, reg, clock_from_spec(settings.clock).now())
        except asyncpg.IntegrityConstraintViolationError as err:
            raise click.ClickException(f"{file}: {str(err).splitlines()[0]}") from None
        finally:
            await conn.close()

    s = _run(go)
    click.echo(f"loaded {s.facilities} facilities, {s.devices} devices, {s.staff} staff, {s.children} children")


# -- services --------------------------------------------------------------------------------------
@main.group("calendar")
def calendar_group() -> None:
    """China's national holiday calendar (CONTRACT §3, "The national calendar")."""


@calendar_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
def calendar_check(file: Path | None) -> None:
    """Validate FILE (default: the shipped contract/data/cn-holidays.yaml) and compare each of its years with
    the `holidays` package where the package has the year; exit 1 on any error or difference."""
    from zoneinfo import ZoneInfo

    from contract import calendar
    from contract.clock import clock_from_spec

    path = file or calendar.DATA_FILE
    try:
        years = calendar.load_calendar_file(path)
    except ContractError as err:
        raise click.ClickException(f"{path}: {err}") from None
    differ, version = False, calendar.holidays.__version__
    for year, entered in sorted(years.items()):
        blocks = "，".join(f"{b.name} {b.first:%m-%d}至{b.last:%m-%d}" for b in entered.blocks)
        workdays = ", ".join(f"{d:%m-%d}" for d in sorted(entered.workdays))
        click.echo(f"{year}: {entered.source}: {blocks}; 调休上班 {workdays}")
        if not calendar.package_has_year(year):
            click.echo(f"  holidays {version} does not have {year} yet: check it against the notice")
            continue
        diff = calendar.differences(entered, calendar.package_plan(year))
        for line in diff:
            click.echo(f"  differs from the holidays package: {line}")
        differ = differ or bool(diff)
        if not diff:
            click.echo(f"  the same as holidays {version}")
    today = clock_from_spec(_settings().clock).now().astimezone(ZoneInfo("Asia/Shanghai")).date()  # China's days
    missing = calendar.missing_year(today)
    if missing is not None:
        click.echo(f"{missing}: not in the file, nor in holidays {version}: enter it from the notice")
    if differ:
        raise click.ClickException("the file differs from the holidays package: check both against the notice")


@main.group("filing")
def filing_group() -> None:
    """登记备案: filings (CONTRACT §3, "登记备案")."""


@filing_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="who imports (the audit log's actor)")
def filing_import(csv_file: Path, actor: str) -> None:
    """Import filings accepted before CareWatch (the county's 备案 records, e.g. exported from the national
    filing system): CSV with facility_id, filing_no, accepted_on (YYYY-MM-DD), authority (the department
    that accepted it) and source. All or nothing: any wrong line refuses the file, each line with its reason."""
    from supervision.filing_import import ImportRefused, import_file

    settings = _settings()
    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file}: not UTF-8 text (save the CSV as UTF-8)") from None

    async def go() -> int:
        conn = await _connect(settings)
        try:
            return len(await import_file(conn, text, actor, _clock_now()))
        finally:
            await conn.close()

    try:
        n = _run(go)
    except ImportRefused as err:
        for problem in err.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"nothing imported: {len(err.problems)} line(s) to correct") from None
    click.echo(f"imported {n} accepted filing(s)")


@main.group("draw")
def draw_group() -> None:
    """双随机一公开: the random draws of inspections (CONTRACT §6, "双随机一公开")."""


@draw_group.command("verify")
@click.argument("draw_id", type=int, required=False)
@click.option(
    "--file",
    "record_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a draw's public record (JSON, as GET /api/v1/draws/ID gives it) instead of the database",
)
def draw_verify(draw_id: int | None, record_file: Path | None) -> None:
    """Re-run draw DRAW_ID (or the record in --file) from its published inputs and compare it with what it
    recorded (and, from the database, with the inspections it planned); exit 1 when anything differs."""
    from supervision import draw as algorithm
    from supervision import draws as draw_rules

    if (draw_id is None) == (record_file is None):
        raise click.UsageError("give a draw's id or --file, one of the two")
    if record_file is not None:
        try:
            verdict: algorithm.Verdict | None = algorithm.verify(json.loads(record_file.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as err:
            raise click.ClickException(f"{record_file}: not JSON: {err}") from None
    else:
        settings = _settings()

        async def go() -> algorithm.Verdict | None:
            conn = await _connect(settings)
            try:
                return await draw_rules.verify(conn, draw_id or 0)
            finally:
                await conn.close()

        verdict = _run(go)
    if verdict is None:
        raise click.ClickException(f"no draw {draw_id}")
    for problem in verdict.problems:
        click.echo(f"differs: {problem}")
    if not verdict.ok:
        raise click.ClickException("the draw does not verify")
    click.echo("verified: the re-run from the published inputs gives the draw as recorded")


def _share_group(value: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise click.BadParameter("a share group is a non-empty name without '/', '+' or '#' (MQTT 5 §4.8.2)")
    return value


_MQTT_CREDENTIALS = click.option(
    "--mqtt-credentials",
    "mqtt_credentials",
    envvar="CAREWATCH_MQTT_CREDENTIALS",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="services' broker secrets as `carewatch provision` wrote them, read for this worker's own login"
    " when the broker URL names no user (default with the local stack: <state dir>/credentials/services.yaml)",
)


def _worker_mqtt(settings: Settings, url: str, username: str, secrets_file: Path | None) -> str:
    """The broker URL logged in as this worker's own username (carewatch.provision.worker_mqtt_url)."""
    from carewatch.provision import CredentialError, worker_mqtt_url

    if secrets_file is None and not settings.mqtt_url:  # the local stack's broker: its own provisioning
        secrets_file = local_stack(settings).state_dir / "credentials" / "services.yaml"
    try:
        return worker_mqtt_url(url, username, secrets_file)
    except (CredentialError, OSError, yaml.YAMLError) as err:
        raise click.ClickException(str(err)) from err


async def _serve(service: Any) -> None:
    """Run a service until SIGTERM, SIGINT or SIGHUP; it is gone within runtime.service.STOP_DEADLINE_S."""
    from runtime.service import serve

    await serve(service)


@main.command()
@click.option(
    "--worker",
    envvar="CAREWATCH_INGEST_WORKER",
    default=1,
    show_default=True,
    type=click.IntRange(1, 999),
    help="which ingest worker this is: it logs in to the broker as its own user (1: carewatch-ingest,"
    " i: carewatch-ingest-i; `carewatch provision --ingest-workers N`)",
)
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id: the persistent session that holds messages while ingest is down"
    " [default: carewatch-ingest-WORKER]",
)
@_MQTT_CREDENTIALS
@click.option(
    "--metrics",
    "metrics_addr",
    default="127.0.0.1:9101",
    show_default=True,
    help="host:port for /metrics and /healthz ('' to disable).",
)
@click.option(
    "--share-group",
    default="carewatch-ingest",
    show_default=True,
    callback=lambda _ctx, _param, value: _share_group(value),
    help="MQTT 5 shared-subscription group: the workers of one group split the stream between them; "
    "another group (a second deployment, a benchmark) gets a whole copy of its own.",
)
@click.option("--batch-size", default=10000, show_default=True)
@click.option("--flush-interval", default=0.2, show_default=True, help="seconds")
@click.option(
    "--writers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 8),
    help="batches written at once (one database connection each).",
)
def ingest(
    worker: int,
    client_id: str | None,
    mqtt_credentials: Path | None,
    metrics_addr: str,
    share_group: str,
    batch_size: int,
    flush_interval: float,
    writers: int,
) -> None:
    """MQTT → TimescaleDB: validate, dead-letter, store exactly once."""
    from contract.broker_acl import ingest_user
    from ingest.service import IngestConfig, IngestService

    settings = _settings()

    async def go() -> None:
        ep = endpoints(settings, "ingest")
        fields = _service_fields(settings, ep, metrics_addr)
        fields["mqtt_url"] = _worker_mqtt(settings, ep.mqtt_url, ingest_user(worker), mqtt_credentials)
        cfg = IngestConfig(
            **fields,
            client_id=client_id or f"carewatch-ingest-{worker}",
            share_group=share_group,
            batch_size=batch_size,
            flush_interval_s=flush_interval,
            writers=writers,
        )
        await _serve(IngestService(cfg))

    _run(go)


# -- simulators -----------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.pass_context
def simulate(ctx: click.Context) -> None:
    """Simulated facilities. With no subcommand: a normal day for 60 facilities, in real time."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(simulate_run)


@simulate.command("registry")
@click.option("--facilities", "-n", default=60, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="default: stdout")
def simulate_registry(facilities: int, seed: int, out: Path | None) -> None:
    """Write a realistic Xinzhou registry (YAML)."""
    from simulators.registry_gen import generate_registry

    reg = generate_registry(facilities, seed)
    text = yaml.safe_dump(
        reg.model_dump(mode="json", by_alias=True, exclude_defaults=True), allow_unicode=True, sort_keys=False
    )
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {facilities} facilities to {out}", err=True)


def _facility_credentials(folder: Path, reg: Registry) -> dict[str, tuple[str, str]]:
    """Each facility's gateway credential from the files `carewatch provision` wrote."""
    from contract.broker_acl import facility_user

    out = {}
    for f in reg.facilities:
        path = folder / f"{f.id}.yaml"
        try:
            secrets_ = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            out[f.id] = (facility_user(f.id), str(secrets_[facility_user(f.id)]))
        except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
            raise click.ClickException(f"{path}: no gateway credential for {f.id} ({err})") from err
    return out


@simulate.command("run")
@click.option(
    "--registry",
    "registry_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="registry file (default: generate --facilities with --seed)",
)
@click.option("--facilities", "-n", default=60, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--speed", default=1.0, show_default=True, help="simulated seconds per real second")
@click.option("--asap", is_flag=True, help="as fast as possible (load mode)")
@click.option("--start", "start_at", default=None, help="simulated start, ISO 8601 (default: now)")
@click.option("--hours", default=24.0, show_default=True, help="simulated duration")
@click.option("--scenario", "scenarios", multiple=True, help="built-in scenario name or YAML file (repeatable)")
@click.option("--gateway-share", default=0.3, show_default=True, help="share of facilities publishing batches")
@click.option("--dump", type=click.Path(dir_okay=False, path_type=Path), help="write events to a file, not MQTT")
@click.option(
    "--credentials-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="connect each facility with its own gateway credential from DIR/<facility>.yaml"
    " (written by `carewatch provision`), as real gateways do",
)
@click.option(
    "--inject",
    "injections",
    multiple=True,
    metavar="SCENARIO@SECONDS",
    help="inject a built-in scenario's fault N simulated seconds after the start (demo)",
)
@click.option(
    "--register-day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="the generated staff as people of the register as of this day, with its planted cases (people on two"
    " facilities' staff, an expiring and a lapsed certificate) and pick-up delegates collecting children"
    " (simulators.registry_gen.with_register; `carewatch demo` loads the same)",
)
@click.option(
    "--behind-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write here how many simulated seconds the run is behind its clock, when it falls behind and when it"
    " catches up (0), for `carewatch demo` to say",
)
def simulate_run(
    registry_file: Path | None,
    facilities: int,
    seed: int,
    speed: float,
    asap: bool,
    start_at: str | None,
    hours: float,
    scenarios: tuple[str, ...],
    gateway_share: float,
    dump: Path | None,
    credentials_dir: Path | None = None,
    injections: tuple[str, ...] = (),
    behind_file: Path | None = None,
    register_day: datetime | None = None,
) -> None:
    """Run simulated facilities and publish their messages."""
    from datetime import datetime, timedelta

    from contract.clock import ScaledClock, clock_from_spec
    from simulators.engine import CitySim
    from simulators.registry_gen import generate_registry, simulated_delegates, with_register
    from simulators.runner import FileSink, MqttSink, drive, say_behind
    from simulators.scenarios import apply_registry_patch, builtin_scenarios, inject, inject_at, load_scenario

    reg = load_registry_file(registry_file) if registry_file else generate_registry(facilities, seed)
    delegates = []
    if register_day is not None:
        reg = with_register(reg, register_day.date(), seed)
        delegates = simulated_delegates(reg, register_day.date())
    known = builtin_scenarios()
    chosen = [known[s] if s in known else load_scenario(Path(s)) for s in scenarios]
    for sc in chosen:
        reg = apply_registry_patch(reg, sc)
    settings = _settings()
    try:
        shared = clock_from_spec(settings.clock)  # the clock the services judge by (`carewatch demo --speed`)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="CAREWATCH_CLOCK") from err
    start = datetime.fromisoformat(start_at) if start_at else shared.now().replace(microsecond=0)
    if start.tzinfo is None:
        raise click.BadParameter("the start needs its UTC offset, e.g. 2026-12-01T07:00:00+08:00", param_hint="--start")
    # paced by the services' own clock when it is not the machine's; else from the start at --speed
    clock = shared if shared.speed != 1.0 else ScaledClock(start, speed)
    sim = CitySim(reg, seed, start, gateway_share=gateway_share, delegates=delegates)
    for sc in chosen:
        inject(sim, sc)
    for spec in injections:
        name, _, secs = spec.partition("@")
        if name not in known or not secs.replace(".", "", 1).isdigit():
            raise click.BadParameter(f"{spec!r}: use SCENARIO@SECONDS with one of {', '.join(sorted(known))}")
        inject_at(sim, known[name], start + timedelta(seconds=float(secs)))
    until = start + timedelta(hours=hours)
    if dump:
        with dump.open("wb") as f:
            n = drive(sim, until, FileSink(f, settings.topic_root), clock=None)
        click.echo(f"{n} events written to {dump}", err=True)
        return
    from runtime.mqtt_source import mqtt_params

    host, port, user, password = mqtt_params(settings.mqtt_url or endpoints(settings).mqtt_url)
    sink = MqttSink(
        host,
        port,
        reg,
        root=settings.topic_root,
        per_facility=len(reg.facilities) <= 200,
        credentials=(user, password or "") if user else None,
        facility_credentials=_facility_credentials(credentials_dir, reg) if credentials_dir else None,
    )
    click.echo(
        f"simulating {len(reg.facilities)} facilities from {start.isoformat()} "
        f"({'as fast as possible' if asap else f'speed {clock.speed:g}x'})",
        err=True,
    )

    try:
        n = drive(sim, until, sink, clock=None if asap else clock, report=say_behind(clock.speed, behind_file))
        sink.flush()
    except KeyboardInterrupt:
        n = sink.published
    finally:
        sink.close()
    click.echo(f"published {n} events", err=True)


@main.command()
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id [default: carewatch-alerts-1; a shard k/M with M > 1: its username,"
    " carewatch-alerts-k-of-M, which names its probe topic in the broker's ACL]",
)
@_MQTT_CREDENTIALS
@click.option("--facility", "facilities", multiple=True, help="own only these facilities (repeatable); default all")
@click.option(
    "--shard",
    envvar="CAREWATCH_ALERTS_SHARD",
    default=None,
    help="own the facilities of shard k of M (k/M, e.g. 0/2): M workers share a province, no coordination",
)
# Each flag overrides its CAREWATCH_ setting (contract.config.Settings); unset, the setting stands.
@click.option("--webhook", "webhook_url", default=None, help="POST alert notifications here (JSON, HMAC-signed)")
@click.option("--webhook-secret", default=None, help="HMAC key (better: CAREWATCH_WEBHOOK_SECRET)")
@click.option("--public-url", default=None, help="the web's address as people reach it: the link in every notification")
@click.option("--wecom-url", default=None, help="WeCom robots' address (a private deployment's)")
@click.option("--dingtalk-url", default=None, help="DingTalk robots' address (a private deployment's)")
@click.option("--smtp-host", default=None, help="mail server for e-mail notifications")
@click.option("--smtp-port", default=None, type=int)
@click.option("--smtp-starttls/--no-smtp-starttls", default=None)
@click.option("--smtp-user", default=None)
@click.option("--smtp-password", default=None, help="(better: CAREWATCH_SMTP_PASSWORD)")
@click.option("--smtp-from", default=None)
@click.option(
    "--metrics",
    "metrics_addr",
    default="127.0.0.1:9102",
    show_default=True,
    help="host:port for /metrics and /healthz ('' to disable).",
)
def alerts(
    client_id: str | None,
    mqtt_credentials: Path | None,
    facilities: tuple[str, ...],
    shard: str | None,
    metrics_addr: str,
    **overrides: Any,
) -> None:
    """The alert engine: every rule of the catalogue, alert lifecycle, escalation, notifications."""
    from alerts.service import AlertsConfig, AlertService
    from contract.broker_acl import alerts_user
    from contract.rules import RulesConfigError, load_rules
    from contract.shards import Shard

    settings = _settings(**overrides)
    try:
        rules = load_rules(settings.rules)
        owned = Shard.parse(shard) if shard is not None else None
    except (RulesConfigError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    username = alerts_user(owned)
    sharded = owned is not None and owned.count > 1

    async def go() -> None:
        ep = endpoints(settings, "alerts")
        fields = _service_fields(settings, ep, metrics_addr)
        fields["mqtt_url"] = _worker_mqtt(settings, ep.mqtt_url, username, mqtt_credentials)
        cfg = AlertsConfig(
            **fields,
            client_id=client_id or (username if sharded else "carewatch-alerts-1"),
            facilities=list(facilities) or None,
            shard=shard,
            webhook_url=settings.webhook_url,
            webhook_secret=settings.webhook_secret,
            late_wait_s=settings.late_wait_s,
            public_url=settings.public_url,
            channels=settings.channels(),
        )
        await _serve(AlertService(cfg, rules))

    _run(go)


def _session_key(settings: Settings) -> bytes:
    """The session cookies' key: kept in the state directory (created once, mode 0600)."""
    import secrets

    from runtime.stack import private_write

    path = local_stack(settings).state_dir / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private_write(path, secrets.token_bytes(32))
    return path.read_bytes()


def _serve_web(
    database_url: str,
    session_key: bytes,
    host: str,
    port: int,
    reuse_port: bool,
    parent: int | None = None,
    rules_path: Path | None = None,
    public_url: str = "http://127.0.0.1:8080",
    secure_cookies: bool | None = None,
    trusted_proxies: str = "",
) -> None:
    """One web process (a top-level function: worker processes are started with `spawn`). A worker
    (`parent` set) stops by itself once its parent is gone, even a parent killed with SIGKILL."""
    import os
    import signal
    from collections.abc import AsyncIterator

    from aiohttp import web as aioweb

    from contract.clock import clock_from_spec
    from contract.config import Settings
    from contract.credit import load_credit
    from contract.population import load_population
    from contract.rules import load_rules
    from contract.targets import load_targets
    from runtime.collector import settle
    from web.app import create_app
    from web.ratelimit import RateLimit

    settings = Settings()
    api_limit = RateLimit(settings.api_rate, settings.api_burst) if settings.api_rate > 0 else None
    app = create_app(
        database_url,
        session_key,
        load_rules(rules_path),
        credit=load_credit(settings.credit),
        clock=clock_from_spec(settings.clock),
        public_url=public_url,
        secure_cookies=secure_cookies,
        trusted_proxies=trusted_proxies,
        api_limit=api_limit,
        person_salt=settings.salt(),
        population=load_population(settings.population),
        targets=load_targets(settings.targets),
        simulator_behind=settings.simulator_behind_file,
        read_database_url=settings.read_database_url,
    )

    async def loaded(_app: aioweb.Application) -> None:
        settle()  # templates, Babel's data, the pool: out of the collector's full passes (runtime.collector)

    app.on_startup.append(loaded)
    if parent is not None:

        async def follow_parent(_app: aioweb.Application) -> AsyncIterator[None]:
            async def watch() -> None:
                while os.getppid() == parent:  # noqa: ASYNC110 - no event tells us: the kernel reparents
                    await asyncio.sleep(1)
                os.kill(os.getpid(), signal.SIGTERM)  # run_app's graceful shutdown

            task = asyncio.create_task(watch())
            yield
            task.cancel()

        app.cleanup_ctx.append(follow_parent)
    # run_app stops gracefully on SIGINT and SIGTERM; SIGHUP does the same here. Open requests get
    # 5 s (the live streams are ended at once on shutdown), inside the 10 s every process promises.
    signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    aioweb.run_app(app, host=host, port=port, print=None, reuse_port=reuse_port or None, shutdown_timeout=5)


@main.command("web")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="processes serving the same port (SO_REUSEPORT; the kernel spreads connections over them).",
)
@click.option(
    "--public-url",
    default=None,
    help="the site's address as people reach it, for the links in notifications "
    "(CAREWATCH_PUBLIC_URL; default http://127.0.0.1:8080). https: the session cookie is Secure",
)
@click.option(
    "--secure-cookies/--no-secure-cookies",
    default=None,
    help="session cookie only over HTTPS (CAREWATCH_SECURE_COOKIES; default: when the public URL is https)",
)
def web_cmd(workers: int, public_url: str | None, secure_cookies: bool | None) -> None:
    """The supervision web app and the HTTP API (CAREWATCH_HTTP, default 127.0.0.1:8080).

    Each worker is a whole app with its own database pool and its own LISTEN for the live stream;
    sessions are encrypted cookies and tokens live in the database, so any worker serves any user.
    """
    import multiprocessing
    import os

    from contract.config import check_public_url

    settings = _settings()
    host, port = settings.http_host_port()
    try:
        public_url = check_public_url(public_url or settings.public_url)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    if secure_cookies is None:
        secure_cookies = settings.secure_cookies
    try:
        ep = endpoints(settings, "web")
    except NotConfiguredError as err:
        raise click.ClickException(str(err)) from err
    key = _session_key(settings)
    from contract.rules import RulesConfigError, load_rules

    try:
        load_rules(settings.rules)  # the pages show the engine's thresholds: refuse a bad file up front
    except RulesConfigError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"CareWatch web on http://{host}:{port}/ ({workers} process{'es' if workers > 1 else ''})", err=True)
    spawn = multiprocessing.get_context("spawn")
    others = [
        spawn.Process(
            target=_serve_web,
            args=(
                ep.database_url,
                key,
                host,
                port,
                True,
                os.getpid(),
                settings.rules,
                public_url,
                secure_cookies,
                settings.trusted_proxies,
            ),
            name=f"carewatch-web-{i}",
        )
        for i in range(1, workers)
    ]
    for p in others:
        p.start()
    try:
        _serve_web(
            ep.database_url,
            key,
            host,
            port,
            workers > 1,
            None,
            settings.rules,
            public_url,
            secure_cookies,
            settings.trusted_proxies,
        )
    finally:
        for p in others:
            p.terminate()
        for p in others:
            p.join(10)


@main.group()
def users() -> None:
    """People who use the web and the API."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "inspector", "operator"]), required=True)
@click.option("--county", default=None, help="inspector scope: 6-digit county code")
@click.option("--township", default=None, help="inspector scope: 9-digit township code")
@click.option("--facility", default=None, help="operator scope: facility id")
@click.option("--password", default=None, help="for browser login (omit for an API-only user)")
@click.option("--update", is_flag=True, help="change an existing user (refused without it)")
@click.option("--token-days", default=365, show_default=True, type=click.IntRange(1, 3650), help="the token expires")
@click.option("--name", default=None, help="the person's name the pages show for the login, e.g. 张华")
@click.option(
    "--department",
    type=click.Choice(list(DEPARTMENTS)),
    default=None,
    help="an inspector's department (部门): "
    + ", ".join(f"{k} {v[0]}" for k, v in DEPARTMENTS.items())
    + "; health (卫健) for a new account, kept on --update",
)
def users_create(
    username: str,
    role: str,
    county: str | None,
    township: str | None,
    facility: str | None,
    password: str | None,
    update: bool,
    token_days: int,
    name: str | None,
    department: str | None,
) -> None:
    """Create a user (or --update one); prints a new API token (shown once)."""
    from storage.users import AuthError, create_user

    async def go() -> str:
        conn = await _connect(_settings())
        try:
            _uid, token = await create_user(
                conn,
                username,
                role,
                password,
                county=county,
                township=township,
                facility=facility,
                update=update,
                token_days=token_days,
                now=_clock_now(),
                display_name=name,
                department=department,
            )
            return token
        finally:
            await conn.close()

    try:
        click.echo(_run(go))
    except AuthError as err:
        raise click.ClickException(str(err)) from err


@users.command("list")
def users_list() -> None:
    """Every user: role, scope, whether disabled."""
    from storage.users import list_users

    async def go() -> list[Any]:
        conn = await _connect(_settings())
        try:
            return await list_users(conn)
        finally:
            await conn.close()

    for r in _run(go):
        scope = (
            r["scope_facility"]
            or r["scope_township"]
            or r["scope_county"]
            or ("all" if r["role"] == "admin" else "city")
        )
        department = f"{r['department']} {DEPARTMENTS[r['department']][0]}" if r["role"] == "inspector" else "-"
        state = "disabled" if r["disabled"] else "active"
        click.echo(f"{r['username']:<20} {r['role']:<10} {scope:<16} {department:<20} {state}")


def _set_disabled(username: str, disabled: bool) -> None:
    from storage.users import set_disabled

    async def go() -> bool:
        conn = await _connect(_settings())
        try:
            return await set_disabled(conn, username, disabled, "cli", _clock_now())
        finally:
            await conn.close()

    if not _run(go):
        raise click.ClickException(f"no user {username!r}")
    click.echo(f"{username}: {'disabled (its sessions and tokens stop working now)' if disabled else 'enabled'}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Lock a user out: sessions and tokens stop working at once."""
    _set_disabled(username, True)


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    _set_disabled(username, False)


@main.group()
def tokens() -> None:
    """API tokens (issued by `users create`)."""


@tokens.command("list")
@click.option("--user", "username", default=None)
def tokens_list(username: str | None) -> None:
    """Tokens with their user, last use, expiry and revocation (never the token itself)."""
    from storage.users import list_tokens

    async def go() -> list[Any]:
        conn = await _connect(_settings())
        try:
            return await list_tokens(conn, username)
        finally:
            await conn.close()

    for r in _run(go):
        state = "revoked" if r["revoked_at"] else "active"
        click.echo(
            f"{r['id']:>6} {r['username']:<20} {state:<8} used {r['last_used_at'] or 'never'}"
            f"  expires {r['expires_at'] or 'never'}"
        )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by its id (`tokens list`): it stops working at once."""
    from storage.users import revoke_token

    async def go() -> bool:
        conn = await _connect(_settings())
        try:
            return await revoke_token(conn, token_id, "cli", _clock_now())
        finally:
            await conn.close()

    if not _run(go):
        raise click.ClickException(f"no token {token_id}")
    click.echo(f"token {token_id} revoked")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where new secrets are written (mode 0600); default: <state dir>/credentials",
)
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the broker's passwd, acl and conf.d/auth.conf go; default: the local stack's",
)
@click.option("--rotate", multiple=True, help="make a new secret for this username (repeatable)")
@click.option("--revoke", multiple=True, help="revoke this username (repeatable)")
@click.option(
    "--ingest-workers",
    type=click.IntRange(1, 999),
    default=None,
    help="one broker user per ingest worker (carewatch-ingest, carewatch-ingest-2, …) [default: as provisioned]",
)
@click.option(
    "--alert-shards",
    type=click.IntRange(1, 999),
    default=None,
    help="one broker user per alert shard k/M (carewatch-alerts-k-of-M), each allowed its own facilities'"
    " topics and its own probes; 1: one unsharded carewatch-alerts [default: as provisioned]",
)
def provision(
    out: Path | None,
    broker_dir: Path | None,
    rotate: tuple[str, ...],
    revoke: tuple[str, ...],
    ingest_workers: int | None,
    alert_shards: int | None,
) -> None:
    """Device, facility and service credentials, and the broker's password and ACL files."""
    from carewatch.provision import provision as do_provision

    settings = _settings()
    stack = local_stack(settings)

    async def go() -> Any:
        conn = await _connect(settings)
        try:
            return await do_provision(
                conn,
                broker_dir or stack.mq_dir,
                out or stack.state_dir / "credentials",
                root=settings.topic_root,
                rotate=rotate,
                revoke=revoke,
                ingest_workers=ingest_workers,
                alert_shards=alert_shards,
            )
        finally:
            await conn.close()

    try:
        res = _run(go)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    if broker_dir is None:
        stack.apply_auth()
    click.echo(
        f"credentials: {len(res.created)} created, {len(res.rotated)} rotated, {len(res.revoked)} revoked,"
        f" {res.active} active"
    )
    for p in res.secrets_files:
        click.echo(f"new secrets in {p} (shown nowhere else)")


@main.group("gateway", invoke_without_command=True)
@click.option("--facility", help="this facility's id (required to run the agent)")
@click.option("--gateway-id", default="gw-1", show_default=True)
@click.option(
    "--local",
    "local_url",
    default="mqtt://127.0.0.1:1883",
    show_default=True,
    help="the facility's own broker (Zigbee2MQTT, Tasmota, native devices)",
)
@click.option(
    "--spool",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gateway-spool.sqlite3"),
    show_default=True,
    help="on-disk store-and-forward queue",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the facility's mapping file (YAML; docs/installers.md; check it with `gateway check`)",
)
@click.option("--z2m-base-topic", default=None, help="Zigbee2MQTT's base topic (overrides the mapping file)")
@click.option("--tasmota-full-topic", default=None, help="Tasmota's FullTopic (overrides the mapping file)")
@click.option("--heartbeat", "heartbeat_s", default=30, show_default=True, help="seconds between its own status")
@click.option("--max-queued", default=100_000, show_default=True, help="spool bound (rows)")
@click.option("--metrics", "metrics_port", default=9103, show_default=True, help="/metrics port on 127.0.0.1 (0: off)")
@click.pass_context
def gateway_cmd(
    ctx: click.Context,
    facility: str | None,
    gateway_id: str,
    local_url: str,
    spool: Path,
    mapping: Path | None,
    z2m_base_topic: str | None,
    tasmota_full_topic: str | None,
    heartbeat_s: int,
    max_queued: int,
    metrics_port: int,
) -> None:
    """The facility edge agent: local devices → on-disk spool → upstream batches (CAREWATCH_MQTT_URL)."""
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from gateway.agent import AgentConfig, GatewayAgent
    from gateway.mapping import MappingError, load_mapping

    if not facility:
        raise click.UsageError("--facility is required to run the gateway")
    try:
        m = load_mapping(mapping)
        if z2m_base_topic:
            m = m.model_validate(
                {**m.model_dump(), "zigbee2mqtt": {**m.zigbee2mqtt.model_dump(), "base_topic": z2m_base_topic}}
            )
        if tasmota_full_topic:
            m = m.model_validate(
                {**m.model_dump(), "tasmota": {**m.tasmota.model_dump(), "full_topic": tasmota_full_topic}}
            )
    except (MappingError, ValidationError) as err:
        raise click.ClickException(str(err)) from err
    settings = _settings()
    upstream = settings.mqtt_url or endpoints(settings).mqtt_url
    try:
        agent = GatewayAgent(
            AgentConfig(
                facility_id=facility,
                gateway_id=gateway_id,
                upstream_url=upstream,
                local_url=local_url,
                root=settings.topic_root,
                spool_path=spool,
                spool_max_rows=max_queued,
                mapping=m,
                heartbeat_s=heartbeat_s,
            )
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1", registry=agent.registry)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: agent.stop())
    agent.run()


@gateway_cmd.command("check")
@click.argument("mapping_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--local", "local_url", default=None, help="also list devices on this local broker the file does not map")
@click.option("--listen", "listen_s", default=3.0, show_default=True, help="seconds to collect retained records")
def gateway_check(mapping_file: Path, local_url: str | None, listen_s: float) -> None:
    """Validate a mapping file (errors name their line); with --local, list unmapped local devices."""
    from gateway.mapping import MappingError, load_mapping, unmapped_devices

    try:
        m = load_mapping(mapping_file)
    except MappingError as err:
        for line in err.errors:
            click.echo(line)
        sys.exit(1)
    n_z, n_t = len(m.zigbee2mqtt.devices), len(m.tasmota.devices)
    click.echo(f"{mapping_file}: ok, {n_z} zigbee2mqtt and {n_t} tasmota devices")
    if local_url:
        missing = unmapped_devices(m, local_url, listen_s)
        for source, names in missing.items():
            for name in names:
                click.echo(f"not mapped: {source} {name}")
        if not any(missing.values()):
            click.echo("every device seen on the local broker is mapped")


@main.command()
@click.option(
    "--alarm-after",
    type=click.IntRange(0, 3600),
    default=45,
    show_default=True,
    help="seconds after the start until the first injected alarm (a smoke alarm; two more follow)",
)
@click.option(
    "--speed",
    type=click.FloatRange(1.0, 3600.0),
    default=1.0,
    show_default=True,
    help="play the facilities' day this many times as fast (60: an hour a minute)",
)
@click.option(
    "--from",
    "start_from",
    default=None,
    metavar="HH:MM",
    help="start the demo's clock at the next HH:MM of the facilities' day (Asia/Shanghai), e.g. 07:00;"
    " or at a whole local date and time, 'YYYY-MM-DD HH:MM'",
)
def demo(alarm_after: int, speed: float, start_from: str | None) -> None:
    """Everything, with 60 simulated facilities; prints the URL and the demo logins."""
    import datetime as dt

    from carewatch.demo import DemoStartError, run_demo

    start: dt.time | dt.datetime | None = None
    if start_from is not None:
        try:
            start = dt.time.fromisoformat(start_from) if len(start_from) <= 5 else dt.datetime.fromisoformat(start_from)
        except ValueError:
            raise click.BadParameter(
                f"{start_from!r}: use HH:MM (07:00) or 'YYYY-MM-DD HH:MM'", param_hint="--from"
            ) from None
    settings = _settings()
    try:
        sys.exit(run_demo(local_stack(settings), settings.http, alarm_after, speed, start))
    except DemoStartError as err:
        raise click.ClickException(str(err)) from err
    except StackError as err:
        raise click.ClickException(str(err)) from err


# -- contract --------------------------------------------------------------------------------------
@main.group()
def schema() -> None:
    """JSON Schema of the MQTT payloads and the registry."""


@schema.command("export")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/schemas"), show_default=True
)
def schema_export(out: Path) -> None:
    """Write one JSON Schema file per channel (for device vendors)."""
    from contract.schema_export import write_schemas

    for p in write_schemas(out):
        click.echo(str(p))


def _attach_benchmarks() -> None:
    """`carewatch bench …` where the checkout's bench/ package is there (it is not a service)."""
    try:
        from bench.cli import bench
    except ImportError:  # an install without the benchmarks
        return
    main.add_command(bench)


main.add_command(backup)
main.add_command(restore)
main.add_command(standby)
main.add_command(screenshots)
_attach_benchmarks()


if __name__ == "__main__":  # after every command is attached
    sys.exit(main())
