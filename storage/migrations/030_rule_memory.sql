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
