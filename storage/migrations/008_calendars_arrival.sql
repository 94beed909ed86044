-- Calendars and field truth (issue #13).
-- The whole opening-hours object of the contract (per-weekday hours, dated exceptions, public
-- holidays) as JSON; open_days/open_time/close_time keep the usual week for the pages' queries.
ALTER TABLE facilities ADD COLUMN calendar jsonb;
ALTER TABLE facilities ADD COLUMN night_watch boolean NOT NULL DEFAULT false;
ALTER TABLE staff ADD COLUMN cares_for_children boolean;
ALTER TABLE devices ADD COLUMN room text;
-- Two scans with the same timestamp follow the order they arrived in (a device's own order: MQTT
-- keeps it per connection, a batch per item, and ingest copies rows in that order). Rows stored
-- before this migration have none and sort first.
CREATE SEQUENCE access_arrival;
ALTER TABLE access_events ADD COLUMN arrival bigint;
ALTER TABLE access_events ALTER COLUMN arrival SET DEFAULT nextval('access_arrival');
