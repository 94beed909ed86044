-- Time series (CONTRACT §2) as TimescaleDB hypertables.
-- Chunk intervals: size a chunk so that the recent chunks and their indexes fit in memory.
--   readings: one row per metric value, the largest stream (a 60-facility city at one sample a
--             minute is ~10M rows a day): 1-day chunks.
--   device_status: heartbeats of every device, ~3.5M rows a day for that city: 1-day chunks.
--   events, access_events: sparse (alarms, badge scans): 7-day chunks.
-- Retention (applied by policy where the server has it, else by ingest's maintenance job):
--   readings 180 days, events and access 400 days (>= 1 year), device status 120 days
--   (camera status history >= 90 days, per 托育机构管理规范 video retention), dead letters 90 days.

CREATE TABLE readings (
    time        timestamptz NOT NULL,
    facility_id text NOT NULL,
    device_id   text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    msg_id      text NOT NULL
);
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));
CREATE INDEX readings_device_metric_time ON readings (facility_id, device_id, metric, time DESC);

CREATE TABLE events (
    time        timestamptz NOT NULL,
    facility_id text NOT NULL,
    device_id   text NOT NULL,
    msg_id      text NOT NULL,
    type        text NOT NULL,
    state       text,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('events', by_range('time', INTERVAL '7 days'));
CREATE INDEX events_facility_time ON events (facility_id, time DESC);

CREATE TABLE access_events (
    time        timestamptz NOT NULL,
    facility_id text NOT NULL,
    device_id   text NOT NULL,
    msg_id      text NOT NULL,
    type        text NOT NULL,
    person_id   text,
    guardian_id text,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('access_events', by_range('time', INTERVAL '7 days'));
CREATE INDEX access_facility_time ON access_events (facility_id, time DESC);

CREATE TABLE device_status (
    time        timestamptz NOT NULL,
    facility_id text NOT NULL,
    device_id   text NOT NULL,
    online      boolean NOT NULL,
    battery_pct double precision,
    heartbeat_s int,
    firmware    text,
    payload     jsonb NOT NULL
);
SELECT create_hypertable('device_status', by_range('time', INTERVAL '1 day'));
CREATE INDEX device_status_device_time ON device_status (facility_id, device_id, time DESC);

-- Idempotency: (facility_id, device_id, msg_id) is stored once. A unique index on a hypertable
-- must include its time column, which a redelivered message may not repeat exactly, so the
-- keys live in a plain table, pruned after the dedup window (14 days). The key is a 128-bit
-- BLAKE2b digest of the triple (ingest/writer.py): a fixed 16-byte btree key is several times
-- cheaper to claim than three text columns, and a collision is as likely as a UUID clash.
CREATE TABLE msg_seen (
    key         bytea PRIMARY KEY CHECK (length(key) = 16),
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX msg_seen_received ON msg_seen (received_at);

-- Current state of each device, for the alert engine and the web (one row per device).
CREATE TABLE device_state (
    facility_id   text NOT NULL,
    device_id     text NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    online        boolean NOT NULL DEFAULT true,
    status_at     timestamptz,
    battery_pct   double precision,
    heartbeat_s   int,
    firmware      text,
    PRIMARY KEY (facility_id, device_id)
);

-- Bad input is never dropped (CONTRACT §2 "Bad input").
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    facility_id text
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_facility ON dead_letters (facility_id, received_at DESC);

-- Watermarks of incremental jobs (hourly rollup where continuous aggregates are missing).
CREATE TABLE job_state (
    name       text PRIMARY KEY,
    watermark  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
