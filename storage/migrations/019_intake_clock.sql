-- The platform's own intake: how far each ingest worker has stored what the broker had for it
-- (CONTRACT §4 "The intake's clock"). A facility is only as silent as the platform was listening:
-- the web judges a gateway's or a device's silence as of the newest `caught_up_at`, not the wall
-- clock, so an ingest outage shows as one banner ("data intake stopped at …") instead of every
-- facility turning grey; and the credit evaluation does not charge a facility with darkness for
-- the part of an hour in which no ingest worker was listening.
CREATE TABLE intake_clock (
    worker       text PRIMARY KEY,       -- the ingest worker's MQTT client id
    caught_up_at timestamptz,            -- everything the broker had for it by then is stored
    beat_at      timestamptz NOT NULL    -- its last report: the worker is alive (maybe reading a backlog)
);

-- Seconds of each UTC hour in which an ingest worker was connected and caught up (the greatest over
-- the workers is the platform's). Kept as long as device_activity, which it qualifies.
CREATE TABLE intake_hours (
    hour   timestamptz NOT NULL,
    worker text NOT NULL,
    up_s   real NOT NULL CHECK (up_s >= 0 AND up_s <= 3600),
    PRIMARY KEY (hour, worker)
);
