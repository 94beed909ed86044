"""Least privilege in PostgreSQL: one role per service, with only the grants that service needs.

The schema belongs to the role that runs `carewatch migrate` (the owner: also registry loads,
`users`, `tokens` and `provision`, which are administrators' commands). The three services connect
as their own roles and can do only this:

- `carewatch_ingest` appends what devices send (readings, events, access, status, device state,
  dead letters, dedup keys), keeps the hourly rollup, and prunes by age through
  `carewatch_drop_chunks`, which refuses to drop anything younger than the retention below, and
  deletes the notification delivery log past its retention (seeing only its rows' age and status). It
  reads the device registry and nothing of people: no users, tokens, credentials, children.
- `carewatch_alerts` reads the registry and the time series and writes alerts, their history, rule
  timers and the device clocks it has learnt; it reads users' notification subscriptions (of `users`
  only the scope columns) and sends from the notification outbox; for 督办 it reads which complaints and
  filings are late (their deadlines and status, nothing they say) and records the deadlines it told.
- `carewatch_web` reads what the pages show and writes only what the pages do, column by column:
  acknowledgements, maintenance windows and closures, registry uploads (a facility upserted, never deleted), orders'
  status and a return's due date, inspections' records, pick-up delegates and their revocation, credit
  appeals and their decisions (never a record's score: migration 024's trigger applies an accepted
  appeal), the audit log, a user's session cut-off and a token's last use (it cannot change anyone's
  role, scope or password). It cannot read the broker's credential hashes or write the time series.
  `tests/test_attacks.py` compares every role's privileges with an explicit table.

None is a superuser, none owns a table, none can create or drop one. Roles belong to the cluster,
grants to each database: `grant_service_roles` runs at the end of every migration, so a new table
never goes unguarded and a database copied from a template carries its grants.
"""

from __future__ import annotations

import asyncpg

from contract.retention import RETENTION, kept

SERVICES = ("ingest", "alerts", "web", "broker")  # broker: a broker reading credentials from here

_REGISTRY = ("facilities", "classes", "staff", "children", "guardians", "devices")
_SERIES = ("readings", "events", "access_events", "device_status", "device_state", "device_activity")

