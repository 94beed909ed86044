-- Rule timers (CONTRACT §5 "Rule timers survive a restart of the alert service"): a condition that
-- holds but whose `for` window has not yet elapsed, and since when it has held.
CREATE TABLE rule_timers (
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    rule        text NOT NULL,
    device_id   text,
    subject     text,
    alert_key   text GENERATED ALWAYS AS (coalesce(device_id, '') || '|' || coalesce(subject, '')) STORED,
    since       timestamptz NOT NULL,
    PRIMARY KEY (facility_id, rule, alert_key)
);
