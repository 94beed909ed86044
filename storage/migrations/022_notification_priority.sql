-- Notifications that nothing can delay (issue #38 D): 300 test messages queued in 0.9 s held a city's
-- critical fire alarm back 75.7 s behind WeCom's 20 messages a minute per robot, since the outbox sent
-- in queue order. Each delivery now has a priority (0 first: life-safety rules, then by severity, then
-- rectification orders, tests last; storage/notifications.py), and each send to a rate-limited robot
-- is logged so every alert worker keeps, together, to the robot's documented limit (alerts/notify.py).
ALTER TABLE notification_deliveries ADD COLUMN priority smallint NOT NULL DEFAULT 5;
CREATE INDEX ON notification_deliveries (priority, next_attempt_at) WHERE status = 'pending';
-- a user's test messages of the last hour, counted for the per-user limit
CREATE INDEX ON notification_deliveries (user_id, created_at) WHERE event = 'test';

-- One row per request made to a rate-limited receiver: the key is an md5 of channel and robot key (the
-- key itself is a secret and stays in notification_subscriptions); rows older than the window are pruned.
CREATE TABLE notification_sends (
    target_key text NOT NULL,
    sent_at    timestamptz NOT NULL
);
CREATE INDEX ON notification_sends (target_key, sent_at);
