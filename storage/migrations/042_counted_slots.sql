-- How many of each hour's one-minute slots a counting camera sent its adult count in (issue #37: the
-- burst gap). The credit method charges an hour in which a counting camera counted less than
-- contract.credit_facts.COUNTED_SHARE of the time it was expected to (one count every COUNT_EVERY_S).
-- Judged by the number of samples (readings_hourly.n), a camera switched on for five minutes an hour and
-- sending a count every second filled its hour; judged by the slots it covered, it covered five of 60.
-- (A slot is two of the contract's 30-s periods, so that counts on time with some jitter cover every one.)
-- Kept by ingest's maintenance (storage.retention.refresh_slots) on every TimescaleDB edition, for the
-- hours after the full-rate readings are gone; as long as the rollup (contract.retention).
CREATE TABLE counted_slots (
    facility_id text NOT NULL,
    device_id   text NOT NULL,
    hour        timestamptz NOT NULL,
    slots       integer NOT NULL CHECK (slots > 0),
    PRIMARY KEY (facility_id, device_id, hour)
);
CREATE INDEX counted_slots_hour ON counted_slots (hour);
-- The hours before the first one whose readings still exist at this upgrade have no slots and never will
-- (their readings are gone): for them the credit reads the rollup's number of samples, as before; a
-- facility cannot change those hours now. From this hour on, slots only.
INSERT INTO job_state (name, watermark)
SELECT 'counted_slots_from', coalesce(time_bucket(INTERVAL '1 hour', min(time)), now()) FROM readings
ON CONFLICT (name) DO NOTHING;
