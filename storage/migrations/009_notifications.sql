-- Alerts that reach people (issue #17): each user's subscriptions to WeCom and DingTalk group robots
-- and e-mail, and an outbox of deliveries.
--
-- A subscription names only the robot's key / access token (and DingTalk's signing secret) or an
-- address, never a URL: the alert service posts to the services' own hosts (configurable for a
-- private deployment), so a user cannot aim the server at an arbitrary address.
-- facilities NULL = every facility in the user's scope; quiet hours are the facility's local time
-- and never hold back a critical or life-safety alert (contract.rules.LIFE_SAFETY_RULES).
CREATE TABLE notification_subscriptions (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel       text NOT NULL CHECK (channel IN ('wecom', 'dingtalk', 'email')),
    target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 254),
    secret        text CHECK (secret IS NULL OR length(secret) <= 200),
    facilities    text[],
    min_severity  text NOT NULL DEFAULT 'major' CHECK (min_severity IN ('critical', 'major', 'minor', 'warning')),
    quiet_start   time,
    quiet_end     time,
    lang          text NOT NULL DEFAULT 'zh' CHECK (lang IN ('zh', 'en')),
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX ON notification_subscriptions (user_id);

-- The outbox: a row per message to send, written with the alert change that causes it, sent and
-- retried by the alert service (several workers claim rows with SKIP LOCKED). A receiver that is down
-- delays only its own rows; after max attempts a row is 'failed', with the last error, for admins.
CREATE TABLE notification_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id bigint REFERENCES notification_subscriptions(id) ON DELETE SET NULL,
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    channel         text NOT NULL,
    alert_id        bigint REFERENCES alerts(id) ON DELETE SET NULL,
    facility_id     text,
    event           text NOT NULL,          -- opened | reopened | escalated:<level> | test
    title           text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- one message per subscription and alert change, however often the change is seen (a restart)
CREATE UNIQUE INDEX ON notification_deliveries (subscription_id, alert_id, event) WHERE alert_id IS NOT NULL;
CREATE INDEX ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ON notification_deliveries (created_at DESC);