GRANTS: dict[str, list[str]] = {
    "broker": ["GRANT SELECT ON broker_users, broker_acl TO {role}"],  # migration 014; nothing else
    "ingest": [
        "GRANT SELECT ON facilities, devices, job_state, readings TO {role}",
        "GRANT SELECT, INSERT ON readings, events, access_events, device_status, device_state, device_activity,"
        " dead_letters, readings_hourly, job_state TO {role}",
        "GRANT UPDATE ON device_state, device_activity, readings_hourly, job_state TO {role}",
        "GRANT DELETE ON device_activity, dead_letters TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON intake_clock, intake_hours TO {role}",  # its own clock (migration 019)
        "GRANT DELETE ON intake_hours TO {role}",  # retention
        "GRANT SELECT, INSERT, UPDATE, DELETE ON counted_slots TO {role}",  # counting cameras' slots (migration 042)
        # retention of the delivery log (contract.retention): its age and status, never who or what was sent
        "GRANT SELECT (created_at, status), DELETE ON notification_deliveries TO {role}",
    ],
    "alerts": [
        # pick-up delegates (migration 027): who may collect a child, read like the registry
        f"GRANT SELECT ON {', '.join(_REGISTRY + _SERIES)}, maintenance_windows, pickup_delegates TO {{role}}",
        "GRANT SELECT ON closures TO {role}",  # approved closures close days (migration 032)
        "GRANT SELECT ON facility_suspensions TO {role}",  # children_during_suspension (migration 038)
        "GRANT SELECT ON people TO {role}",  # the register of people: bans and qualifications everywhere
        "GRANT SELECT, INSERT, UPDATE ON alerts, alert_history TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON rule_timers, device_clocks TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON rule_memory TO {role}",  # what the rules remember (migration 030)
        "GRANT SELECT ON child_whereabouts TO {role}",  # where a child left on site is (migration 030)
        "GRANT SELECT, INSERT, UPDATE ON lapse_intervals TO {role}",  # the credit evaluation's lapse spans
        # notifications: who subscribed (scope only, never a password hash), and the outbox it sends from
        "GRANT SELECT (id, role, scope_county, scope_township, scope_facility, disabled) ON users TO {role}",
        "GRANT SELECT ON notification_subscriptions TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON notification_deliveries TO {role}",
        "GRANT SELECT, INSERT, DELETE ON notification_sends TO {role}",  # the robots' rate limits (migration 022)
        # 督办: overdue rectification orders go up a level, with a history row
        "GRANT SELECT, UPDATE (supervision_level, escalated_at) ON rectification_orders TO {role}",
        "GRANT SELECT, INSERT ON rectification_history TO {role}",
        # 督办 of a complaint's answer or a filing's review past its deadline (migration 046): which are late,
        # nothing of what was complained of or filed; the deadlines told, added once
        "GRANT SELECT (id, facility_id, status, due_at) ON complaints, filings TO {role}",
        "GRANT SELECT, INSERT ON overdue_notices TO {role}",
    ],
    # What the web's statements do, column by column (issue #38 K: it could DELETE a facility, cascading into
    # its orders, evidence and history, and set any order's status or any alert's fields).
    "web": [
        f"GRANT SELECT ON {', '.join(_SERIES)}, readings_hourly, counted_slots, dead_letters, rule_timers,"
        " device_clocks, job_state TO {role}",
        # a registry upload: a facility is upserted, never deleted; its members are replaced (delete, insert)
        "GRANT SELECT, INSERT, UPDATE ON facilities TO {role}",
        f"GRANT SELECT, INSERT, DELETE ON {', '.join(t for t in _REGISTRY if t != 'facilities')} TO {{role}}",
        # the register of people: people added and their details replaced, never deleted (a recorded ban
        # stays: migration 026's trigger); roles opened and closed, never rewritten
        "GRANT SELECT, INSERT, UPDATE (name, id_masked, qualifications, health_cert_expires, health_check_on,"
        " training_on, ban_source, banned_on, updated_at) ON people TO {role}",
        "GRANT SELECT, INSERT, UPDATE (until) ON person_roles TO {role}",
        # requested or set; a pending request is decided (approved, rejected, withdrawn) once: its times,
        # facility and author never change (migration 023's trigger refuses a second decision)
        "GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at, decision_reason) ON maintenance_windows"
        " TO {role}",
        # closures (migration 032): declared, or requested and decided once (its trigger), never rewritten
        "GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at, decision_reason) ON closures TO {role}",
        "GRANT SELECT, UPDATE (acknowledged, acknowledged_at, acknowledged_by, note) ON alerts TO {role}",
        "GRANT SELECT, INSERT ON alert_history, audit_log TO {role}",
        "GRANT SELECT ON users, api_tokens TO {role}",
        "GRANT UPDATE (sessions_valid_after) ON users TO {role}",
        "GRANT UPDATE (last_used_at) ON api_tokens TO {role}",
        "GRANT SELECT, INSERT, DELETE ON notification_subscriptions TO {role}",  # a user's own (web checks)
        "GRANT SELECT, INSERT ON notification_deliveries TO {role}",  # the history; a test message
        # issue; answer and review move the status, a return the due date in force (never the facility, the
        # original due date, the 督办 level)
        "GRANT SELECT, INSERT, UPDATE (status, closed_at, closed_by, due_at) ON rectification_orders TO {role}",
        "GRANT SELECT, INSERT ON rectification_history, evidence_files TO {role}",
        # plan; record and sign naming the second officer, who confirms it (migration 037)
        "GRANT SELECT, INSERT, UPDATE (findings, notes, inspected_at, status, signed_by, second_inspector,"
        " countersigned_by, countersigned_at) ON inspections TO {role}",
        # an order's receipt (签收, migration 037): recorded once, never changed
        "GRANT SELECT, INSERT ON order_receipts TO {role}",
        "GRANT SELECT ON lapse_intervals TO {role}",
        # pick-up delegates (migration 027): recorded, and revoked once (its trigger refuses anything else)
        "GRANT SELECT, INSERT, UPDATE (revoked_by, revoked_at, revoke_reason) ON pickup_delegates TO {role}",
        # document numbers (migration 028): a department's sequence only counts up; a number, once given, stays
        "GRANT SELECT, INSERT, UPDATE (last_no) ON document_sequences TO {role}",
        "GRANT SELECT, INSERT ON document_numbers TO {role}",
        # where a child left on site is, recorded with a note (migration 030): only ever added
        "GRANT SELECT, INSERT ON child_whereabouts TO {role}",
        # a closed month's record is stored once and never written by the web: an accepted appeal corrects
        # its score through migration 024's trigger, which keeps the figures before it in the appeal
        "GRANT SELECT, INSERT ON credit_records TO {role}",
        "GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at, reason, corrected_score, corrected_grade)"
        " ON credit_appeals TO {role}",
        "GRANT SELECT ON intake_clock, intake_hours TO {role}",  # silence judged as of the intake's clock
        # the login throttle's counts (storage.logins): reserved, finished, pruned
        "GRANT SELECT, INSERT, UPDATE (outcome), DELETE ON login_attempts TO {role}",
        # 双随机一公开 (migration 035): a draw and its picks are only ever added, never changed or deleted; an
        # inspector's availability is set (never by themselves: the table's check)
        "GRANT SELECT, INSERT ON random_draws, random_draw_picks TO {role}",
        "GRANT SELECT, INSERT, UPDATE (available, reason, changed_by, changed_at) ON draw_availability TO {role}",
        # 复查 and extensions (migration 035): a re-inspection linked once; an extension requested, decided once
        "GRANT SELECT, INSERT ON order_rechecks TO {role}",
        "GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at, decision_reason) ON order_extensions TO {role}",
        # parents' complaints (migration 034): filed from the public page, then handled, answered and closed by
        # the inspectors; never deleted, and its trigger keeps what was filed and every step taken as it is
        "GRANT SELECT, INSERT, UPDATE (status, handled_by, handled_at, answer, answered_by, answered_at, closed_by,"
        " closed_at) ON complaints TO {role}",
        "GRANT SELECT, INSERT ON complaint_history TO {role}",
        # 登记备案 (migration 036): filed, resubmitted and reviewed once (its trigger: the reviewer an inspector
        # other than the submitter, a decision final); the history only added to; numbers only count up
        "GRANT SELECT, INSERT, UPDATE (status, particulars, declared, submitted_by, submitted_at, due_at, reviewed_by,"
        " reviewed_at, reasons, filing_no) ON filings TO {role}",
        "GRANT SELECT, INSERT ON filing_history TO {role}",
        "GRANT SELECT, INSERT, UPDATE (last_no) ON filing_sequences TO {role}",
        # 督导评估's 约谈 of an area (migration 041): recorded once, never changed or deleted (its trigger checks
        # the recorder's level)
        "GRANT SELECT, INSERT ON area_summons TO {role}",
        # 通报 (migration 039): drafted and edited by the department's writers, issued once, then never changed
        # (its triggers: who writes, and nothing after the issue); a draft's subjects replaced
        "GRANT SELECT, INSERT, UPDATE (kind, title, body, public, status, updated_by, updated_at, issued_by,"
        " issued_at) ON circulars TO {role}",
        "GRANT SELECT, INSERT, DELETE ON circular_subjects TO {role}",
        # 责令停业整改 (migration 038): ordered, and lifted once on a clean 复查 (its trigger checks who and on
        # what); never changed otherwise, never deleted
        "GRANT SELECT, INSERT, UPDATE (lifted_by, lifted_at, lift_reason, recheck_inspection_id)"
        " ON facility_suspensions TO {role}",
    ],
}

