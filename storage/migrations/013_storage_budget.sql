-- A province's 90 days in 500 GB (issue #18, docs/storage.md). Measured before this migration with
-- `carewatch bench province`: 24.7 MB per facility-day, of which heartbeats stored as device_status
-- rows 48 %, readings 27 %, dedup keys 23 % — 8.9 TB for a province's 90 days. Three changes:
--
-- 1. Dedup without a key table. A message is still stored once per (facility, device, msg_id)
--    (CONTRACT §2), but the index says so: the one every chart query already used gains msg_id and
--    becomes unique, so a copy of a message (the same msg_id and ts) finds its rows there. Events and
--    access events get a unique index of their own (a few rows a facility-day). msg_seen, a 16-byte
--    key, a tuple header and an index entry per message, is dropped.
-- 2. Heartbeats are not rows. device_state keeps each device's last-seen time as before, and
--    device_status becomes a log of what a device reports of itself when it changes (online flag,
--    battery when it moved 5 points, heartbeat interval, firmware): the first status of a device, then
--    only changes (ingest compares against the last logged values, kept in device_state). Whether a
--    device was heard from in an hour — the credit evaluation's device-hours — is one bit of
--    device_activity, one row a device-day.
-- 3. Readings at full rate for 7 days, then the hourly rollup (n, sum, min, max: a spike stays
--    visible as its hour's max) for 800 days. Retention in storage/migrate.py (RETENTION).

-- 1. readings: the chart index, with msg_id, unique (a copy stored twice keeps its oldest row)
DELETE FROM readings a USING readings b
WHERE a.facility_id = b.facility_id AND a.device_id = b.device_id AND a.metric = b.metric AND a.time = b.time
  AND a.msg_id = b.msg_id AND a.ctid > b.ctid AND a.tableoid = b.tableoid;
DROP INDEX readings_device_metric_time;
CREATE UNIQUE INDEX readings_once ON readings (facility_id, device_id, metric, time DESC, msg_id);

DELETE FROM events a USING events b
WHERE a.facility_id = b.facility_id AND a.device_id = b.device_id AND a.msg_id = b.msg_id AND a.time = b.time
  AND a.ctid > b.ctid AND a.tableoid = b.tableoid;
CREATE UNIQUE INDEX events_once ON events (facility_id, device_id, msg_id, time);

DELETE FROM access_events a USING access_events b
WHERE a.facility_id = b.facility_id AND a.device_id = b.device_id AND a.msg_id = b.msg_id AND a.time = b.time
  AND a.ctid > b.ctid AND a.tableoid = b.tableoid;
CREATE UNIQUE INDEX access_once ON access_events (facility_id, device_id, msg_id, time);

DROP TABLE msg_seen;

-- 2. the status log's last logged values, and the device-hours
ALTER TABLE device_state
    ADD COLUMN logged_online boolean,
    ADD COLUMN logged_battery double precision,
    ADD COLUMN logged_heartbeat_s int,
    ADD COLUMN logged_firmware text;
UPDATE device_state SET logged_online = online, logged_battery = battery_pct,
    logged_heartbeat_s = heartbeat_s, logged_firmware = firmware;

CREATE TABLE device_activity (
    facility_id text NOT NULL,
    day         date NOT NULL,      -- UTC
    device_id   text NOT NULL,
    hours       int NOT NULL,       -- bit h set: heard from in hour h (UTC) of the day
    PRIMARY KEY (facility_id, day, device_id)
);
INSERT INTO device_activity (facility_id, day, device_id, hours)
SELECT facility_id, day, device_id, bit_or(1 << hour)
FROM (
    SELECT facility_id, device_id, (time AT TIME ZONE 'UTC')::date AS day,
           extract(hour FROM time AT TIME ZONE 'UTC')::int AS hour
    FROM (SELECT facility_id, device_id, time FROM device_status
          UNION ALL SELECT facility_id, device_id, time FROM readings
          UNION ALL SELECT facility_id, device_id, time FROM events
          UNION ALL SELECT facility_id, device_id, time FROM access_events) m
    GROUP BY 1, 2, 3, 4
) h
GROUP BY 1, 2, 3;
