-- Messages about supervision beyond orders (issue #40 leftovers): a 责令停业整改 ordered or lifted, a 通报
-- issued, and a complaint's answer or a filing's review left past its deadline (督办 to the level above).
--
-- Such a message has neither an alert nor an order: its event names what it is about
-- (`notice:<what>:<id>`, supervision/notices.py), and it is queued once per subscription and event, however
-- often it is queued (a request retried, two alert workers sweeping at once).
CREATE UNIQUE INDEX notification_deliveries_notice ON notification_deliveries (subscription_id, event)
    WHERE alert_id IS NULL AND order_id IS NULL AND event LIKE 'notice:%';

-- A deadline that passed, told to the level above once: a complaint not answered, a filing not reviewed by its
-- due date. The alert service's 督办 sweep adds a row for each one it finds, on its clock, and messages only
-- the rows it added; a filing resubmitted has a new deadline, which may be told again. Only the alert
-- service writes here: the web (and so a facility's operator) can neither add, change nor delete a row, so
-- nobody can mark a deadline as told and keep the message from the level above.
CREATE TABLE overdue_notices (
    kind        text NOT NULL CHECK (kind IN ('complaint', 'filing')),
    subject_id  bigint NOT NULL,  -- the complaint's or the filing's id
    due_at      timestamptz NOT NULL,  -- the deadline that passed
    facility_id text NOT NULL REFERENCES facilities(id) ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('county', 'city')),  -- the level told
    told_at     timestamptz NOT NULL,
    PRIMARY KEY (kind, subject_id, due_at)
);
