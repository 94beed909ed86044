-- What a facility's rules remember that no stored message gives back (issue #42 item 1, alerts/memory.py):
-- one-off alerts inside their hold (a panic, a forced door, an after-hours entry, ...) with their clear
-- times, reading conditions latched by their hysteresis and the readings behind them, the refusals
-- counted towards repeated_access_denied, and since when the facility has been watched. Written by the
-- alerts service when it changes (and at a stop), read at its start after the day's replay: a restart
-- changes no alert. Keyed to the facility only, as rule_timers is (a registry load replaces devices).
CREATE TABLE rule_memory (
    facility_id text PRIMARY KEY REFERENCES facilities(id) ON DELETE CASCADE,
    memory      jsonb NOT NULL,
    saved_at    timestamptz NOT NULL
);

-- Where a child left on site after closing is, recorded by a person with a note (issue #42 item 3): the
-- child's `child_not_collected` alert (open, critical after midnight) clears as a badge-out would clear
-- it, and stays on the record as resolved by this note. Only ever added: a record is evidence.
CREATE TABLE child_whereabouts (
    id          bigserial PRIMARY KEY,
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    child_id    text NOT NULL,
    alert_id    bigint NOT NULL REFERENCES alerts(id),
    note        text NOT NULL CHECK (btrim(note) <> '' AND length(note) <= 2000),
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX child_whereabouts_recent ON child_whereabouts (recorded_at);
-- the alert engine hears of a record as of a registry change (storage.listen.RegistryWatch)
CREATE TRIGGER child_whereabouts_recorded AFTER INSERT ON child_whereabouts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_registry_changed();

-- An alert whose condition became more severe while active (a child left on site overnight is raised to
-- critical at midnight: storage.alerts.raise_severity) keeps the severity it opened with: the credit's
-- response part judges the acknowledgement by the delay that applied when it was due, not afterwards.
ALTER TABLE alerts ADD COLUMN opened_severity text;
