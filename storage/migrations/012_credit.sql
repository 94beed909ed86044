-- The credit evaluation (诚信评价), issue #16: lapse intervals measured by duration (contract/credit.py)
-- and the stored monthly record per facility, with the figures behind its grade and an appeal.
--
-- lapse_intervals: every span during which a lapse condition held (minutes without a guard, below
-- ratio, exits obstructed, ...), from the moment it began, including spans too short to open an alert:
-- splitting a lapse into short pieces leaves its minutes the same. Written by the alert service.
CREATE TABLE lapse_intervals (
    id          bigserial PRIMARY KEY,
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    rule        text NOT NULL,
    alert_key   text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX lapse_open_once ON lapse_intervals (facility_id, rule, alert_key) WHERE ended_at IS NULL;
CREATE INDEX ON lapse_intervals (facility_id, started_at);

CREATE TABLE credit_records (
    facility_id  text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    score        numeric(5, 1) NOT NULL,
    grade        text NOT NULL,
    figures      jsonb NOT NULL,
    method       text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    appeal_note  text CHECK (appeal_note IS NULL OR length(appeal_note) <= 4000),
    appeal_by    text,
    appeal_at    timestamptz,
    PRIMARY KEY (facility_id, month)
);

-- When a facility entered the registry: its first month is evaluated from then, not from the 1st
-- (a reload of the registry keeps it: facilities are upserted).
ALTER TABLE facilities ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
-- facilities registered before this migration: since their first data, else their last registry load
UPDATE facilities f SET registered_at = least(
    f.updated_at, coalesce((SELECT min(d.time) FROM device_status d WHERE d.facility_id = f.id), f.updated_at));
