-- Device clocks the alert engine has learnt to be wrong (CONTRACT §4: messages late by the same
-- amount, message after message, are the device's clock, not late data): how far behind the clock is
-- and since when. A restarted alert worker starts from them, so the backlog it reads after the restart
-- and the first minutes after it do not take a slow clock's messages for late ones (its device would
-- look silent until the engine had heard it live twice). Written by the alerts service when it
-- learns or forgets a clock. Keyed to the facility only, as rule_timers is: a registry load replaces a
-- facility's devices (storage/registry.py), and what the engine learnt of them must survive it; a row of
-- a device no longer registered is ignored on loading.
CREATE TABLE device_clocks (
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    device_id   text NOT NULL,
    skew_s      double precision NOT NULL CHECK (skew_s > 0),
    since       timestamptz NOT NULL,  -- the first of the late messages that showed it
    PRIMARY KEY (facility_id, device_id)
);
