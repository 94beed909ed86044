-- An alert's own time (issue #42 item 2): when what it is about happened, besides when CareWatch knew it
-- (opened_at). A panic pressed at 17:15 while the facility's uplink was down, replayed from the gateway's
-- spool at 18:15, is opened at 18:15 and occurred at 17:15. NULL: the same as opened_at (every alert
-- stored before this migration, and rows written without it): the columns are added without rewriting
-- the table, and readers take coalesce(occurred_at, opened_at).
-- delay_cause says why it came late, when the engine had evidence of why (contract/occurred.py):
-- the facility's gateway offline at the time, the device's or gateway's own late delivery, or
-- CareWatch's own deafness. Escalation and response times stay measured from opened_at.
-- The check is NOT VALID: every existing row is NULL, and validating would scan the whole alerts table
-- under the lock this ALTER holds, keeping the alert engine from writing meanwhile; new rows are checked.
ALTER TABLE alerts ADD COLUMN occurred_at timestamptz, ADD COLUMN delay_cause text;
ALTER TABLE alerts ADD CONSTRAINT alerts_delay_cause_check
    CHECK (delay_cause IN ('uplink', 'device', 'platform')) NOT VALID;
