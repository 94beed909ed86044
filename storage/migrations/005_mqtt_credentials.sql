-- Broker credentials (issue 7): who may connect, and so (through the generated ACL) publish what.
-- Only the mosquitto-format hash is kept; the secret is shown once, when it is made.
CREATE TABLE mqtt_credentials (
    username      text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('service', 'facility', 'device')),
    facility_id   text REFERENCES facilities(id) ON DELETE CASCADE,
    device_id     text,
    role          text,  -- services: ingest | alerts | simulator
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
