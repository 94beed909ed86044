-- Alerts (CONTRACT §5). "One active alert per (rule, facility_id, device_id or subject)" is
-- enforced here by a partial unique index, not only by code.
CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    rule            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    facility_id     text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    device_id       text,
    subject         text,
    alert_key       text GENERATED ALWAYS AS (coalesce(device_id, '') || '|' || coalesce(subject, '')) STORED,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cleared')),
    acknowledged    boolean NOT NULL DEFAULT false,
    opened_at       timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    cleared_at      timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    note            text,
    escalation      text NOT NULL DEFAULT 'facility'
                    CHECK (escalation IN ('facility', 'township', 'county', 'city')),
    escalated_at    timestamptz,
    count           int NOT NULL DEFAULT 1,
    muted           boolean NOT NULL DEFAULT false,
    summary         text NOT NULL DEFAULT '',
    summary_en      text NOT NULL DEFAULT '',
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (rule, facility_id, alert_key) WHERE status = 'active';
CREATE INDEX alerts_facility_opened ON alerts (facility_id, opened_at DESC);
CREATE INDEX alerts_open ON alerts (facility_id) WHERE NOT (status = 'cleared' AND acknowledged);

CREATE TABLE alert_history (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT now(),
    action   text NOT NULL,
    actor    text,
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, at);

CREATE TABLE maintenance_windows (
    id          bigserial PRIMARY KEY,
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    device_id   text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason      text NOT NULL CHECK (length(reason) > 0),
    author      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_facility ON maintenance_windows (facility_id, ends_at);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    display_name   text NOT NULL DEFAULT '',
    password_hash  text,
    role           text NOT NULL CHECK (role IN ('admin', 'inspector', 'operator')),
    scope_county   text,
    scope_township text,
    scope_facility text,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'operator' OR scope_facility IS NOT NULL)
);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL DEFAULT '',
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
