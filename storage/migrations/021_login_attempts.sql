-- Login attempts (issue #38 A-C): the throttle's counts, shared by every web process. An attempt is
-- reserved here before its password is hashed (pending), and ends failed or ok. Failures count per name
-- and address pair, per address and per name; an address a name has logged in from (ok, within 30
-- days) is known to it. Unlogged: the counts of a quarter of an hour are not worth a WAL flush on every
-- login, and a crash that loses them only forgives some failures.
CREATE UNLOGGED TABLE login_attempts (
    id       bigserial PRIMARY KEY,
    username text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    outcome  text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'failed', 'ok'))
);
CREATE INDEX ON login_attempts (username, at);
CREATE INDEX ON login_attempts (address, at);
CREATE INDEX ON login_attempts (at);