# The oldest data ingest may drop, per table: the retention of storage.migrate, never less.
_DROP_CHUNKS = """
CREATE OR REPLACE FUNCTION carewatch_drop_chunks(tbl text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    keep interval := CASE tbl {cases} END;
    n integer;
BEGIN
    IF keep IS NULL THEN
        RAISE EXCEPTION 'carewatch_drop_chunks: % is not a table with a retention', tbl;
    END IF;
    SELECT count(*) INTO n FROM drop_chunks(tbl::regclass, older_than => now() - keep);
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION carewatch_drop_chunks(text) FROM PUBLIC;
"""


def role_name(service: str) -> str:
    return f"carewatch_{service}"


def retention_of(table: str) -> str | None:
    return kept(table)


async def ensure_roles(conn: asyncpg.Connection, passwords: dict[str, str] | None = None) -> None:
    """Create the service roles where missing (this needs CREATEROLE); with passwords, let those
    services log in with them. Never a superuser, never able to create roles or databases."""
    for service in SERVICES:
        role = role_name(service)
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            await conn.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
        password = (passwords or {}).get(service)
        if password is not None:
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"ALTER ROLE {role} LOGIN PASSWORD {literal}")


async def grant_service_roles(conn: asyncpg.Connection) -> None:
    """Each service role's grants in this database, exactly (what it held before is revoked first)."""
    await ensure_roles(conn)
    cases = " ".join(
        f"WHEN '{t}' THEN INTERVAL '{keep}'" for t in (*RETENTION, "readings_hourly") if (keep := retention_of(t))
    )
    async with conn.transaction():
        await conn.execute(_DROP_CHUNKS.format(cases=cases))
        for service in SERVICES:
            role = role_name(service)
            await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            await conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
            await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            for sql in GRANTS[service]:
                await conn.execute(sql.format(role=role))
            await conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        await conn.execute(f"GRANT EXECUTE ON FUNCTION carewatch_drop_chunks(text) TO {role_name('ingest')}")
